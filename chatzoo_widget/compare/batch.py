"""Batch runs (rows of a dataset, or a list of prompts or multi-turn scripts, sent to every column, with checks on
the replies) and setting sweeps.

`run_batch` answers every prompt in every column at once, each (column, script, sample) its own conversation,
beside the user's (threads calling `bot.stream`, a bounded pool: a model's scheduler decodes them together),
optionally judges each turn's pairs, and returns a DataFrame; `BatchRun` runs it in a thread for the widget
(progress, stop, result). `sweep` makes column specs for one checkpoint differing in one setting.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from typing import Any, Callable, Mapping, Sequence

import pandas as pd

from ..bots.base import ChatBOT, ReplyStats
from ..bots.thinking import prompt_opens_block, split_thinking
from ..events import ColumnRemoved, Event
from ..manager import UNLOADED, BusyError, ChatManager, Column, format_error, model_query
from ..records import BATCH_COLUMNS, CHECK_COLUMNS, JUDGED_BATCH_COLUMNS, TABLE_STATS, ReplyRecord, Stats, fields

STATS_FIELDS = fields(Stats)
ROW_STATS = (*TABLE_STATS, "error")  # what a row keeps of a reply's statistics
from .batch_cache import RowCache, conversation_key, finished_rows
from .batch_checks import BatchPlan, Graders, check_reply, plan_batch, select_best, without_select_best
from .judge import MAX_IN_FLIGHT, PairJob, PairJudge, StopSet, check_template, judge_source, pair_tasks
from .one_at_a_time import group_label, take_turns

log = logging.getLogger(__name__)

PROGRESS_INTERVAL = 0.05  # seconds: a BatchRun's progress updates come at most this often (but the first and last)


def _check_options(*, samples: int = 1, fresh_history: bool = True, judge: Any = None,
                   judge_template: str | None = None, one_model_at_a_time: bool = False, resume: Any = None,
                   cache: Any = None, **_: Any) -> None:
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples must be a whole number >= 1, got {samples!r}")
    if not fresh_history and (samples > 1 or judge is not None):
        raise ValueError("samples and judge need fresh_history=True (each sample is its own conversation)")
    if not fresh_history and (one_model_at_a_time or resume is not None or cache is not None):
        raise ValueError("one_model_at_a_time, resume and cache need fresh_history=True (the conversation "
                         "itself cannot be resumed)")
    if not isinstance(one_model_at_a_time, bool):
        raise ValueError(f"one_model_at_a_time must be True or False, got {one_model_at_a_time!r}")
    check_template(judge_template)


def _open_cache(cache: Any, resume: Any) -> RowCache | None:
    """The run's cache file: `cache`, else the file being resumed (it goes on growing). A cache file that holds
    rows already is only appended to when resuming, never silently mixed with a new run."""
    if cache is None and isinstance(resume, (str, os.PathLike)):
        cache = resume
    if cache is None:
        return None
    if not isinstance(cache, (str, os.PathLike)):
        raise ValueError(f"cache must be a path to a .jsonl file, got {type(cache).__name__}")
    if resume is None and os.path.exists(cache) and os.path.getsize(cache) > 0:
        raise ValueError(f"the cache file {os.fspath(cache)!r} holds a run's rows already: pass resume="
                         f"{os.fspath(cache)!r} to go on with that run, or another cache path")
    return RowCache(cache)


def run_batch(
    manager: ChatManager,
    data: Any,
    *,
    checks: Any = None,
    template: str | Sequence[str] | None = None,
    limit: int | None = None,
    shuffle: bool | int | None = None,
    grader: Any = None,
    fresh_history: bool = True,
    stop_event: threading.Event | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    timeout: float | None = None,
    samples: int = 1,
    judge: Any = None,
    judge_template: str | None = None,
    on_judgment: Callable[[dict[str, Any]], None] | None = None,
    max_in_flight: int = MAX_IN_FLIGHT,
    on_row: Callable[[list[dict[str, Any]]], None] | None = None,
    one_model_at_a_time: bool = False,
    resume: Any = None,
    cache: str | os.PathLike | None = None,
    on_phase: Callable[[dict[str, Any] | None], None] | None = None,
) -> pd.DataFrame:
    """Send each prompt, or each multi-turn script (a list of prompts sent one after another in one
    conversation), to every column that can answer, and collect the replies.

    data: a list of prompts and scripts, a list of dicts, a DataFrame, a `datasets.Dataset`, a path to a .csv,
        .jsonl, .json or promptfoo .yaml file, or a promptfoo config dict (see compare/datasets.py). Each row
        keeps its id (`id` field, else its index): the `id` column.
    template: the prompt made from a row's fields, `"Q: {question}"` or `"Q: {{question}}"` (a list: a script).
    limit, shuffle: the first `limit` rows; `shuffle=True` or a seed: in a reproducible random order first.
    checks: promptfoo-style checks for every row (`[{"type": "icontains", "value": "{{answer}}"}, ...]`, a
        callable for a python check), with each row's own (`assert`). The rows' final replies gain `pass`,
        `score` (promptfoo's weighted mean) and `checks` (each check's type, pass, score, reason, metric,
        weight, error); a reply that did not finish is not checked (None).
    grader: the model for llm-rubric and select-best checks that name no `provider` (as for `judge`).

    fresh_history: each prompt/script is its own conversation, from an empty history, and the columns'
        conversations are left untouched. Every (column, script, sample) conversation runs at once (up to
        `max_in_flight` requests in flight), so a model that batches requests decodes them together.
        With False, the prompts are sent one by one on top of the current conversation, through the columns
        (shown in the widget), and stay in it.
    stop_event: set it to stop: the replies in progress are cut (status "cancelled") and the rest is skipped.
    on_progress: called with (done, total) turns (a turn is done when every column answered it): (0, total)
        first, then as turns finish.
    timeout: seconds one reply may take; a reply still going then is stopped (status "timeout") and the batch
        goes on.
    samples: answer each prompt k times per column, with the `seed` setting 0..k-1 (reproducible; columns
        whose model has no seed setting answer unseeded). Rows gain their `sample`.
    judge: a judge (as for `ChatZooWidget.judge`: a column name, alias, path, URL, ChatBOT or dict): every
        finished turn's pairs are judged in both orders (`judge_template` replaces MT-Bench's text). The rows
        gain `judge_verdicts` ({other column: "win", "loss", "tie" or None for a failed judgment}) and
        `judge_score` (wins + half the ties over the pairs judged); `df.attrs["judgments"]` holds the records,
        and `on_judgment(record)` is called for each.
    on_row: called with a row's final replies (one per column, checked) once every column answered it: the
        widget's results grid fills in from it.
    one_model_at_a_time: for models that do not fit in memory together. The columns loaded here (an alias or a
        path; columns of one checkpoint count as one model) take turns: one model is loaded, answers every row
        and is released (the pool frees its weights), then the next loads. Their columns show "waiting" until
        their turn and "released" after it (the next prompt loads the model again). Remote columns (a URL) and
        ChatBOT objects answer all along. `on_phase({"columns", "state": "loading"|"answering", "index", "of"})`
        says whose model runs (None at the end).
    cache: a .jsonl file that gets each (column, row, sample) conversation as soon as all its turns finished.
    resume: a previous run's DataFrame or cache file: its finished conversations are taken as they are (not
        asked again; judges and select-best checks are redone) and only the rest is asked; resuming from a file
        appends to it. The rows must come from the same data (a changed prompt is a ValueError).

    Returns one row per reply, sorted by script, sample, turn and column: script (index), prompt, turn (within
    its script), sample, column, model, settings, reply, new_tokens, prompt_tokens, time_to_first_token,
    tokens_per_second, total_time, finish_reason, status ("done", "cancelled", "timeout" or "error") and error.
    `df.attrs` has done, total and stopped. Raises BusyError when columns are answering already, ValueError for
    bad prompts, samples or template, RuntimeError when the judge cannot load.
    """
    plan = plan_batch(data, checks=checks, template=template, limit=limit, shuffle=shuffle)
    _check_options(samples=samples, fresh_history=fresh_history, judge=judge, judge_template=judge_template,
                   one_model_at_a_time=one_model_at_a_time, resume=resume, cache=cache)
    stop_event = stop_event or threading.Event()
    manager.refuse_if_busy("start a batch run")
    resumed = finished_rows(resume) if resume is not None else {}
    row_cache = _open_cache(cache, resume)
    turns = _Turns(one_model_at_a_time, resumed, row_cache, on_phase)
    turns.cache_resumed = not (cache is None or isinstance(resume, (str, os.PathLike))
                               and os.path.abspath(resume) == os.path.abspath(cache))
    graders = None
    try:
        graders = Graders(plan, grader, manager, timeout, stop_event) if plan.checked else None
        return _run(manager, plan, graders, fresh_history, stop_event, on_progress, timeout, samples, judge,
                    judge_template, on_judgment, max_in_flight, on_row, turns)
    finally:
        if graders is not None:
            graders.release()
        if row_cache is not None:
            row_cache.close()


class _Turns:
    """A run's options for taking turns and resuming: one model at a time, the rows resumed, the cache."""

    def __init__(self, one_at_a_time: bool = False, resumed: dict | None = None, cache: RowCache | None = None,
                 on_phase: Callable[[dict[str, Any] | None], None] | None = None):
        self.one_at_a_time, self.resumed, self.cache = one_at_a_time, resumed or {}, cache
        self.on_phase = on_phase or (lambda phase: None)
        self.cache_resumed = True  # write the resumed rows to the cache too (not when it is the resumed file)


