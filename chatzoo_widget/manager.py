"""The kernel-side manager: columns, their histories and settings, and the turns they answer.

It knows nothing about widgets. It reports through two callbacks: `on_event(msg)` for streaming events
(turn_start, delta, turn_end, turn_error; the widget forwards them as custom messages) and `on_change()` when the
columns' state changed (the widget re-syncs `snapshot()`). Models come from the kernel's model pool
(`engine.pool`), which shares one bot per checkpoint; decoding is the bot's business (a local model's scheduler
batches every column's request together). Every model load and every turn runs in a worker thread, never on the
caller's thread, so the notebook stays usable while models write.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from .bots.base import ChatBOT, ReplyStats
from .engine.pool import POOL, Lease, ModelPool

FLUSH_INTERVAL = 1 / 25  # seconds between delta messages of one column: at most 25 a second, under the 30 budget


class BusyError(RuntimeError):
    """A prompt was sent while columns are still answering the previous one."""


@dataclass(eq=False)  # compared and hashed by identity: the manager keeps a set of active turns
class Turn:
    """One column's reply in progress: the turn is handed what its model is asked, never reads the history."""

    index: int
    query: list[dict[str, str]]  # the history the model sees, ending with the prompt to answer
    settings: dict[str, Any]  # the column's settings when the prompt was sent
    stop_event: threading.Event = field(default_factory=threading.Event)
    pending: str = ""  # deltas not yet sent to the front end
    text: str = ""
    thread: threading.Thread | None = None
    done: threading.Event = field(default_factory=threading.Event)


@dataclass
class Column:
    id: str
    name: str
    model: str  # what the user named: alias, path, URL or bot name (never an API key)
    lease: Lease  # this column's hold on its bot in the model pool
    settings: dict[str, Any] = field(default_factory=dict)  # the user's overrides, validated once loaded
    history: list[dict[str, Any]] = field(default_factory=list)
    status: str = "loading"  # loading | ready | generating | error
    error: str | None = None
    turn: Turn | None = None
    removed: bool = False

    @property
    def load(self) -> Future:
        """Resolves to the column's ChatBOT (or its load error)."""
        return self.lease.future

    @property
    def bot(self) -> ChatBOT | None:
        if self.load.done() and not self.load.exception():
            return self.load.result()
        return None


