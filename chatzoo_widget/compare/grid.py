"""The widget's results grid: a batch run's finished rows (prompts x columns) and the statistics above them.

`run_batch(on_row=...)` hands over each row's final replies once every column answered it. `ResultsGrid` turns
them into `records.GridRow`s and sends them to the browser once each, as `grid_rows` messages ({"kind":
"grid_rows", "run", "start", "rows"}), several rows to a message when they finish faster than `interval`; the
small `grid_state` it publishes ({run, columns, rows, running, checked, view}) lets a view that missed messages (a
page opened later) fetch the rows it lacks with the `grid_rows` command. The summary (`compare.stats.summary` of
the rows so far, as `Summary.to_record()`) is recomputed off the batch's threads every `summary_every` rows with
fewer resamples, and once more in full when the run ends. Everything leaves through the widget's outgoing filter,
so while an arena conversation is blind the columns are labels.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Any, Callable, Mapping, Sequence

import pandas as pd

from .stats import summary

log = logging.getLogger(__name__)

INTERVAL = 0.1  # seconds: rows finishing faster than this share a message
SUMMARY_EVERY = 25  # rows between two summaries while the run goes on
LIVE_ROUNDS = 500  # bootstrap resamples of those (the final summary uses summary()'s default)
_CELL_FIELDS = ("reply", "status", "error")


def grid_row(replies: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One row of the grid (`records.GridRow`) from a batch row's final replies, one per column."""
    first = replies[0]
    cells = {}
    for r in replies:
        checks = r.get("checks")
        cells[str(r["column"])] = {"reply": r.get("reply") or "", "status": r.get("status") or "done",
                                   "error": r.get("error"), "pass": r.get("pass"), "score": r.get("score"),
                                   "checks": list(checks) if isinstance(checks, list) else []}
    return {"key": f"{first['script']}:{first.get('sample', 0)}", "script": int(first["script"]),
            "sample": int(first.get("sample", 0)), "id": first.get("id", first["script"]),
            "prompt": first.get("prompt") or "", "cells": cells}


