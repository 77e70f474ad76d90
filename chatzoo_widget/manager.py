"""The kernel-side manager: columns, their histories and settings, and the turns they answer.

It knows nothing about widgets. It reports through two callbacks: `on_event(msg)` for streaming events
(turn_start, prefill, frame: the delta events of every column since the last frame, turn_end, turn_error;
the widget forwards them as custom messages) and `on_change()` when the columns' state changed (the widget
re-syncs `snapshot()`). Models come from the kernel's model pool
(`engine.pool`), which shares one bot per checkpoint; decoding is the bot's business (a local model's scheduler
batches every column's request together). Every model load and every turn runs in a worker thread, never on the
caller's thread, so the notebook stays usable while models write.

What happened is also announced on the manager's event bus (`events`, see `chatzoo_widget.events`): columns added
and removed, turns started, deltas, turns ended, conversations cleared, each with its conversation id and turn id.
Votes, the arena, judges, batch runs and the widget subscribe there instead of inferring from the state. A closed
manager calls back nobody: a load or a turn that ends after `close()` is dropped silently.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from . import branching
from . import history as conversation
from .bots.base import ChatBOT, Reasoning, ReplyStats
from .bots.thinking import (DEFAULT_TAGS, REASONING, ThinkingSplit, ThinkingSplitter, check_tags, prompt_opens_block,
                            split_thinking, with_thinking)
from .engine.pool import POOL, Lease, ModelPool
from .events import (ColumnAdded, ColumnRemoved, ConversationCleared, ConversationResumed, Delta, EventBus, TurnEnded,
                     TurnStarted, new_conversation_id, new_turn_id)
from .engine.progress import PrefillNews

# Seconds between frames: each frame carries the text every column wrote since the last one, so the browser gets
# at most 25 delta messages a second however many columns stream (Jupyter's IOPub allows 1,000 messages a second).
FLUSH_INTERVAL = 1 / 25
log = logging.getLogger(__name__)


class BusyError(RuntimeError):
    """A prompt was sent while columns are still answering the previous one."""


@dataclass(eq=False)  # compared and hashed by identity: the manager keeps a set of active turns
class Turn:
    """One column's reply in progress: the turn is handed what its model is asked, never reads the history."""

    index: int
    query: list[dict[str, str]]  # the history the model sees, ending with the prompt to answer
    settings: dict[str, Any]  # the column's settings when the prompt was sent
    id: str = field(default_factory=new_turn_id)  # shared by the columns answering one prompt (events' turn_id)
    stop_event: threading.Event = field(default_factory=threading.Event)
    pending: str = ""  # deltas not yet sent to the front end
    text: str = ""  # the answer so far (thinking apart)
    thread: threading.Thread | None = None
    done: threading.Event = field(default_factory=threading.Event)
    think_tags: tuple[str, str] | None = DEFAULT_TAGS
    raw: str = ""  # the reply text as the model wrote it, thinking block included
    remote_reasoning: str = ""  # thinking a server sent apart (reasoning_content)
    reasoning: str = ""  # the thinking so far
    pending_reasoning: str = ""
    splitter: ThinkingSplitter | None = None
    branch: branching.BranchPoint | None = None  # a branch from an alternative token: the reply starts with its prefix

    def add(self, delta: str, stats: ReplyStats) -> None:
        """Take one delta of the bot's stream: thinking and answer go their own ways."""
        if isinstance(delta, Reasoning):
            self.remote_reasoning += delta
            self._take([(REASONING, delta)])
            return
        self.raw += delta
        if self.splitter is None:  # the prompt is known by the first delta: it may have opened the block
            self.splitter = ThinkingSplitter(self.think_tags,
                                             opened=prompt_opens_block(stats.rendered_prompt, self.think_tags))
        self._take(self.splitter.feed(delta))

    def _take(self, parts: list[tuple[str, str]]) -> None:
        for kind, text in parts:
            if kind == REASONING:
                self.reasoning += text
                self.pending_reasoning += text
            else:
                self.text += text
                self.pending += text

    def end(self, stats: ReplyStats) -> ThinkingSplit:
        """The reply taken apart at its end (the whole text read again, which also catches a block the chat
        template opened unseen)."""
        if self.splitter is not None:
            self._take(self.splitter.finish())
        opened = prompt_opens_block(stats.rendered_prompt, self.think_tags)
        split = split_thinking(self.raw, self.think_tags, opened=opened)
        if self.remote_reasoning.strip():
            split.reasoning = "\n\n".join(x for x in (self.remote_reasoning.strip(), split.reasoning) if x)
        return split