def _run(manager, plan, graders, fresh_history, stop_event, on_progress, timeout, samples, judge, judge_template,
         on_judgment, max_in_flight, on_row=None, turns=None) -> pd.DataFrame:
    if not fresh_history:
        return _through_manager(manager, plan, graders, stop_event, on_progress, timeout, on_row)
    if judge is None:
        return _BatchRunner(manager, plan, graders, samples, stop_event, on_progress, timeout, None, on_judgment,
                            max_in_flight, on_row, turns=turns).run()
    source = judge_source(judge, manager)
    lease = source.acquire()  # the judge's bot is held for this run only: a model loaded for it goes after
    try:
        try:
            bot = lease.bot()
        except Exception as exc:
            raise RuntimeError(f"the judge {source.name} could not load: {format_error(exc)}") from None
        pair_judge = PairJudge(bot, source.name, template=judge_template, settings=source.settings, timeout=timeout)
        return _BatchRunner(manager, plan, graders, samples, stop_event, on_progress, timeout, pair_judge,
                            on_judgment, max_in_flight, on_row, turns=turns).run()
    finally:
        lease.release()


class _BatchRunner:
    """The concurrent batch: one task per (column, script, sample) conversation on a bounded thread pool, plus
    the judge's requests for each turn as soon as every column answered it."""

    def __init__(self, manager, plan: BatchPlan, graders, samples, stop_event, on_progress, timeout, judge,
                 on_judgment, max_in_flight, on_row=None, *, turns: _Turns | None = None):
        self.manager, self.plan, self.graders, self.samples = manager, plan, graders, samples
        self.turns = turns or _Turns()
        self.checked = plan.checked  # read once: the property scans every row's own checks
        self.scripts = scripts = plan.scripts
        self.stop_event, self.timeout, self.judge = stop_event, timeout, judge
        self.on_progress = on_progress or (lambda done, total: None)
        self.on_judgment = on_judgment or (lambda rec: None)
        self.on_row = on_row or (lambda rows: None)
        self.columns = [c for c in manager.columns.values() if c.status != "error"]
        if not self.columns:
            raise RuntimeError("no column can answer: add a model first" if not manager.columns
                               else "no column can answer: every model failed to load")
        self.total = sum(len(s) for s in scripts) * samples
        self.stops = StopSet()
        self.deadlines: dict[threading.Event, float] = {}
        self.timed_out: set[threading.Event] = set()
        self.rows: list[dict[str, Any]] = []
        self.judgments: list[dict[str, Any]] = []
        self.left = {(s, k, t): len(self.columns) for s, script in enumerate(scripts) for k in range(samples)
                     for t in range(len(script))}
        self.group_rows: dict[tuple, list[dict[str, Any]]] = {}
        self.final_rows: dict[tuple, list[dict[str, Any]]] = {}  # (script, sample) -> its last turn's rows
        self.skipped: set[tuple] = set()  # turns some column did not answer (stopped, removed): not counted
        self.done = 0
        self.stopped = False
        self.lock = threading.Lock()
        self.settings_of: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        self.outstanding = 0  # tasks submitted and not finished; `idle` is set when none are left
        self.count_lock = threading.Lock()  # for `outstanding` alone: the rows' lock is busy enough
        self.idle = threading.Event()
        self.idle.set()
        self.removed: set[str] = set()  # columns removed during the run (announced by the manager)
        self.asking: dict[threading.Event, str] = {}  # the stop event of each reply in flight -> its column id
        self.pool = ThreadPoolExecutor(max_workers=max(1, max_in_flight), thread_name_prefix="chatzoo-batch")
        self.side_pool: ThreadPoolExecutor | None = None  # remote columns beside a one-at-a-time run's models
        self.max_in_flight = max(1, max_in_flight)
        self.run_id = uuid.uuid4().hex[:8]

    def run(self) -> pd.DataFrame:
        unsubscribe = self.manager.events.subscribe(self._on_event)
        self.on_progress(0, self.total)
        groups: list[list[Column]] = []
        try:
            concurrent, groups = take_turns(self.columns) if self.turns.one_at_a_time else (self.columns, [])
            for group in groups[1:]:  # nothing of theirs stays in memory while the first model answers
                for column in group:
                    self.manager.unload(column.id, "waiting")
            for column in concurrent:  # released by an earlier one-at-a-time run: load again
                self.manager.load_column(column.id)
            todo = self._resume()
            if groups and concurrent:
                self.side_pool = ThreadPoolExecutor(max_workers=self.max_in_flight,
                                                    thread_name_prefix="chatzoo-batch-remote")
            self._submit_all(concurrent, todo, self.side_pool)
            for i, group in enumerate(groups):
                self._take_turn(group, i, len(groups), todo)
            self._watch()
        except BaseException:  # e.g. KeyboardInterrupt: leave no request running
            self.stopped = True
            self.stops.stop()
            raise
        finally:
            unsubscribe()
            self.pool.shutdown(wait=True, cancel_futures=True)
            if self.side_pool is not None:
                self.side_pool.shutdown(wait=True, cancel_futures=True)
            for column in (c for g in groups for c in g):  # a stopped run's models that never had their turn
                if column.status == "waiting" and column.id in self.manager.columns:
                    self.manager.unload(column.id, "released")
            if groups:
                self.turns.on_phase(None)
        return self._frame()

    def _submit_all(self, columns: list[Column], todo: set[tuple], pool=None) -> list[Future]:
        """Every conversation of `columns` still to ask, in prompt order, every column at once, taken one after
        another by up to `max_in_flight` tasks: a task (a Future, a queue hand-off and a thread wake-up) per
        conversation cost more than the rest of a reply's bookkeeping. Judge tasks queue behind them, as they did
        behind the conversations' own tasks. -> the tasks."""
        ids = {c.id for c in columns}
        jobs = [(column, order, s, k) for s in range(len(self.scripts)) for k in range(self.samples)
                for order, column in enumerate(self.columns) if column.id in ids and (column.id, s, k) in todo]
        work = iter(jobs)
        taking = threading.Lock()

        def drain() -> None:
            while True:
                with taking:
                    job = next(work, None)
                if job is None:
                    return
                try:
                    self._conversation(*job)
                except Exception:  # a bug in one conversation must not strand the ones after it
                    log.exception("a batch conversation failed")

        return [self._submit(drain, pool=pool) for _ in range(min(self.max_in_flight, len(jobs)))]

    def _take_turn(self, group: list[Column], index: int, of: int, todo: set[tuple]) -> None:
        """One model's turn in a one-at-a-time run: load it, answer its columns' rows, release it."""
        ids = {c.id for c in group}
        if any(cid in ids for cid, _, _ in todo) and not self._stopping():
            phase = {"columns": group_label(group), "index": index + 1, "of": of}
            self.turns.on_phase({**phase, "state": "loading"})
            loads = [self.manager.load_column(column.id) for column in group]
            self._watch(lambda t: not wait_futures(loads, t).not_done or self._stopping())
            if not self._stopping():
                self.turns.on_phase({**phase, "state": "answering"})
                tasks = self._submit_all(group, todo)
                self._watch(lambda t: not wait_futures(tasks, t).not_done)
        for column in group:
            failed = column.load.done() and column.load.exception() is not None and column.status == "error"
            if column.id in self.manager.columns and not failed:
                self.manager.unload(column.id, "released")

    def _stopping(self) -> bool:
        return self.stop_event.is_set() or self.stops.stopped.is_set()

    def _resume(self) -> set[tuple]:
        """Take the resumed run's finished conversations as they are; -> the (column id, script, sample)
        conversations still to ask."""
        if not self.turns.resumed:  # nothing to take: no key built per conversation
            return {(column.id, s, k) for s in range(len(self.plan.rows)) for k in range(self.samples)
                    for column in self.columns}
        todo = set()
        for s, row in enumerate(self.plan.rows):
            for k in range(self.samples):
                for order, column in enumerate(self.columns):
                    cached = self.turns.resumed.get(conversation_key(row.id, k, column.name))
                    if cached is None or len(cached) != len(row.turns):
                        todo.add((column.id, s, k))
                        continue
                    for t, (prompt, old) in enumerate(zip(row.turns, cached)):
                        if old["prompt"] != prompt:
                            raise ValueError(f"resume: row {row.id!r} turn {t} was asked {old['prompt']!r}, "
                                             f"now {prompt!r}: resume a run of the same data and template")
                    self._adopt(column, order, s, k, cached)
        return todo

    def _adopt(self, column: Column, order: int, s: int, k: int, cached: list[dict[str, Any]]) -> None:
        """A resumed conversation's rows, as if just answered (select-best and judges run on them again)."""
        columns = JUDGED_BATCH_COLUMNS if self.judge is not None else BATCH_COLUMNS
        before: list[dict[str, str]] = []
        for t, old in enumerate(cached):
            row = {key: old.get(key) for key in columns + (CHECK_COLUMNS if self.checked else [])
                   if key not in ("judge_verdicts", "judge_score")}
            row.update(script=s, sample=k, turn=t, column=column.name, _order=order, _cid=column.id)
            if self.checked:
                row.update(without_select_best(self.plan, s, row))
            stats = {key: row.get(key) for key in TABLE_STATS}
            settings = row.get("settings") or {}
            self._keep(row, column, s, k, t, row["prompt"], list(before), row["reply"], stats, settings,
                       settings.get("system_prompt", ""))
        if self.turns.cache is not None and self.turns.cache_resumed:
            self.turns.cache.add(cached)
            before += [{"role": "HUMAN", "content": row["prompt"]}, {"role": "BOT", "content": row["reply"]}]

    def _on_event(self, event: Event) -> None:
        """A column removed mid-run: its replies in flight stop now (rows "cancelled"), its next turns are skipped."""
        if isinstance(event, ColumnRemoved):
            self.removed.add(event.column_id)
            events = [ev for ev, cid in list(self.asking.items()) if cid == event.column_id]
            for ev in events:
                ev.set()

    def _submit(self, fn, *args, pool: ThreadPoolExecutor | None = None) -> Future:
        with self.count_lock:
            self.outstanding += 1
            self.idle.clear()
        try:
            future = (pool or self.pool).submit(fn, *args)
        except BaseException:
            self._task_done(None)
            raise
        future.add_done_callback(self._task_done)
        return future

    def _task_done(self, _: Future | None) -> None:
        with self.count_lock:
            self.outstanding -= 1
            if self.outstanding == 0:
                self.idle.set()

    def _watch(self, until: Callable[[float], bool] | None = None) -> None:
        """Wait for every task (or until `until(timeout)`, which waits up to `timeout` s, says so); pass a stop on
        to the requests in flight; stop the replies that are late.
        (It wakes every 20 ms, not at each finished task: waking per task costs the workers the GIL.)"""
        while not (until or self.idle.wait)(0.02):
            if self.stop_event.is_set() and not self.stops.stopped.is_set():
                self.stopped = True
                self.stops.stop()
            now = time.monotonic()
            with self.lock:
                late = [ev for ev, end in self.deadlines.items() if now >= end]
                for ev in late:
                    del self.deadlines[ev]
                    self.timed_out.add(ev)
            for ev in late:
                ev.set()

    def _conversation(self, column: Column, order: int, s: int, k: int) -> None:
        script = self.scripts[s]
        answered = 0
        kept: list[dict[str, Any]] | None = [] if self.turns.cache is not None else None
        try:
            try:
                bot = column.load.result()
            except Exception as exc:  # a model that failed to load: an error row for each of its turns
                for t, prompt in enumerate(script):
                    self._row(column, order, s, k, t, prompt, [], "",
                              ReplyStats(finish_reason="error", error=format_error(exc)).to_dict(), {}, "error")
                    answered = t + 1
                return
            history: list[dict[str, Any]] = []
            sent, shown_once = self._settings(bot, column)  # one set of settings per column and run
            if self.samples > 1 and "seed" in bot.settings_spec():
                sent = {**sent, "seed": k}
                shown_once = {**shown_once, "seed": k}
            system_prompt = sent.get("system_prompt", "")
            last = len(script) - 1
            # the record's fields, copied once (to_dict's asdict deep-copies every field, tokens included); all of
            # them only where a later turn or the judge reads them
            every_field = self.judge is not None
            for t, prompt in enumerate(script):
                if self.stops.stopped.is_set() or column.id in self.removed:
                    return
                history.append({"role": "HUMAN", "content": prompt, "turn": t})
                query = model_query(history) if t else [{"role": "HUMAN", "content": prompt}]
                text, stats, status = self._ask(bot, query, sent, column.id)
                text = _answer(text, stats, column.think_tags)
                st = {key: getattr(stats, key) for key in (STATS_FIELDS if every_field or t < last else ROW_STATS)}
                if t < last:  # a later turn reads the conversation so far
                    history.append({"role": "BOT", "content": text, "turn": t, "stats": st})
                self._row(column, order, s, k, t, prompt, query[:-1], text, st, dict(shown_once), status,
                          system_prompt=system_prompt, kept=kept)
                answered = t + 1
                if status == "cancelled":
                    self.stopped = self.stopped or column.id not in self.removed  # a removed column stops alone
                    return
            if kept is not None and all(r["status"] == "done" for r in kept):
                self.turns.cache.add(kept)  # the whole conversation finished: a resumed run takes it as it is
        finally:
            for t in range(answered, len(script)):  # turns left unanswered still close their group
                self._finish_group((s, k, t), answered=False)

    def _settings(self, bot: ChatBOT, column: Column) -> tuple[dict[str, Any], dict[str, Any]]:
        """(the settings sent, the settings shown in the rows) of a column: read at its first reply, so one run
        uses one set of settings per column (and building them per reply is not paid 1,000 times). Shared by
        the column's conversations: copy before changing them."""
        cached = self.settings_of.get(column.id)  # a dict read is atomic: no lock per reply
        if cached is None:
            cached = (self.manager.turn_settings(bot, column.settings), self.manager.effective_settings(column))
            with self.lock:
                self.settings_of[column.id] = cached
        return cached

    def _ask(self, bot: ChatBOT, query: list[dict[str, str]], settings: dict[str, Any], column_id: str):
        """One reply -> (text, stats, status); never raises."""
        ev = self.stops.new()
        # Single dict and set operations are atomic under the GIL: a lock here, taken twice per reply by every
        # worker, made them queue for it (the removal check comes after the registration, so none is missed).
        self.asking[ev] = column_id
        if column_id in self.removed:
            ev.set()
        if self.timeout is not None:
            with self.lock:
                self.deadlines[ev] = time.monotonic() + self.timeout
        stream = None
        try:
            stream = bot.stream(query, stop_event=ev, **settings)
            stream.consume()
            stats = stream.stats
        except Exception as exc:  # the error stays in this row; the others go on
            stats = stream.stats if stream is not None else ReplyStats()
            stats.finish_reason = "error"
            stats.error = stats.error or format_error(exc)
        finally:
            self.stops.done(ev)
            self.asking.pop(ev, None)
            timed_out = False
            if self.timeout is not None:
                with self.lock:
                    self.deadlines.pop(ev, None)
                    timed_out = ev in self.timed_out
                    self.timed_out.discard(ev)
        reason = stats.finish_reason
        if reason == "cancelled":
            status = "timeout" if timed_out else "cancelled"
        else:
            status = "error" if reason == "error" else "done"
        return (stream.text if stream is not None else ""), stats, status

    def _row(self, column: Column, order: int, s: int, k: int, t: int, prompt: str, before: list, text: str,
             st: dict[str, Any], settings: dict[str, Any], status: str, system_prompt: str = "",
             kept: list | None = None) -> None:
        row = {"script": s, "id": self.plan.rows[s].id, "prompt": prompt, "turn": t, "sample": k,
               "column": column.name, "model": column.model,
               "settings": settings, "reply": text, **{key: st.get(key) for key in TABLE_STATS},
               "status": status, "error": st.get("error"), "_order": order, "_cid": column.id}
        last = t == len(self.scripts[s]) - 1
        if self.checked:
            row.update(check_reply(self.plan, s, text, status=status, latency_ms=_latency_ms(st), prompt=prompt,
                                   column=column.name, graders=self.graders) if last
                       else {"pass": None, "score": None, "checks": []})
        if kept is not None:
            kept.append(dict(row))  # as it is now: select-best adds to it later, and is redone on resume
        self._keep(row, column, s, k, t, prompt, before, text, st, settings, system_prompt)

    def _keep(self, row: dict[str, Any], column: Column, s: int, k: int, t: int, prompt: str, before: list,
              text: str, st: dict[str, Any], settings: dict[str, Any], system_prompt: str) -> None:
        """Add a row to the run (and the judge's view of its reply); count its turn."""
        status, last = row["status"], t == len(self.scripts[s]) - 1
        # list.append and dict.setdefault are atomic under the GIL; _finish_group's lock orders them before
        # the group's last column reads them
        self.rows.append(row)
        if self.judge is not None:  # the judge's view of the reply, kept only when there is a judge
            self.group_rows.setdefault((s, k, t), []).append(ReplyRecord(
                id=column.id, name=column.name, model=column.model, settings=dict(settings),
                system_prompt=system_prompt, label=None, turn=t, prompt=prompt, history=before, reply=text,
                stats=st, status=status))
        if last:
            self.final_rows.setdefault((s, k), []).append(row)
        self._finish_group((s, k, t), answered=True)

    def _finish_group(self, key: tuple, answered: bool) -> None:
        """One column is through with turn `key`; when every column is, count it and judge its pairs."""
        with self.lock:
            self.left[key] -= 1
            if not answered:
                self.skipped.add(key)
            if self.left[key] != 0 or key in self.skipped:
                return
            self.done += 1
            done = self.done
            last = key[2] == len(self.scripts[key[0]]) - 1
            final = sorted(self.final_rows.get(key[:2], []), key=_by_order) if last else []
            records = [] if self.judge is None else sorted(
                self.group_rows.get(key, []), key=lambda r: [c.id for c in self.columns].index(r["id"]))
        if last:
            if self.checked and not self.stops.stopped.is_set():
                select_best(self.plan, key[0], final, self.graders)  # needs every column's reply to the row
            self.on_row(final)
        self.on_progress(done, self.total)
        if self.judge is None or self.stops.stopped.is_set():
            return
        s, k, t = key
        good = [r for r in records if r["status"] == "done" and r["reply"].strip()]
        for a, b in itertools.combinations(good, 2):
            job = PairJob(f"batch-{self.run_id}-{s}-{k}", t, a, b, a["prompt"], source="batch",
                          extra={"script": s, "sample": k})
            for task in pair_tasks(self.judge, job, self.stops, self._judged):
                self._submit(task)

    def _judged(self, record: dict[str, Any]) -> None:
        record["columns"] = [{key: v for key, v in c.items() if key != "status"} for c in record["columns"]]
        with self.lock:
            self.judgments.append(record)
        self.on_judgment(record)

    def _frame(self) -> pd.DataFrame:
        rows = sorted(self.rows, key=lambda r: (r["script"], r["sample"], r["turn"], r["_order"]))
        if self.judge is not None:
            verdicts: dict[tuple, dict[str, str | None]] = {}
            for j in self.judgments:
                for me, other in ((j["a"], j["b"]), (j["b"], j["a"])):
                    v = j["verdict"]
                    verdicts.setdefault((j["script"], j["sample"], j["turn"], me), {})[other] = (
                        None if v is None else "tie" if v == "tie" else "win" if v == me else "loss")
            for r in rows:
                mine = verdicts.get((r["script"], r["sample"], r["turn"], r["column"]), {})
                r["judge_verdicts"] = mine
                scored = [v for v in mine.values() if v is not None]
                r["judge_score"] = ((sum(v == "win" for v in scored) + 0.5 * sum(v == "tie" for v in scored))
                                    / len(scored)) if scored else None
        columns = JUDGED_BATCH_COLUMNS if self.judge is not None else BATCH_COLUMNS
        df = pd.DataFrame(rows, columns=columns + (CHECK_COLUMNS if self.checked else []))
        df.attrs.update(done=self.done, total=self.total, stopped=self.stopped or self.stop_event.is_set())
        if self.judge is not None:
            df.attrs["judgments"] = list(self.judgments)
        return df