class ResultsGrid:
    """One batch run's grid: add rows from any thread; `send`, `publish_state` and `publish_summary` are the
    widget's ways out (a custom message, the `grid_state` trait, the `grid_summary` trait). `publish_state(grid)`
    reads `grid.state()` itself, under the widget's lock, so the last state published is the newest; the grid
    never holds its own lock while calling it.

    order: the column ids in display order (the arena's, while blind), so the grid's columns and the summary's
        pairs follow what the user sees and never the order models were added.
    columns: (name, id) of the columns the run will ask, so the grid has its header before the first row.
    """

    def __init__(self, *, send: Callable[[dict[str, Any]], None],
                 publish_state: Callable[["ResultsGrid"], None],
                 publish_summary: Callable[[dict[str, Any]], None],
                 order: Callable[[], list[str]] = list, columns: Sequence[tuple[str, str | None]] = (),
                 interval: float = INTERVAL, summary_every: int = SUMMARY_EVERY, seed: int | None = 0):
        self.run = uuid.uuid4().hex[:12]
        self.rows: list[dict[str, Any]] = []
        self.running = True
        self.checked = False
        self.view = 0  # bumped when the blind view changes: the views fetch every row again
        self._send, self._publish_state, self._publish_summary = send, publish_state, publish_summary
        self._order, self._interval, self._every, self._seed = order, interval, max(1, summary_every), seed
        # column name -> (position in the run, column id)
        self._names: dict[str, tuple[int, str | None]] = {name: (i, cid) for i, (name, cid) in enumerate(columns)}
        self._measures: list[dict[str, Any]] = []  # what the summary reads: column, id, sample, pass, score
        self._sent = 0
        self._last_flush = 0.0
        self._timer: threading.Timer | None = None
        self._lock = threading.RLock()
        self._summary = _Refresher(self._compute_summary, publish_summary)

    # ----- in: rows from the batch's threads --------------------------------------------------------------
    def add(self, replies: Sequence[Mapping[str, Any]]) -> None:
        """A row finished (its final replies, one per column). Never raises: the run must go on."""
        try:
            self._add(replies)
        except Exception:
            log.exception("the results grid could not take a row")

    def _add(self, replies: Sequence[Mapping[str, Any]]) -> None:
        if not replies:
            return
        row = grid_row(replies)
        with self._lock:
            for r in replies:
                self._names.setdefault(str(r["column"]), (int(r.get("_order", len(self._names))), r.get("_cid")))
                self.checked = self.checked or "pass" in r
                self._measures.append({"column": str(r["column"]), "id": str(row["id"]), "sample": row["sample"],
                                       "pass": r.get("pass"), "score": r.get("score")})
            self.rows.append(row)
            count = len(self.rows)
            due = time.monotonic() - self._last_flush >= self._interval
            if not due and self._timer is None:  # the rows after a burst go out when the interval is up
                self._timer = threading.Timer(self._interval, self._flush_quietly)
                self._timer.daemon = True
                self._timer.start()
        if due:
            self.flush()
        if self.checked and count % self._every == 0:
            self._summary.request()

    def finish(self) -> None:
        """The run ended (done, stopped or failed): the last rows go out, then the full summary."""
        with self._lock:
            self.running = False
        self.flush()
        if self.checked:
            self._summary.request(urgent=True)

    def new_view(self) -> None:
        """The blind view changed (revealed, or a new blind conversation): names and order change; every view
        fetches the rows again and the summary is made in the new order."""
        with self._lock:
            self.view += 1
        self._publish_state(self)
        if self.checked:
            self._summary.request(urgent=True)

    # ----- out ----------------------------------------------------------------------------------------------
    def flush(self) -> None:
        """Send the rows not sent yet, in one message, and the new count."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._last_flush = time.monotonic()
            start, rows = self._sent, self.rows[self._sent:]
            self._sent = len(self.rows)
            if rows:
                self._send({"kind": "grid_rows", "run": self.run, "view": self.view, "start": start, "rows": rows})
        self._publish_state(self)

    def _flush_quietly(self) -> None:
        try:
            self.flush()
        except Exception:  # a closed widget: never a traceback from the timer's thread
            log.exception("the results grid could not send its rows")

    def rows_from(self, start: int) -> dict[str, Any]:
        """The rows sent so far from `start` (the `grid_rows` command: a view that missed messages)."""
        if start < 0:
            raise ValueError(f"start must be >= 0, got {start}")
        with self._lock:
            end = self._sent
            return {"run": self.run, "view": self.view, "start": start, "rows": self.rows[start:end]}

    def columns(self) -> list[str]:
        """The run's column names, in display order."""
        with self._lock:
            names = dict(self._names)
        shown = {cid: i for i, cid in enumerate(self._order())}
        return sorted(names, key=lambda n: (shown.get(names[n][1], len(shown)), names[n][0]))

    def state(self) -> dict[str, Any]:
        """The `grid_state` trait: small, so it can change with every message."""
        with self._lock:
            return {"run": self.run, "view": self.view, "columns": self.columns(), "rows": self._sent,
                    "running": self.running, "checked": self.checked}

    def frame(self) -> pd.DataFrame:
        """The checked replies so far, columns in display order: what the summary reads."""
        with self._lock:
            measures = list(self._measures)
        order = {name: i for i, name in enumerate(self.columns())}
        measures.sort(key=lambda m: order.get(m["column"], len(order)))
        return pd.DataFrame(measures, columns=["column", "id", "sample", "pass", "score"])

    def _compute_summary(self) -> dict[str, Any]:
        with self._lock:
            running, rows = self.running, len(self.rows)
        options = {"rounds": LIVE_ROUNDS} if running else {}
        record = summary(self.frame(), seed=self._seed, **options).to_record()
        return {**record, "run": self.run, "rows": rows, "final": not running}

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until no summary is being made (tests and `w.summary`-like callers)."""
        return self._summary.wait(timeout)


class _Refresher:
    """Runs `compute` then `publish` in a thread of its own, one at a time: asked again meanwhile, it runs once
    more after (never a queue of stale summaries, never on the batch's threads). Between two runs it rests at
    least `gap` seconds and 4x the last run's time, so a long run's summaries take a fifth of a core at most;
    an `urgent` request (the run ended) cuts the rest short."""

    def __init__(self, compute: Callable[[], Any], publish: Callable[[Any], None], gap: float = 1.0):
        self._compute, self._publish, self._gap = compute, publish, gap
        self._lock = threading.Lock()
        self._busy = False
        self._again = False
        self._hurry = threading.Event()
        self._idle = threading.Event()
        self._idle.set()

    def request(self, urgent: bool = False) -> None:
        with self._lock:
            if urgent:
                self._hurry.set()
            if self._busy:
                self._again = True
                return
            self._busy = True
            self._idle.clear()
        threading.Thread(target=self._loop, daemon=True, name="chatzoo-grid-summary").start()

    def _loop(self) -> None:
        while True:
            started = time.monotonic()
            try:
                self._publish(self._compute())
            except Exception:
                log.exception("the results grid's summary failed")
            rest = max(self._gap, 4 * (time.monotonic() - started))
            with self._lock:
                if not self._again:
                    self._busy = False
                    self._hurry.clear()
                    self._idle.set()
                    return
            self._hurry.wait(rest)
            with self._lock:
                self._again = False
                self._hurry.clear()

    def wait(self, timeout: float | None = None) -> bool:
        return self._idle.wait(timeout)
