"""Batch runs (a list of prompts or multi-turn scripts sent to every column) and setting sweeps.

`run_batch` drives a ChatManager headless and returns a DataFrame; `BatchRun` runs it in a thread for the
widget (progress, stop, result). `sweep` makes column specs for one checkpoint differing in one setting.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import Any, Callable, Mapping, Sequence

import pandas as pd

from ..bots.base import ChatBOT
from ..manager import BusyError, ChatManager

BATCH_COLUMNS = ["script", "prompt", "turn", "column", "model", "settings", "reply", "new_tokens", "prompt_tokens",
                 "time_to_first_token", "tokens_per_second", "total_time", "finish_reason", "status", "error"]


def _scripts(prompts: Any) -> list[list[str]]:
    if isinstance(prompts, str) or not isinstance(prompts, Sequence):
        raise ValueError("prompts must be a list: each item a prompt (str) or a multi-turn script (list of str)")
    scripts = []
    for i, item in enumerate(prompts):
        script = [item] if isinstance(item, str) else item
        if not isinstance(script, (list, tuple)) or not script:
            raise ValueError(f"prompts[{i}] must be a prompt (str) or a non-empty list of prompts, got {item!r}")
        for j, p in enumerate(script):
            if not isinstance(p, str) or not p.strip():
                where = f"prompts[{i}]" if isinstance(item, str) else f"prompts[{i}][{j}]"
                raise ValueError(f"{where} is empty or not a string: {p!r}")
        scripts.append(list(script))
    return scripts


def run_batch(
    manager: ChatManager,
    prompts: Sequence[str | Sequence[str]],
    *,
    fresh_history: bool = True,
    stop_event: threading.Event | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    timeout: float | None = None,
) -> pd.DataFrame:
    """Send each prompt, or each multi-turn script (a list of prompts sent one after another in one
    conversation), to every column that can answer, and collect the replies.

    fresh_history: each prompt/script starts from empty histories, and the columns' histories from before the
        run are put back afterwards (also when it is stopped or fails), so the user's conversation is kept.
        With False, everything is sent on top of the current conversation and stays in it.
    stop_event: set it to stop: the replies in progress are cut (status "cancelled") and the rest is skipped.
        Pressing Stop in the widget (`manager.stop()`) has the same effect.
    on_progress: called with (done, total) turns: (0, total) first, then after each turn.
    timeout: seconds a turn may take; columns still answering then are stopped (status "timeout") and the
        batch goes on.

    Returns one row per reply: script (index), prompt, turn (within its script), column, model, settings,
    reply, new_tokens, prompt_tokens, time_to_first_token, tokens_per_second, total_time, finish_reason,
    status ("done", "cancelled", "timeout" or "error") and error. `df.attrs` has done, total and stopped.
    Raises BusyError when columns are answering already, ValueError for bad prompts.
    """
    scripts = _scripts(prompts)
    total = sum(len(s) for s in scripts)
    stop_event = stop_event or threading.Event()
    manager.refuse_if_busy("start a batch run")
    saved = manager.histories() if fresh_history else None
    rows: list[dict[str, Any]] = []
    done, stopped = 0, False
    try:
        if on_progress:
            on_progress(0, total)
        for s_index, script in enumerate(scripts):
            if stopped or stop_event.is_set():
                stopped = True
                break
            if fresh_history:
                manager.set_histories({}, default=[])
            for t_index, prompt in enumerate(script):
                if stop_event.is_set():
                    stopped = True
                    break
                targets = manager.send(prompt)
                timed_out = _wait_turn(manager, stop_event, timeout)
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
                    rows.append({"script": s_index, "prompt": prompt, "turn": t_index, "column": column.name,
                                 "model": column.model, "settings": manager.effective_settings(column),
                                 "reply": entry["content"], **{k: stats.get(k) for k in BATCH_COLUMNS[7:13]},
                                 "status": status, "error": stats.get("error")})
                    if status == "cancelled":
                        stopped = True  # stopped by stop_event, or by the user's Stop
                done += 1
                if on_progress:
                    on_progress(done, total)
                if stopped:
                    break
    finally:
        if manager.busy:  # an exception mid-turn: do not leave replies running into restored histories
            manager.stop()
            manager.wait(30)
        if saved is not None:
            manager.set_histories(saved, default=[])
    df = pd.DataFrame(rows, columns=BATCH_COLUMNS)
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
    `votes` (a VoteBook) is suspended while the batch runs: no votes on batch replies, and the conversation on
    screen keeps its id (and arena order) when its histories come back. `options` go to `run_batch`.
    """

    def __init__(self, manager: ChatManager, prompts: Sequence[str | Sequence[str]], *,
                 on_update: Callable[[], None] | None = None, votes: Any = None, **options: Any):
        _scripts(prompts)  # refuse bad prompts now, on the caller's thread
        if manager.busy:
            raise BusyError("cannot start a batch run while columns are still answering: wait or press Stop")
        self.manager = manager
        self.votes = votes
        self.stop_event = threading.Event()
        self.on_update = on_update or (lambda: None)
        self.result: pd.DataFrame | None = None
        self.error: str | None = None
        self.progress: dict[str, Any] = {"running": True, "done": 0, "total": 0, "stopped": False, "error": None}
        self.thread = threading.Thread(target=self._run, args=(list(prompts), options), daemon=True,
                                       name="chatzoo-batch")
        self.thread.start()

    def _progress(self, done: int, total: int) -> None:
        self.progress = {**self.progress, "done": done, "total": total}
        self.on_update()

    def _run(self, prompts: list, options: dict[str, Any]) -> None:
        try:
            with self.votes.suspended() if self.votes is not None else contextlib.nullcontext():
                self.result = run_batch(self.manager, prompts, stop_event=self.stop_event,
                                        on_progress=self._progress, **options)
            self.progress = {**self.progress, "running": False, "stopped": self.result.attrs["stopped"]}
        except Exception as exc:
            self.error = str(exc) or type(exc).__name__
            self.progress = {**self.progress, "running": False, "error": self.error}
        self.on_update()

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