def _by_order(row: dict[str, Any]) -> int:
    return row["_order"]


def _answer(text: str, stats: ReplyStats, tags: tuple[str, str] | None) -> str:
    """The answer alone, as in a column's history (the diff, votes, judges and pairs read it); a reply with no
    thinking tag in it, from a prompt that opened none, is its own answer (most replies: no splitter built)."""
    opened = prompt_opens_block(stats.rendered_prompt, tags)
    if tags is None or (not opened and tags[0] not in text and tags[1] not in text):
        return text
    return split_thinking(text, tags, opened=opened).answer


def _latency_ms(stats: Mapping[str, Any]) -> float | None:
    return None if stats.get("total_time") is None else stats["total_time"] * 1000.0


def _through_manager(manager: ChatManager, plan: BatchPlan, graders: Graders | None, stop_event: threading.Event,
                     on_progress: Callable[[int, int], None] | None, timeout: float | None,
                     on_row: Callable[[list[dict[str, Any]]], None] | None = None) -> pd.DataFrame:
    """fresh_history=False: the prompts go through the columns one by one, on top of their conversation."""
    scripts = plan.scripts
    checked = plan.checked
    total = sum(len(s) for s in scripts)
    rows: list[dict[str, Any]] = []
    done, stopped = 0, False
    try:
        if on_progress:
            on_progress(0, total)
        for s_index, script in enumerate(scripts):
            for t_index, prompt in enumerate(script):
                if stopped or stop_event.is_set():
                    stopped = True
                    break
                targets = manager.send(prompt)
                timed_out = _wait_turn(manager, stop_event, timeout)
                first = len(rows)  # this turn's rows start here
                for column in targets:
                    if column.removed or not column.history or column.history[-1]["role"] != "BOT":
                        continue
                    entry = column.history[-1]
                    stats = entry.get("stats") or {}
                    reason = stats.get("finish_reason")
                    if reason == "cancelled":
                        status = "timeout" if column.id in timed_out else "cancelled"
                    else:
                        status = "error" if reason == "error" else "done"
                    row = {"script": s_index, "id": plan.rows[s_index].id, "prompt": prompt, "turn": t_index,
                           "sample": 0, "column": column.name, "model": column.model,
                           "settings": manager.effective_settings(column), "reply": entry["content"],
                           **{k: stats.get(k) for k in TABLE_STATS}, "status": status, "error": stats.get("error")}
                    if checked:
                        last = t_index == len(script) - 1
                        row.update(check_reply(plan, s_index, entry["content"], status=status,
                                               latency_ms=_latency_ms(stats), prompt=prompt, column=column.name,
                                               graders=graders) if last
                                   else {"pass": None, "score": None, "checks": []})
                    rows.append(row)
                    if status == "cancelled":
                        stopped = True  # stopped by stop_event, or by the user's Stop
                if on_row and t_index == len(script) - 1:
                    on_row(rows[first:])
                done += 1
                if on_progress:
                    on_progress(done, total)
    finally:
        if manager.busy:  # an exception mid-turn: do not leave replies running
            manager.stop()
            manager.wait(30)
    df = pd.DataFrame(rows, columns=BATCH_COLUMNS + (CHECK_COLUMNS if plan.checked else []))
    df.attrs.update(done=done, total=total, stopped=stopped)
    return df