def model_query(history: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The chat history a model sees: finished exchanges, without turns whose reply failed."""
    query: list[dict[str, str]] = []
    for entry in history:
        stats = entry.get("stats") or {}
        if entry["role"] == "BOT" and stats.get("finish_reason") == "error":
            if query and query[-1]["role"] == "HUMAN":
                query.pop()
            continue
        query.append({"role": entry["role"], "content": entry["content"]})
    return query


def load_quietly(loader: Callable[..., ChatBOT], name_or_path: str, /, **options: Any) -> ChatBOT:
    """Run a model load with progress bars off.

    Loads run in worker threads, and whatever a thread displays lands in the cell that happens to be running
    (or the widget's own cell), so transformers' and the hub's progress bars are silenced; the column shows
    the loading state instead.
    """
    try:
        from huggingface_hub.utils import disable_progress_bars
        from transformers.utils import logging as hf_logging

        disable_progress_bars()
        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover - both come with transformers
        pass
    return loader(name_or_path, **options)


def format_error(exc: BaseException) -> str:
    """The message a column shows: our own errors speak for themselves, others get their type in front."""
    if isinstance(exc, (ValueError, RuntimeError, OSError)) and str(exc):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class ChatManager:
    """Owns the bots, per-column histories and settings; broadcasts prompts and streams the replies."""

    def __init__(
        self,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        on_change: Callable[[], None] | None = None,
        loader: Callable[..., ChatBOT] | None = None,
        flush_interval: float = FLUSH_INTERVAL,
        pool: ModelPool | None = None,
    ):
        self.on_event = on_event or (lambda msg: None)
        self.on_change = on_change or (lambda: None)
        self._loader = loader
        self.flush_interval = flush_interval
        self.columns: dict[str, Column] = {}
        self.system_prompt = ""
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        self._pool = pool or POOL
        self._flusher: threading.Thread | None = None
        self._active: set[Turn] = set()  # turns whose thread has not finished reporting yet

    # ----- columns ------------------------------------------------------------------------------
    def add(self, model: Any, name: str | None = None, settings: Mapping[str, Any] | None = None) -> Column:
        """Add a column; its model loads in the background (status "loading" until then)."""
        model, name, settings, load_options = self._normalise(model, name, settings)
        with self._lock:
            column = Column(
                id=f"c{os.urandom(6).hex()}",  # opaque: a blind page must not learn the add order
                name=self._unique_name(name),
                model=model if isinstance(model, str) else model.name,
                lease=self._lease(model, load_options),
                settings=dict(settings),
            )
            self.columns[column.id] = column
        # The callback names the column by id, not the object: a column -> future -> callback -> column cycle
        # would keep a removed column's bot (and its weights, or its model process) alive until a GC pass.
        column.load.add_done_callback(lambda fut, cid=column.id: self._loaded(cid))
        self.on_change()
        return column

    def _normalise(self, model: Any, name: str | None, settings: Mapping[str, Any] | None):
        load_options: dict[str, Any] = {}
        if isinstance(model, Mapping):
            spec = dict(model)
            unknown = set(spec) - {"name", "model", "url", "settings", "type", "tokenizer_path", "api_key_env",
                                   "load_options"}
            if unknown:
                raise ValueError(f"unknown keys in model dict: {sorted(unknown)}; allowed: name, model, url, "
                                 "settings, type, tokenizer_path, api_key_env, load_options")
            name = name or spec.get("name")
            settings = {**(spec.get("settings") or {}), **(settings or {})}
            load_options = dict(spec.get("load_options") or {})
            for key in ("type", "tokenizer_path", "api_key_env"):
                if spec.get(key) is not None:
                    load_options[key] = spec[key]
            if spec.get("url"):
                if spec.get("model"):
                    load_options["model"] = spec["model"]
                model = spec["url"]
            elif "model" in spec:
                model = spec["model"]
            else:
                raise ValueError(f"model dict needs 'model' (alias, path or ChatBOT) or 'url', got {spec!r}")
        if not isinstance(model, (str, os.PathLike, ChatBOT)):
            raise ValueError(f"a model must be an alias, a path, a URL, a ChatBOT or a dict, got {model!r}")
        if isinstance(model, os.PathLike):
            model = os.fspath(model)
        if isinstance(model, str) and not model.strip():
            raise ValueError("a model name must not be empty")
        if name is None:
            name = model.name if isinstance(model, ChatBOT) else os.path.basename(model.rstrip("/")) or model
        return model, str(name), dict(settings or {}), load_options

    def _unique_name(self, name: str) -> str:
        taken = {c.name for c in self.columns.values()}
        candidate, n = name, 2
        while candidate in taken:
            candidate, n = f"{name} ({n})", n + 1
        return candidate

    def _lease(self, model: Any, load_options: dict[str, Any]) -> Lease:
        if isinstance(model, ChatBOT):
            return self._pool.adopt(model)
        if self._loader is not None:
            loader, key = self._loader, (id(self._loader), model, tuple(sorted(load_options.items())))
        else:
            from . import registry  # lazy: imports transformers only when a model is loaded

            loader, key = registry.load_bot, registry.bot_key(model, **load_options)
        return self._pool.acquire(key, lambda: load_quietly(loader, model, **load_options))

    def _loaded(self, column_id: str) -> None:
        with self._lock:
            column = self.columns.get(column_id)
            if column is None:  # removed while loading
                return
            exc = column.load.exception()
            if exc is not None:
                column.status, column.error = "error", format_error(exc)
            else:
                try:
                    column.settings = self._validate(column.load.result(), column.settings)
                    if column.status == "loading":
                        column.status = "ready"
                except ValueError as err:
                    column.status, column.error = "error", f"bad settings for {column.name}: {err}"
        self.on_change()

    def remove(self, column_id: str) -> None:
        """Remove a column; a reply in progress there stops, the other columns go on."""
        column = self.get(column_id)
        with self._lock:
            column.removed = True
            if column.turn:
                column.turn.stop_event.set()
            del self.columns[column.id]
        column.lease.release()  # the last holder's release frees the weights (a turn in flight ends cancelled)
        self.on_change()

    def get(self, key: str) -> Column:
        """A column by id or by name."""
        with self._lock:
            if key in self.columns:
                return self.columns[key]
            for column in self.columns.values():
                if column.name == key:
                    return column
        names = ", ".join(c.name for c in self.columns.values()) or "none"
        raise KeyError(f"no column named {key!r}; columns: {names}")

    # ----- settings -----------------------------------------------------------------------------
    @staticmethod
    def _validate(bot: ChatBOT, settings: Mapping[str, Any]) -> dict[str, Any]:
        return bot.settings_spec().validate(settings)

    def set_settings(self, column_id: str, timeout: float | None = 600, **settings: Any) -> dict[str, Any]:
        """Change a column's settings (waits for its model to load to check them). Raises ValueError when bad."""
        column = self.get(column_id)
        try:
            bot = column.load.result(timeout=timeout)
        except TimeoutError:
            raise RuntimeError(f"{column.name} is still loading: change its settings once it is ready") from None
        checked = self._validate(bot, settings)
        with self._lock:
            column.settings.update(checked)
        self.on_change()
        return self.effective_settings(column)

    def effective_settings(self, column: Column) -> dict[str, Any]:
        bot = column.bot
        return {**(bot.default_settings() if bot else {}), **column.settings}

    # ----- turns --------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return any(c.turn is not None for c in self.columns.values())

    def send(self, prompt: str) -> list[Column]:
        """Broadcast `prompt` to every column that can answer. Raises ValueError (empty) or BusyError."""
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError("the prompt is empty: type something to send")
        with self._lock:
            self._refuse_if_busy("send")
            targets = [c for c in self.columns.values() if c.status != "error"]
            if not targets:
                raise RuntimeError("no column can answer: add a model first" if not self.columns
                                   else "no column can answer: every model failed to load")
            for column in targets:
                index = sum(1 for e in column.history if e["role"] == "HUMAN")
                column.history.append({"role": "HUMAN", "content": prompt, "turn": index})
                self._start(column, index, model_query(column.history))
        self.on_change()
        return targets

    def regenerate(self) -> list[Column]:
        """Answer the last prompt again in every column whose last entry is a reply."""
        with self._lock:
            self._refuse_if_busy("regenerate")
            targets = [c for c in self.columns.values()
                       if c.status != "error" and c.history and c.history[-1]["role"] == "BOT"]
            if not targets:
                raise ValueError("nothing to regenerate: no column has a finished reply")
            for column in targets:
                column.history.pop()
                self._start(column, column.history[-1]["turn"], model_query(column.history))
        self.on_change()
        return targets

    def refuse_if_busy(self, what: str) -> None:
        """Raise BusyError naming the columns still answering (callers doing `what` need them idle)."""
        with self._lock:
            self._refuse_if_busy(what)

    def _refuse_if_busy(self, what: str) -> None:
        busy = [c.name for c in self.columns.values() if c.turn is not None]
        if busy:
            raise BusyError(f"cannot {what} while {', '.join(busy)} still answering: wait or press Stop")

    def _start(self, column: Column, index: int, query: list[dict[str, str]]) -> None:
        turn = Turn(index=index, query=query, settings=dict(column.settings))
        column.turn = turn
        self._active.add(turn)
        if column.status == "ready":
            column.status = "generating"
        turn.thread = threading.Thread(target=self._run_turn, args=(column, turn), daemon=True,
                                       name=f"chatzoo-{column.name}")
        turn.thread.start()
        self._ensure_flusher()

    def _run_turn(self, column: Column, turn: Turn) -> None:
        stats = ReplyStats(finish_reason="error")
        try:
            bot = column.load.result()
            settings = dict(turn.settings)
            with self._lock:
                if column.status in ("loading", "ready"):
                    column.status = "generating"
                if self.system_prompt and "system_prompt" in bot.settings_spec() and "system_prompt" not in settings:
                    settings["system_prompt"] = self.system_prompt
            self.on_event({"kind": "turn_start", "column": column.id, "turn": turn.index,
                           "prompt": turn.query[-1]["content"]})
            stream = bot.stream(turn.query, stop_event=turn.stop_event, **settings)
            stats = stream.stats
            for delta in stream:
                with self._lock:
                    turn.text += delta
                    turn.pending += delta
        except Exception as exc:  # the error stays in this column; the others go on
            stats.finish_reason, stats.error = "error", format_error(exc)
        self._finish(column, turn, stats)

    def _finish(self, column: Column, turn: Turn, stats: ReplyStats) -> None:
        stats_dict = stats.to_dict()
        with self._lock:
            self._flush_column(column)
            column.turn = None
            if column.status == "generating":
                column.status = "ready"
            if not column.removed:
                if stats.finish_reason == "error" and not column.bot:
                    column.status, column.error = "error", stats.error
                column.history.append({"role": "BOT", "content": turn.text, "turn": turn.index,
                                       "stats": stats_dict})
        if not column.removed:
            if stats.finish_reason == "error":
                self.on_event({"kind": "turn_error", "column": column.id, "turn": turn.index,
                               "message": stats.error or "generation failed"})
            self.on_event({"kind": "turn_end", "column": column.id, "turn": turn.index, "text": turn.text,
                           "stats": dict(stats_dict)})
            self.on_change()
        with self._lock:
            self._active.discard(turn)
        turn.done.set()

    # ----- batching deltas ----------------------------------------------------------------------
    def _ensure_flusher(self) -> None:
        if self._flusher is None or not self._flusher.is_alive():
            self._flusher = threading.Thread(target=self._flush_loop, daemon=True, name="chatzoo-flush")
            self._flusher.start()

    def _flush_loop(self) -> None:
        # One thread sends every column's pending text at a fixed pace, whatever the token rate.
        while True:
            time.sleep(self.flush_interval)
            with self._lock:
                active = [c for c in self.columns.values() if c.turn is not None]
                for column in active:
                    self._flush_column(column)
                if not active:
                    self._flusher = None
                    return

    def _flush_column(self, column: Column) -> None:
        turn = column.turn
        if turn and turn.pending and not column.removed:
            text, turn.pending = turn.pending, ""
            self.on_event({"kind": "delta", "column": column.id, "turn": turn.index, "text": text})

    # ----- control ------------------------------------------------------------------------------
    def stop(self, column_id: str | None = None) -> None:
        """Stop the reply in progress in one column, or in all (None). The partial reply stays in the history."""
        columns = [self.get(column_id)] if column_id else list(self.columns.values())
        for column in columns:
            if column.turn:
                column.turn.stop_event.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until no column is answering and every finished reply has been reported; False on timeout."""
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                turns = list(self._active)
            if not turns:
                return True
            left = None if end is None else end - time.monotonic()
            if left is not None and left <= 0:
                return False
            turns[0].done.wait(left)

    def histories(self) -> dict[str, list[dict[str, Any]]]:
        """Every column's history entries, by column id (new lists holding the same entries)."""
        with self._lock:
            return {cid: list(c.history) for cid, c in self.columns.items()}

    def set_histories(self, histories: Mapping[str, list[dict[str, Any]]], *, default: list | None = None) -> None:
        """Replace column histories by id (columns missing from `histories` get `default`, or keep theirs if None).

        Refuses (BusyError) while a column is answering: a reply must not land in a swapped history.
        """
        with self._lock:
            self._refuse_if_busy("replace the histories")
            for cid, column in self.columns.items():
                if cid in histories:
                    column.history[:] = histories[cid]
                elif default is not None:
                    column.history[:] = list(default)
        self.on_change()

    def clear(self) -> None:
        """Stop every reply and forget every column's history (settings and models stay)."""
        self.stop()
        self.wait(timeout=30)
        with self._lock:
            for column in self.columns.values():
                column.history.clear()
        self.on_change()

    def close(self) -> None:
        """Stop every reply and let go of every column's model (a load others share goes on for them)."""
        self.stop()
        with self._lock:
            columns = list(self.columns.values())
        for column in columns:
            column.lease.release()

    # ----- state --------------------------------------------------------------------------------
    def snapshot(self) -> list[dict[str, Any]]:
        """JSON-able state of every column, as the front end draws it."""
        with self._lock:
            return [self._column_state(c) for c in self.columns.values()]

    def _column_state(self, column: Column) -> dict[str, Any]:
        bot = column.bot
        describe = bot.describe() if bot else {}
        return {
            "id": column.id,
            "name": column.name,
            "model": column.model,
            "family": describe.get("family", ""),
            "status": column.status,
            "error": column.error,
            "progress": f"Loading {column.model}…" if column.status == "loading" else None,
            "settings": self.effective_settings(column),
            "spec": bot.settings_spec().to_json() if bot else [],
            "history": [dict(e) for e in column.history],
        }

    def replies(self) -> dict[str, str]:
        """The last reply of each column, by column name."""
        with self._lock:
            return {c.name: (c.history[-1]["content"] if c.history and c.history[-1]["role"] == "BOT" else "")
                    for c in self.columns.values()}