@dataclass
class Column:
    id: str
    name: str
    model: str  # what the user named: alias, path, URL or bot name (never an API key)
    lease: Lease  # this column's hold on its bot in the model pool
    settings: dict[str, Any] = field(default_factory=dict)  # the user's overrides, validated once loaded
    history: list[dict[str, Any]] = field(default_factory=list)
    status: str = "loading"  # loading | ready | generating | error | waiting | released (see UNLOADED)
    error: str | None = None
    turn: Turn | None = None
    removed: bool = False
    think_tags: tuple[str, str] | None = DEFAULT_TAGS  # the thinking block's tags (None: no thinking parsing)
    keep_reasoning: bool = False  # send the thinking back to the model on the next turns (default: answers only)
    load_options: dict[str, Any] = field(default_factory=dict)  # as given (type, dtype, ...), for the manifest
    source: Any = None  # what add() loaded (name, path, URL or ChatBOT), to load it again after `unload`

    @property
    def load(self) -> Future:
        """Resolves to the column's ChatBOT (or its load error)."""
        return self.lease.future

    @property
    def bot(self) -> ChatBOT | None:
        if self.lease.released:  # a released bot may be closed already: nobody may ask it anything
            return None
        if self.load.done() and not self.load.exception():
            return self.load.result()
        return None


def model_query(history: list[dict[str, Any]], *, keep_reasoning: bool = False,
                think_tags: tuple[str, str] | None = DEFAULT_TAGS) -> list[dict[str, str]]:
    """The chat history a model sees: finished exchanges, without turns whose reply failed. Replies are their
    answers only, unless `keep_reasoning` (then the thinking goes back too, between `think_tags`)."""
    query: list[dict[str, str]] = []
    for entry in history:
        stats = entry.get("stats") or {}
        if entry["role"] == "BOT" and stats.get("finish_reason") == "error":
            if query and query[-1]["role"] == "HUMAN":
                query.pop()
            continue
        content = entry["content"]
        if keep_reasoning and entry["role"] == "BOT" and entry.get("reasoning"):
            content = with_thinking(content, entry["reasoning"], think_tags)
        query.append({"role": entry["role"], "content": content})
    return query


def column_query(column: "Column") -> list[dict[str, str]]:
    """What `column`'s model is asked now (its history, as that column's thinking options say)."""
    return model_query(column.history, keep_reasoning=column.keep_reasoning, think_tags=column.think_tags)


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


#: Statuses of a column whose model is not loaded now (a one-model-at-a-time batch run): the column stays, and its
#: next turn loads the model again. The note says so under the column's name.
UNLOADED = {"waiting": "waiting to load (one model at a time)",
            "released": "model released: it loads again for the next prompt"}