def _wait_turn(manager: ChatManager, stop_event: threading.Event, timeout: float | None) -> set[str]:
    """Wait for the turn; stop everything on stop_event, and the late columns after `timeout`. -> ids timed out."""
    end = None if timeout is None else time.monotonic() + timeout
    timed_out: set[str] = set()
    while not manager.wait(0.02):
        if stop_event.is_set():
            manager.stop()
            manager.wait()
            break
        if end is not None and time.monotonic() >= end and not timed_out:
            timed_out = {cid for cid, c in manager.columns.items() if c.turn is not None}
            manager.stop()
    return timed_out


class BatchRun:
    """`run_batch` in a background thread, for the widget: read `progress`, call `stop()`, get `result`.

    `on_update()` is called (from the worker thread) whenever `progress` changes, so the widget can sync it.
    With `fresh_history=False` the prompts land in the conversation, so `votes` (a VoteBook) is suspended while
    the batch runs: no votes on batch replies. `options` go to `run_batch`; with a judge, `progress` also
    counts the pairs judged ("judged").
    """

    def __init__(self, manager: ChatManager, data: Any, *,
                 on_update: Callable[[], None] | None = None, votes: Any = None, **options: Any):
        # refuse bad data, checks and options now, on the caller's thread; the rows are read once
        plan = plan_batch(data, **{k: options.pop(k) for k in ("checks", "template", "limit", "shuffle")
                                   if k in options})
        _check_options(**options)
        if manager.busy:
            raise BusyError("cannot start a batch run while columns are still answering: wait or press Stop")
        self.manager = manager
        self.votes = votes if not options.get("fresh_history", True) else None
        self.stop_event = threading.Event()
        self.on_update = on_update or (lambda: None)
        self.result: pd.DataFrame | None = None
        self.error: str | None = None
        self.progress: dict[str, Any] = {"running": True, "done": 0, "total": 0, "stopped": False, "error": None}
        if options.get("judge") is not None:
            self.progress["judged"] = 0
            user_hook = options.get("on_judgment") or (lambda rec: None)
            options["on_judgment"] = lambda rec: (user_hook(rec), self._judged())
        if options.get("one_model_at_a_time"):
            self.progress["phase"] = None  # which model runs: "loading smollm2-135m (1 of 3)"
            user_phase = options.get("on_phase") or (lambda phase: None)
            options["on_phase"] = lambda phase: (user_phase(phase), self._phase(phase))
        self._tick_lock = threading.Lock()
        self._last_tick = 0.0
        self._tick_timer: threading.Timer | None = None
        self.thread = threading.Thread(target=self._run, args=(plan, options), daemon=True,
                                       name="chatzoo-batch")
        self.thread.start()

    def _progress(self, done: int, total: int) -> None:
        """Rows finishing faster than PROGRESS_INTERVAL share one update (a widget syncs each to the browser); the
        first and the last always go at once, and a row after a burst goes when the interval is up."""
        self.progress = {**self.progress, "done": done, "total": total}
        with self._tick_lock:
            now = time.monotonic()
            due = done in (0, total) or now - self._last_tick >= PROGRESS_INTERVAL
            if due:
                self._last_tick = now
            elif self._tick_timer is None:
                self._tick_timer = threading.Timer(PROGRESS_INTERVAL, self._tick)
                self._tick_timer.daemon = True
                self._tick_timer.start()
        if due:
            self._updated()

    def _tick(self) -> None:
        with self._tick_lock:
            self._tick_timer, self._last_tick = None, time.monotonic()
        self._updated()

    def _phase(self, phase: dict[str, Any] | None) -> None:
        text = None if phase is None else f"{phase['state']} {phase['columns']} ({phase['index']} of {phase['of']})"
        self.progress = {**self.progress, "phase": text}
        self._updated()

    def _judged(self) -> None:
        self.progress = {**self.progress, "judged": self.progress.get("judged", 0) + 1}
        self._updated()

    def _updated(self) -> None:
        try:
            self.on_update()
        except Exception:  # the listener's bug (a closed widget): never a traceback from the run's thread
            log.exception("a batch run's progress listener failed")

    def _run(self, plan: BatchPlan, options: dict[str, Any]) -> None:
        try:
            with self.votes.suspended() if self.votes is not None else contextlib.nullcontext():
                self.result = run_batch(self.manager, plan, stop_event=self.stop_event,
                                        on_progress=self._progress, **options)
            self.progress = {**self.progress, "running": False, "stopped": self.result.attrs["stopped"]}
        except Exception as exc:
            self.error = str(exc) or type(exc).__name__
            self.progress = {**self.progress, "running": False, "error": self.error}
        with self._tick_lock:
            if self._tick_timer is not None:  # the last update below carries everything
                self._tick_timer.cancel()
                self._tick_timer = None
        self._updated()

    def stop(self) -> None:
        self.stop_event.set()

    def wait(self, timeout: float | None = None) -> pd.DataFrame | None:
        self.thread.join(timeout)
        return self.result

    @property
    def running(self) -> bool:
        return self.thread.is_alive()


