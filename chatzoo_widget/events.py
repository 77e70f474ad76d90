"""What a ChatManager announces, and the bus that carries it to whoever listens.

Votes, the arena, judges, batch runs and the widget subscribe to a manager's `EventBus` instead of inferring what
happened from its state. Every event names the conversation it belongs to (`conversation_id`); turn events also
name their turn (`turn_id`, shared by the columns answering one prompt) and their column (`column_id`).

Listeners run on the thread that caused the event (a turn's thread, the delta flusher, the caller of `clear`),
never while the manager's lock is held, one event at a time and in order. A listener that raises is logged and
skipped: the other listeners still get the event and the turn goes on. Deltas come as the model writes them, so a
listener must be quick, and must not wait for a turn to end (the turn's thread is the one calling it).
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

log = logging.getLogger(__name__)


def new_conversation_id() -> str:
    return "conv-" + uuid.uuid4().hex[:12]


def new_turn_id() -> str:
    return "turn-" + uuid.uuid4().hex[:12]


@dataclass(frozen=True, kw_only=True)
class Event:
    """Something the manager did, in the conversation `conversation_id`."""

    conversation_id: str


@dataclass(frozen=True, kw_only=True)
class ColumnAdded(Event):
    column_id: str
    name: str


@dataclass(frozen=True, kw_only=True)
class ColumnRemoved(Event):
    """A column left (a reply it was writing is stopped and never reported)."""

    column_id: str
    name: str


@dataclass(frozen=True, kw_only=True)
class TurnEvent(Event):
    turn_id: str  # one prompt sent (or regenerated, or edited): shared by every column answering it
    column_id: str
    turn: int  # the index of the prompt in the conversation


@dataclass(frozen=True, kw_only=True)
class TurnStarted(TurnEvent):
    prompt: str


@dataclass(frozen=True, kw_only=True)
class Delta(TurnEvent):
    """New text of a reply in progress, as the model wrote it (text a thinking tag may still claim is held back)."""

    text: str
    part: str = "answer"  # "answer" or "reasoning" (the thinking block)


@dataclass(frozen=True, kw_only=True)
class TurnEnded(TurnEvent):
    """A reply finished (stopped and failed replies too: see `error` and the entry's stats)."""

    entry: Mapping[str, Any] = field(default_factory=dict)  # the reply's history entry
    error: str | None = None


@dataclass(frozen=True, kw_only=True)
class ConversationChanged(Event):
    """A new conversation is current (`conversation_id`); `previous_id` was the one before."""

    previous_id: str


@dataclass(frozen=True, kw_only=True)
class ConversationCleared(ConversationChanged):
    """Every column's history was emptied."""


@dataclass(frozen=True, kw_only=True)
class ConversationResumed(ConversationChanged):
    """An earlier conversation (a restored comparison) is current again, with the histories it had."""


Listener = Callable[[Event], None]


class EventBus:
    """Subscribers of one manager's events; see the module docstring."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()
        # Held while an event is delivered: events reach listeners one at a time, so listeners need no locks of
        # their own. Reentrant: a listener may cause events (they are delivered at once, nested).
        self._delivering = threading.RLock()
        self.closed = False

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener(event)` for every event from now on; returns a function that unsubscribes it."""
        with self._lock:
            self._listeners.append(listener)
        return lambda: self.unsubscribe(listener)

    def unsubscribe(self, listener: Listener) -> None:
        """Stop calling `listener` (nothing happens when it is not subscribed)."""
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    @property
    def listening(self) -> bool:
        """True when someone subscribed (emitters may skip building events nobody reads)."""
        return bool(self._listeners) and not self.closed

    def emit(self, *events: Event) -> None:
        """Deliver `events` to every listener, in order. Never call it while holding the manager's lock."""
        if not self.listening:
            return
        with self._delivering:
            for event in events:
                if self.closed:  # a closed manager's late work (a load, a turn) reaches nobody
                    return
                with self._lock:
                    listeners = list(self._listeners)
                for listener in listeners:
                    try:
                        listener(event)
                    except Exception:  # one listener's bug must not break the others or the turn
                        log.exception("a listener of %s failed", type(event).__name__)

    def close(self) -> None:
        """Deliver nothing more and forget the listeners."""
        self.closed = True
        with self._lock:
            self._listeners.clear()