def _decode_note(step: Any) -> str | None:
    """The column's note on its decode step: while it compiles, or why compiling failed (engine/compiled.py)."""
    if not isinstance(step, str):
        return None
    if step.startswith("compiling"):
        return step
    failed = "eager: compiling failed ("
    if failed in step and (step.startswith(failed) or step.startswith("compiled; ")):
        # the error's type only (its text is in the log); "8 rows x 256 eager: ..." where other buckets compiled
        head = step.split(failed, 1)[0].removeprefix("compiled; ")
        return head + failed + step.split(failed, 1)[1].split(":", 1)[0].rstrip(")") + ")"
    return None


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
        self.events = EventBus()  # see chatzoo_widget.events: what happens here, announced with ids
        self.conversation_id = new_conversation_id()  # a new one after each clear()
        self.closed = False

    @property
    def pool(self) -> ModelPool:
        """The model pool this manager's columns (and its judges) lease their bots from."""
        return self._pool

    # ----- columns ------------------------------------------------------------------------------
    def add(self, model: Any, name: str | None = None, settings: Mapping[str, Any] | None = None, *,
            load: bool = True) -> Column:
        """Add a column; its model loads in the background (status "loading" until then). With `load=False` the
        column waits (status "waiting") and its model loads when first needed: the next prompt, a batch run (one
        model at a time with `one_model_at_a_time=True`) or `load_column` (a ChatBOT object is loaded already).

        A model dict may also hold `think_tags` (the thinking block's tag pair, default ("<think>", "</think>");
        None turns thinking blocks off) and `keep_reasoning` (True: the thinking goes back to the model on the
        next turns; default: the answers only)."""
        thinking = self._thinking_options(model)
        model, name, settings, load_options = self._normalise(model, name, settings)
        waits = not load and not isinstance(model, ChatBOT)
        with self._lock:
            unique = self._unique_name(name)
            column = Column(
                id=f"c{os.urandom(6).hex()}",  # opaque: a blind page must not learn the add order
                name=unique,
                model=model if isinstance(model, str) else model.name,
                lease=(self._pool.unloaded(f"{unique}'s model is not loaded yet (waiting)") if waits
                       else self._lease(model, load_options)),
                status="waiting" if waits else "loading",
                settings=dict(settings),
                load_options=dict(load_options),
                source=model,
                **thinking,
            )
            self.columns[column.id] = column
        self.events.emit(ColumnAdded(conversation_id=self.conversation_id, column_id=column.id, name=column.name))
        # The callback names the column by id, not the object: a column -> future -> callback -> column cycle
        # would keep a removed column's bot (and its weights, or its model process) alive until a GC pass.
        if not waits:
            column.load.add_done_callback(lambda fut, cid=column.id: self._loaded(cid, fut))
        self.on_change()
        return column

    def _normalise(self, model: Any, name: str | None, settings: Mapping[str, Any] | None):
        load_options: dict[str, Any] = {}
        if isinstance(model, Mapping):
            spec = dict(model)
            unknown = set(spec) - {"name", "model", "url", "settings", "type", "tokenizer_path", "api_key_env",
                                   "load_options", "think_tags", "keep_reasoning"}
            if unknown:
                raise ValueError(f"unknown keys in model dict: {sorted(unknown)}; allowed: name, model, url, "
                                 "settings, type, tokenizer_path, api_key_env, load_options, think_tags, "
                                 "keep_reasoning")
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

    @staticmethod
    def _thinking_options(model: Any) -> dict[str, Any]:
        """think_tags and keep_reasoning from a model dict, checked (ValueError names what is wrong)."""
        if not isinstance(model, Mapping):
            return {}
        out: dict[str, Any] = {}
        if "think_tags" in model:
            out["think_tags"] = check_tags(model["think_tags"])
        if "keep_reasoning" in model:
            if not isinstance(model["keep_reasoning"], bool):
                raise ValueError(f"keep_reasoning must be True or False, got {model['keep_reasoning']!r}")
            out["keep_reasoning"] = model["keep_reasoning"]
        return out

    def set_thinking(self, column_id: str, *, think_tags: Any = ..., keep_reasoning: bool | None = None) -> None:
        """Change a column's thinking options: `think_tags` (a tag pair, or None to turn thinking blocks off) and
        `keep_reasoning` (send the thinking back on the next turns). They apply from the next reply on."""
        column = self.get(column_id)
        options = self._thinking_options({**({} if think_tags is ... else {"think_tags": think_tags}),
                                          **({} if keep_reasoning is None else {"keep_reasoning": keep_reasoning})})
        with self._lock:
            for key, value in options.items():
                setattr(column, key, value)
        self.on_change()

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

    def _loaded(self, column_id: str, future: Future | None = None) -> None:
        with self._lock:
            column = self.columns.get(column_id)
            if column is None or self.closed:  # removed while loading, or closed: its bot is released
                return
            if future is not None and future is not column.load:  # a load it let go of (unload) ended late
                return
            exc = column.load.exception()
            if exc is not None:
                column.status, column.error = "error", format_error(exc)
            else:
                try:
                    column.settings = self._validate(column.load.result(), column.settings)
                    if column.status == "loading":
                        column.status = "ready"
                    listeners = getattr(column.load.result(), "decode_listeners", None)
                    if isinstance(listeners, list):  # "compiling (one-off)" and its end reach the column
                        listeners.append(lambda text: self.on_change())
                except ValueError as err:
                    column.status, column.error = "error", f"bad settings for {column.name}: {err}"
        self.on_change()

    def unload(self, column_id: str, status: str = "released") -> None:
        """Let go of a column's model (the pool frees the weights once nobody else holds them); the column stays,
        with its history and settings, as `status` ("waiting" to load, or "released") until `load_column` or
        its next turn loads the model again. ValueError for a column given as a ChatBOT object (its owner holds
        the weights) or another status; BusyError while the column answers."""
        if status not in UNLOADED:
            raise ValueError(f"an unloaded column's status is one of {sorted(UNLOADED)}, got {status!r}")
        column = self.get(column_id)
        with self._lock:
            if isinstance(column.source, ChatBOT):
                raise ValueError(f"{column.name} was given a ChatBOT object: its owner holds the weights, so it "
                                 "cannot be unloaded")
            if column.turn is not None:
                raise BusyError(f"cannot unload {column.name} while it is answering: wait or press Stop")
            lease = column.lease
            column.lease = self._pool.unloaded(f"{column.name}'s model is not loaded now ({status})")
            column.status, column.error = status, None
        lease.release()
        self.on_change()

    def load_column(self, column_id: str) -> Future:
        """Load an unloaded ("waiting" or "released") column's model again (status "loading", then "ready");
        -> the column's load, which resolves to its bot (a loaded column's, as it is)."""
        column = self.get(column_id)
        with self._lock:
            if column.status not in UNLOADED:
                return column.load
            column.lease = self._lease(column.source, column.load_options)
            column.status, column.error = "loading", None
            future = column.load
        future.add_done_callback(lambda fut, cid=column.id: self._loaded(cid, fut))
        self.on_change()
        return future

    def remove(self, column_id: str) -> None:
        """Remove a column; a reply in progress there stops, the other columns go on."""
        column = self.get(column_id)
        with self._lock:
            column.removed = True
            if column.turn:
                column.turn.stop_event.set()
            del self.columns[column.id]
        column.lease.release()  # the last holder's release frees the weights (a turn in flight ends cancelled)
        self.events.emit(ColumnRemoved(conversation_id=self.conversation_id, column_id=column.id, name=column.name))
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

    def turn_settings(self, bot: ChatBOT, settings: Mapping[str, Any]) -> dict[str, Any]:
        """The settings a turn sends its bot: the column's `settings`, plus the manager's system prompt when the
        model takes one and the column sets none. Batch runs and judges use it too, so they ask what a turn asks."""
        out = dict(settings)
        if self.system_prompt and "system_prompt" in bot.settings_spec() and "system_prompt" not in out:
            out["system_prompt"] = self.system_prompt
        return out

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
            turn_id = new_turn_id()
            for column in targets:
                index = conversation.next_turn(column.history)
                column.history.append({"role": "HUMAN", "content": prompt, "turn": index})
                self._start(column, index, column_query(column), turn_id)
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
            turn_id = new_turn_id()
            for column in targets:
                column.history.pop()
                self._start(column, column.history[-1]["turn"], column_query(column), turn_id)
        self.on_change()
        return targets

    def continue_with(self, column_id: str) -> list[Column]:
        """Make `column_id`'s last reply the last reply of every column that answered the same prompt, so the
        next prompt continues one shared conversation. Each replaced reply stays in the new entry's
        `alternatives`. Raises BusyError while columns answer, ValueError when that column has no finished reply.
        Choosing another column later switches to its own reply."""
        with self._lock:
            self._refuse_if_busy("continue with a reply")
            winner = self.get(column_id)
            last = winner.history[-1] if winner.history else None
            if last is None or last["role"] != "BOT":
                raise ValueError(f"{winner.name} has no finished reply to continue with: send a prompt and wait "
                                 "for its reply")
            stats = last.get("stats") or {}
            if stats.get("finish_reason") == "error":
                raise ValueError(f"{winner.name}'s last reply failed ({stats.get('error') or 'error'}): continue "
                                 "with a column whose reply finished")
            own = conversation.original_reply(last)
            targets = [c for c in self.columns.values()
                       if c.history and c.history[-1]["role"] == "BOT" and c.history[-1]["turn"] == last["turn"]]
            for column in targets:
                column.history[-1] = conversation.continued_entry(column.history[-1], own, winner.name)
        self.on_change()
        return targets

    def edit_last(self, prompt: str) -> list[Column]:
        """Replace the last prompt by `prompt` in every column and answer it afresh, in place of the old turn
        (which is kept in the new prompt entry's `edited`). Raises ValueError (empty prompt, nothing sent yet)
        or BusyError (columns still answering); nothing changes then."""
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError("the edited prompt is empty: type the new prompt")
        with self._lock:
            self._refuse_if_busy("edit the last prompt")
            targets = [c for c in self.columns.values() if c.status != "error"]
            if not any(conversation.last_prompt_index(c.history) is not None for c in targets):
                raise ValueError("nothing to edit: no prompt has been sent yet")
            turn_id = new_turn_id()
            for column in targets:
                if conversation.last_prompt_index(column.history) is None:  # added since: it just gets the prompt
                    index = conversation.next_turn(column.history)
                    column.history.append({"role": "HUMAN", "content": prompt, "turn": index})
                else:
                    index = conversation.edit_last(column.history, prompt)
                self._start(column, index, column_query(column), turn_id)
        self.on_change()
        return targets

    def branch(self, column_id: str, token_index: int, token: int | str) -> Column:
        """Answer `column_id`'s last prompt again from its last reply's first `token_index` tokens followed by
        `token` (one of the alternatives at that position, by text or id); the old reply is kept in the new
        entry's `alternatives` (see `chatzoo_widget.branching`). ValueError or BusyError name what is wrong."""
        with self._lock:
            self._refuse_if_busy("branch a reply")
            column = self.get(column_id)
            bot = column.bot
            if bot is None:
                raise ValueError(f"{column.name} has no model to answer with ({column.status})")
            if not getattr(bot, "continues_prefix", False):
                raise ValueError(f"{column.name} cannot branch: its model cannot continue a reply from a given start")
            last = column.history[-1] if column.history else {}
            own_ids = not getattr(bot, "remote", False) and last.get("continued_with") in (None, column.name)
            point = branching.branch_point(column.history, token_index, token, column=column.name, own_ids=own_ids)
            column.history.pop()
            self._start(column, point.old["turn"], column_query(column), new_turn_id(), branch=point)
        self.on_change()
        return column

    def refuse_if_busy(self, what: str) -> None:
        """Raise BusyError naming the columns still answering (callers doing `what` need them idle)."""
        with self._lock:
            self._refuse_if_busy(what)

    def _refuse_if_busy(self, what: str) -> None:
        busy = [c.name for c in self.columns.values() if c.turn is not None]
        if busy:
            raise BusyError(f"cannot {what} while {', '.join(busy)} still answering: wait or press Stop")

    def _start(self, column: Column, index: int, query: list[dict[str, str]], turn_id: str,
               branch: branching.BranchPoint | None = None) -> None:
        turn = Turn(index=index, query=query, settings=dict(column.settings), id=turn_id,
                    think_tags=column.think_tags, branch=branch)
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
        news = PrefillNews(lambda fields: self._announce_prefill(column, turn, fields))
        try:
            if column.status in UNLOADED:  # released by a one-model-at-a-time batch: this turn loads it again
                self.load_column(column.id)
            bot = column.load.result()
            settings = self.turn_settings(bot, turn.settings)
            with self._lock:
                if column.status in ("loading", "ready"):
                    column.status = "generating"
            self.on_event({"kind": "turn_start", "column": column.id, "turn": turn.index,
                           "prompt": turn.query[-1]["content"]})
            self.events.emit(TurnStarted(**self._turn_ids(column, turn), prompt=turn.query[-1]["content"]))
            if turn.branch is not None:
                settings["prefix"] = turn.branch.prefix
            stream = bot.stream(turn.query, stop_event=turn.stop_event, on_prefill=news.report, **settings)
            stats = stream.stats
            if getattr(bot, "remote", False):  # a server counts nothing for us: the column says it waits
                news.waiting_for_server()
            for delta in stream:
                news.close()
                with self._lock:
                    seen = len(turn.reasoning), len(turn.text)
                    turn.add(delta, stats)
                    new = turn.reasoning[seen[0]:], turn.text[seen[1]:]
                self._announce_delta(column, turn, *new)
        except Exception as exc:  # the error stays in this column; the others go on
            stats.finish_reason, stats.error = "error", format_error(exc)
        news.close()
        self._finish(column, turn, stats)

    def _announce_prefill(self, column: Column, turn: Turn, fields: dict[str, Any]) -> None:
        """`prefill` event: the column's model is still reading the prompt (paced by PrefillNews; never after the
        reply's first delta, which is checked under the lock the deltas are sent under)."""
        with self._lock:
            if column.removed or column.turn is not turn or turn.raw or turn.remote_reasoning:
                return
            self.on_event({"kind": "prefill", "column": column.id, "turn": turn.index, **fields})

    def _turn_ids(self, column: Column, turn: Turn) -> dict[str, Any]:
        return {"conversation_id": self.conversation_id, "turn_id": turn.id, "column_id": column.id,
                "turn": turn.index}

    def _announce_delta(self, column: Column, turn: Turn, reasoning: str, text: str) -> None:
        """Delta events for what the model just wrote (thinking first), unless nobody listens or it was removed."""
        if not self.events.listening or column.removed:
            return
        ids = self._turn_ids(column, turn)
        self.events.emit(*([Delta(**ids, text=reasoning, part="reasoning")] if reasoning else []),
                         *([Delta(**ids, text=text)] if text else []))

    def _reply_entry(self, column: Column, turn: Turn, stats: ReplyStats) -> dict[str, Any]:
        """The history entry of a finished reply: the answer as `content`, the thinking as `reasoning`, the
        prompt the model received as `rendered_prompt` (with its `prompt_tokens`)."""
        with self._lock:
            split = turn.end(stats)
        if split.reasoning and not stats.reasoning_tokens:
            thought = turn.raw[:len(turn.raw) - len(split.answer)]
            bot = column.bot
            n = bot.count_tokens(thought) if bot is not None and thought else None
            if n is None:  # no tokenizer: share the tokens out by length
                n = round(stats.new_tokens * len(thought) / max(1, len(turn.raw)))
            stats.reasoning_tokens = min(int(n), stats.new_tokens)
        entry = {"role": "BOT", "content": split.answer, "turn": turn.index, "stats": stats.to_dict(),
                 "prompt_tokens": stats.prompt_tokens, "rendered_prompt": stats.rendered_prompt}
        if split.reasoning or split.unfinished:
            entry["reasoning"] = split.reasoning
            if split.unfinished:
                entry["reasoning_unfinished"] = True
        if stats.tokens is not None:  # logprobs on (records.TokenLogprob)
            entry["tokens"] = list(stats.tokens)
        if stats.logprobs_unavailable:
            entry["logprobs_unavailable"] = stats.logprobs_unavailable
        if turn.branch is not None:  # the old reply stays as an alternative
            entry = branching.branched_entry(entry, turn.branch)
        return entry

    def _finish(self, column: Column, turn: Turn, stats: ReplyStats) -> None:
        entry = self._reply_entry(column, turn, stats)
        stats_dict = entry["stats"]
        with self._lock:
            self._flush_column(column)
            column.turn = None
            if column.status == "generating":
                column.status = "ready"
            if not column.removed:
                if stats.finish_reason == "error" and not column.bot:
                    column.status, column.error = "error", stats.error
                column.history.append(entry)
        try:
            if not column.removed:
                if stats.finish_reason == "error":
                    self.on_event({"kind": "turn_error", "column": column.id, "turn": turn.index,
                                   "message": stats.error or "generation failed"})
                end = {"kind": "turn_end", "column": column.id, "turn": turn.index, "text": entry["content"],
                       "stats": dict(stats_dict)}
                if "reasoning" in entry:
                    end.update(reasoning=entry["reasoning"],
                               reasoning_unfinished=bool(entry.get("reasoning_unfinished")))
                self.on_event(end)
                self.events.emit(TurnEnded(**self._turn_ids(column, turn), entry=dict(entry),
                                           error=stats.error if stats.finish_reason == "error" else None))
                self.on_change()
        except Exception:  # a callback's bug: never a traceback from this thread, and the turn still ends
            log.exception("reporting the end of %s's turn failed", column.name)
        finally:
            with self._lock:
                self._active.discard(turn)
            turn.done.set()

    # ----- batching deltas ----------------------------------------------------------------------
    def _ensure_flusher(self) -> None:
        if self._flusher is None or not self._flusher.is_alive():
            self._flusher = threading.Thread(target=self._flush_loop, daemon=True, name="chatzoo-flush")
            self._flusher.start()

    def _flush_loop(self) -> None:
        # One thread sends every column's pending text at a fixed pace, whatever the token rate: one frame a tick.
        while True:
            time.sleep(self.flush_interval)
            with self._lock:
                active = [c for c in self.columns.values() if c.turn is not None]
                self._emit_frame([d for column in active for d in self._take_deltas(column)])
                if not active:
                    self._flusher = None
                    return

    def _flush_column(self, column: Column) -> None:
        """Send one column's pending text now (its turn is ending: the text goes before turn_end)."""
        self._emit_frame(self._take_deltas(column))

    def _emit_frame(self, deltas: list[dict[str, Any]]) -> None:
        if deltas:
            self.on_event({"kind": "frame", "deltas": deltas})

    @staticmethod
    def _take_deltas(column: Column) -> list[dict[str, Any]]:
        """The column's text not sent yet, as delta events (thinking first), and clear it."""
        turn, out = column.turn, []
        if turn is None or column.removed:
            return out
        if turn.pending_reasoning:  # thinking comes before the answer
            text, turn.pending_reasoning = turn.pending_reasoning, ""
            out.append({"kind": "delta", "column": column.id, "turn": turn.index, "text": text, "part": "reasoning"})
        if turn.pending:
            text, turn.pending = turn.pending, ""
            out.append({"kind": "delta", "column": column.id, "turn": turn.index, "text": text})
        return out

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
            previous, self.conversation_id = self.conversation_id, new_conversation_id()
        self.events.emit(ConversationCleared(conversation_id=self.conversation_id, previous_id=previous))
        self.on_change()

    def resume_conversation(self, conversation_id: str) -> None:
        """Make `conversation_id` (a saved comparison's, restored with `set_histories`) the current conversation."""
        if not isinstance(conversation_id, str) or not conversation_id:
            raise ValueError(f"a conversation id is a non-empty string, got {conversation_id!r}")
        with self._lock:
            previous, self.conversation_id = self.conversation_id, conversation_id
        self.events.emit(ConversationResumed(conversation_id=conversation_id, previous_id=previous))
        self.on_change()

    def close(self) -> None:
        """Stop every reply and let go of every column's model (a load others share goes on for them).

        Nobody is called back afterwards: a load or a turn still running ends silently."""
        with self._lock:
            self.closed = True
            columns = list(self.columns.values())
        self.on_event = lambda msg: None
        self.on_change = lambda: None
        self.events.close()
        self.stop()
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
            "note": UNLOADED.get(column.status) or _decode_note(describe.get("decode_step")),
            "settings": self.effective_settings(column),
            "spec": bot.settings_spec().to_json() if bot else [],
            "history": [dict(e) for e in column.history],
        }

    def replies(self) -> dict[str, str]:
        """The last reply of each column, by column name."""
        with self._lock:
            return {c.name: (c.history[-1]["content"] if c.history and c.history[-1]["role"] == "BOT" else "")
                    for c in self.columns.values()}