def _format_value(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def sweep(model: str | ChatBOT | Mapping[str, Any], setting: str, values: Sequence[Any],
          name_format: str = "{model} {setting}={value}", **settings: Any) -> list[dict[str, Any]]:
    """Column specs for one checkpoint in N columns differing only in `setting`:

        sweep("smollm2-135m", "temperature", [0.2, 0.7, 1.2], top_p=0.9)
        -> [{"name": "smollm2-135m temperature=0.2", "model": "smollm2-135m",
             "settings": {"top_p": 0.9, "temperature": 0.2}}, ...]

    Pass the list to ChatZooWidget(...) or manager.add; the columns share one copy of the weights. `model` may be a
    name, a ChatBOT or a model dict (its "settings" are kept, its "name" is the {model} of the names).
    `name_format` may use {model}, {setting} and {value}. Raises ValueError for no values, repeated values
    (the names would clash) or `setting` also given in `settings`.
    """
    if not isinstance(setting, str) or not setting:
        raise ValueError(f"setting must be a setting name, got {setting!r}")
    values = list(values)
    if not values:
        raise ValueError(f"sweep of {setting!r} needs at least one value")
    if setting in settings:
        raise ValueError(f"{setting!r} is the swept setting: give its values in `values`, not as a keyword")
    if isinstance(model, Mapping):
        base = dict(model)
        label = base.pop("name", None) or str(base.get("model") or base.get("url") or "model")
        common = {**(base.pop("settings", None) or {}), **settings}
    else:
        base = {"model": model}
        label = model.name if isinstance(model, ChatBOT) else os.path.basename(str(model).rstrip("/")) or str(model)
        common = dict(settings)
    if setting in common:
        common.pop(setting)
    specs, names = [], set()
    for value in values:
        name = name_format.format(model=label, setting=setting, value=_format_value(value))
        if name in names:
            raise ValueError(f"two sweep columns would both be named {name!r}: give distinct values")
        names.add(name)
        specs.append({**base, "name": name, "settings": {**common, setting: value}})
    return specs
