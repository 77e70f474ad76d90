"""Blind comparison ("arena"): hide model names, shuffle the columns of each conversation, reveal after the vote.

`Arena` keeps one `ArenaRound` per conversation: the shuffled column order, the labels ("Model A", "Model B", ...
by position) and whether the names were revealed. `follow(manager)` subscribes it to the manager's events: a
cleared (or resumed) conversation gets a new round, columns added and removed join and leave the current one. The
`VoteBook` reveals the round when a vote is cast. How a round is shown is the presenter's (`presenter.py`);
`display(snapshot)` applies it.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from ..events import ColumnAdded, ColumnRemoved, ConversationChanged, Event
from .presenter import scrub, show_round  # noqa: F401 - scrub is imported from here too


def letters(i: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA, ... (spreadsheet style)."""
    out = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        out = chr(ord("A") + r) + out
    return out


@dataclass
class ArenaRound:
    """The blind state of one conversation."""

    conversation: str
    order: list[str]  # column ids, left to right
    labels: dict[str, str]  # column id -> "Model A"
    revealed: bool = False
    names: dict[str, str] = field(default_factory=dict)  # column id -> real name (filled by display/sync)

    def to_json(self) -> dict[str, Any]:
        return {"conversation": self.conversation, "order": list(self.order), "labels": dict(self.labels),
                "revealed": self.revealed}


class Arena:
    """Per-conversation column order and labels for blind comparisons.

    Args:
        seed: seed of the shuffling RNG (None: unpredictable). The same seed and the same calls give the same orders.
        label_format: how a column is named while blind; `{letter}` is A, B, ... by position.
    """

    def __init__(self, seed: int | None = None, label_format: str = "Model {letter}"):
        self.rng = random.Random(seed)
        self.label_format = label_format
        self.rounds: dict[str, ArenaRound] = {}
        self.current: str | None = None
        self._lock = threading.RLock()
        self._auto = 0

    # ----- following a manager ------------------------------------------------------------------
    def follow(self, manager: Any) -> Callable[[], None]:
        """Keep the rounds in step with `manager`'s conversations and columns (its event bus); returns a function
        that stops following. The current conversation gets its round now."""
        self.sync(manager.conversation_id, list(manager.columns), started=self._started(manager))

        def on_event(event: Event) -> None:
            if isinstance(event, ConversationChanged):
                self.start(event.conversation_id, list(manager.columns))
            elif isinstance(event, (ColumnAdded, ColumnRemoved)):
                self.sync(event.conversation_id, list(manager.columns), started=self._started(manager))

        return manager.events.subscribe(on_event)

    @staticmethod
    def _started(manager: Any) -> bool:
        """The manager's conversation has had a prompt (before it, adding a column reshuffles them all)."""
        return any(manager.histories().values())

    # ----- rounds -------------------------------------------------------------------------------
    def start(self, conversation: str, column_ids: Sequence[str]) -> ArenaRound:
        """Begin a conversation: shuffle `column_ids` and label them by their new position."""
        with self._lock:
            order = list(column_ids)
            self.rng.shuffle(order)
            rnd = ArenaRound(conversation, order, {cid: self._label(i) for i, cid in enumerate(order)})
            self.rounds[conversation] = rnd
            self.current = conversation
            return rnd

    def _label(self, i: int) -> str:
        return self.label_format.format(letter=letters(i), index=i + 1)

    def sync(self, conversation: str, column_ids: Sequence[str], started: bool = True) -> ArenaRound:
        """Make `conversation` current (a new one is shuffled) and follow added and removed columns.

        Before the conversation's first prompt (`started` False) a change of columns reshuffles them all, so
        columns added right after the widget is made are shuffled too. Once it started, a column added goes to
        the right with the next free letter and a removed one drops out (the others keep their labels).
        """
        with self._lock:
            rnd = self.rounds.get(conversation)
            ids = list(column_ids)
            if rnd is None or (not started and not rnd.revealed and set(rnd.order) != set(ids)):
                return self.start(conversation, ids)
            self.current = conversation
            rnd.order = [cid for cid in rnd.order if cid in ids]
            for cid in ids:
                if cid not in rnd.labels:
                    rnd.labels[cid] = self._label(len(rnd.labels))
                if cid not in rnd.order:
                    rnd.order.append(cid)
            return rnd

    def round(self, conversation: str | None = None) -> ArenaRound:
        with self._lock:
            key = conversation or self.current
            if key is None or key not in self.rounds:
                raise KeyError(f"no arena round for conversation {key!r}")
            return self.rounds[key]

    def reveal(self, conversation: str | None = None) -> None:
        """Show the names (and settings) of this conversation's columns; the next conversation is blind again."""
        self.round(conversation).revealed = True

    def blind(self, conversation: str | None = None) -> bool:
        """True while the names of `conversation` (default: the current one) are hidden."""
        with self._lock:
            key = conversation or self.current
            return key is None or key not in self.rounds or not self.rounds[key].revealed

    def label(self, column_id: str, conversation: str | None = None) -> str:
        return self.round(conversation).labels[column_id]

    def resolve(self, key: str, conversation: str | None = None) -> str | None:
        """The column id whose label is `key` ("Model A", case-insensitive, or just "A"), else None."""
        with self._lock:
            try:
                rnd = self.round(conversation)
            except KeyError:
                return None
            wanted = key.strip().lower()
            for i, (cid, lab) in enumerate(rnd.labels.items()):  # labels were given out in this order
                if wanted in (lab.lower(), letters(i).lower()):
                    return cid
            return None

    # ----- what the front end sees --------------------------------------------------------------
    def display(self, snapshot: Sequence[Mapping[str, Any]], conversation: str | None = None, *,
                scrub_texts: bool = True) -> list[dict[str, Any]]:
        """The snapshot as the front end should draw it: shuffled order, labels, and while blind no names,
        models, families or settings (errors and loading messages are scrubbed of them too, unless
        `scrub_texts` is False: the widget's blind filter scrubs every outgoing text, with labels).

        Each column gains "label" (e.g. "Model A"), "blind" (bool) and "real_name" (None while blind).
        Column ids stay the real ones, so stop/remove messages and streaming events keep working.
        """
        with self._lock:
            if conversation is None and self.current is None:
                self._auto += 1
                conversation = f"arena-{self._auto}"
            key = conversation or self.current
            rnd = self.sync(key, [c["id"] for c in snapshot], started=not self._fresh(key, snapshot))
            return show_round(rnd, snapshot, scrub_texts=scrub_texts)

    def _fresh(self, conversation: str, snapshot: Sequence[Mapping[str, Any]]) -> bool:
        """True while `conversation` has no prompt yet (and is the one on screen)."""
        return conversation == self.current and not any(c.get("history") for c in snapshot)

    def state(self) -> dict[str, Any]:
        """JSON-able state to sync: the current round (order, labels, revealed) and every round so far."""
        with self._lock:
            current = self.rounds.get(self.current) if self.current else None
            return {"current": current.to_json() if current else None,
                    "rounds": [r.to_json() for r in self.rounds.values()]}

