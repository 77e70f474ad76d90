"""Votes and thumbs on the replies of a ChatManager's columns.

A `VoteBook` records, in the manager's current conversation (it runs from one clear to the next), one vote per finished turn ("best" column, "tie" or "bad") and thumbs per reply. Each vote record stands
alone: it keeps the columns (name, model, settings, system prompt), their replies and statistics, the prompt and
each column's history before it, so votes survive `clear()` and can be exported, ranked and turned into
preference pairs without the manager.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import threading
from typing import Any, Iterator, Mapping, Sequence

from ..events import new_conversation_id  # noqa: F401 - imported from here by older code
from ..history import original_reply
from ..manager import ChatManager, model_query
from ..records import ReplyRecord, Thumb, Vote
from .arena import Arena
from .presenter import Presenter

TIE, BAD = "tie", "bad"
OUTCOMES = ("best", TIE, BAD)


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class VoteBook:
    """Votes and thumbs for the columns of `manager`; optional `arena` for blind comparisons.

    The conversation is the manager's (`manager.conversation_id`, a new one after each clear); the arena follows
    the manager's events (see `Arena.follow`), so nothing needs to be told or observed. Names are shown as the
    book's `presenter` says (arena labels while blind).
    """

    def __init__(self, manager: ChatManager, arena: Arena | None = None, *, clock=now_iso):
        self.manager = manager
        self.arena = arena
        self.presenter = Presenter(manager, arena)
        self.clock = clock
        self.votes: list[Vote] = []
        self.thumbs: list[Thumb] = []
        self._lock = threading.RLock()
        self._suspended = 0
        self._unfollow = arena.follow(manager) if arena is not None else (lambda: None)

    # ----- conversations ------------------------------------------------------------------------
    @property
    def conversation_id(self) -> str:
        """The current conversation (the manager's)."""
        return self.manager.conversation_id

    def observe(self, snapshot: Sequence[Mapping[str, Any]] | None = None) -> str:
        """The current conversation id. (The book used to infer conversations from the manager's state; the
        manager announces them now, so there is nothing to observe. Kept for callers.)"""
        return self.conversation_id

    @contextlib.contextmanager
    def suspended(self) -> Iterator[None]:
        """Refuse votes and thumbs while the block runs (a batch run sends its prompts through the columns)."""
        with self._lock:
            self._suspended += 1
        try:
            yield
        finally:
            with self._lock:
                self._suspended -= 1

    def set_conversation(self, conversation_id: str) -> None:
        """Continue an earlier conversation (a saved comparison restored): the manager resumes it."""
        self.manager.resume_conversation(conversation_id)

    def close(self) -> None:
        """Stop following the manager."""
        self._unfollow()

    # ----- the turn to vote on ------------------------------------------------------------------
    def latest_turn(self) -> dict[str, Any]:
        """The latest finished turn of the current conversation: {"conversation", "turn", "prompt", "columns"}.

        Raises ValueError when there is none (nothing sent yet, replies still coming, or a batch run going on).
        """
        with self._lock:
            if self._suspended:
                raise ValueError("cannot vote during a batch run: wait for it to finish or stop it")
            snapshot = self.manager.snapshot()
            answered = [c for c in snapshot if c["history"]]
            if not answered:
                raise ValueError("nothing to vote on yet: send a prompt and wait for every reply")
            waiting = [self._shown_name(c) for c in snapshot
                       if c["status"] == "generating" or (c["history"] and c["history"][-1]["role"] != "BOT")]
            if waiting or self.manager.busy:
                names = ", ".join(waiting) or "some columns"
                raise ValueError(f"cannot vote while {names} still answering: wait for every reply")
            if len(answered) < 2:
                raise ValueError("a vote compares two or more replies: add a column (thumbs rate a single reply)")
            turn = max(c["history"][-1]["turn"] for c in answered)
            answered = self.presenter.sort(answered)  # left to right as shown
            columns = [self._column_record(c) for c in answered]
            prompt = next((c["prompt"] for c in columns if c["turn"] == turn), columns[0]["prompt"])
            return {"conversation": self.conversation_id, "turn": turn, "prompt": prompt, "columns": columns}

    def _column_record(self, col: Mapping[str, Any]) -> ReplyRecord:
        return self.column_record(col, len(col["history"]) - 1)

    def column_record(self, col: Mapping[str, Any], index: int) -> ReplyRecord:
        """What a vote or a judgment keeps of one reply: the column `col` (a snapshot entry), its BOT entry at
        history position `index`, and what the model saw before it, so the record stands alone."""
        history = col["history"][: index + 1]
        reply = original_reply(history[-1])  # this column's own reply, even after continuing with another's
        return ReplyRecord(
            id=col["id"],
            name=col["name"],
            model=col["model"],
            settings=dict(col["settings"]),
            system_prompt=self._system_prompt(col),
            label=self._label(col["id"]),
            turn=reply["turn"],
            prompt=history[-2]["content"] if len(history) >= 2 and history[-2]["role"] == "HUMAN" else "",
            # what the model saw before the prompt (failed exchanges left out, as the manager does)
            history=model_query(history[:-1])[:-1],
            reply=reply["content"],
            stats=dict(reply.get("stats") or {}),
            reasoning=reply.get("reasoning"),
            rendered_prompt=reply.get("rendered_prompt"),
        )

    def _system_prompt(self, col: Mapping[str, Any]) -> str:
        settings = col.get("settings") or {}
        if settings.get("system_prompt"):
            return settings["system_prompt"]
        has = any(s.get("name") == "system_prompt" for s in col.get("spec") or [])
        return self.manager.system_prompt if has else ""

    def _blind(self) -> bool:
        return self.presenter.blind()

    def is_blind(self, conversation: str | None = None) -> bool:
        """True while the names of `conversation` (default: the current one) are hidden in an arena."""
        return self.presenter.blind(conversation)

    def _shown_name(self, col: Mapping[str, Any]) -> str:
        """The name the user sees: the arena label while blind (messages must not give the models away)."""
        return self.presenter.shown_name(col)

    shown_name = _shown_name

    def label(self, column_id: str) -> str | None:
        """The column's arena label in the current conversation (None outside an arena)."""
        return self.presenter.label(column_id)

    @property
    def suspended_now(self) -> bool:
        """True while a batch run has the manager (votes, thumbs and judging wait)."""
        return bool(self._suspended)

    _label = label

    def choices(self, columns: Sequence[Mapping[str, Any]] | None = None) -> list[str]:
        """The valid choices for the latest turn: the column names (labels while blind), "tie" and "bad"."""
        if columns is None:
            columns = self.latest_turn()["columns"]
        blind = self._blind()
        return [(c["label"] if blind and c["label"] else c["name"]) for c in columns] + [TIE, BAD]

    # ----- voting -------------------------------------------------------------------------------
    def vote(self, choice: str) -> Vote:
        """Vote on the latest finished turn: the best column's name (or arena label), "tie" or "bad" (all bad).

        Voting again before the next turn starts replaces the vote; once a new prompt is sent the vote is frozen.
        Returns the vote record. Raises ValueError when there is no finished turn or the choice is unknown.
        """
        with self._lock:
            turn = self.latest_turn()
            columns = turn["columns"]
            winner = self._resolve(choice, columns)
            if winner is None:
                raise ValueError(f"unknown choice {choice!r}: choose one of {', '.join(map(repr, self.choices(columns)))}")
            blind = self._blind()
            outcome = winner if winner in (TIE, BAD) else "best"
            record = Vote(
                conversation=turn["conversation"],
                turn=turn["turn"],
                choice=winner,  # a column name, "tie" or "bad"
                outcome=outcome,  # "best", "tie" or "bad"
                winner=winner if outcome == "best" else None,
                prompt=turn["prompt"],
                columns=columns,
                blind=blind,
                timestamp=self.clock(),
            )
            for i, old in enumerate(self.votes):
                if old["conversation"] == record["conversation"] and old["turn"] == record["turn"]:
                    self.votes[i] = record
                    break
            else:
                self.votes.append(record)
            if self.arena is not None:
                self.arena.reveal(self.conversation_id)
            return record

    def _resolve(self, choice: Any, columns: Sequence[Mapping[str, Any]]) -> str | None:
        if not isinstance(choice, str):
            return None
        key = choice.strip()
        if key.lower() in (TIE, BAD):
            return key.lower()
        for c in columns:
            if key in (c["name"], c["id"]):
                return c["name"]
        for c in columns:
            if c["label"] and key.lower() == c["label"].lower():
                return c["name"]
        if self.arena is not None:
            cid = self.arena.resolve(key, self.conversation_id)
            for c in columns:
                if c["id"] == cid:
                    return c["name"]
        return None

    def current_vote(self) -> dict[str, Any] | None:
        """The vote on the latest finished turn of the current conversation, if any."""
        try:
            turn = self.latest_turn()
        except ValueError:
            return None
        return next((v for v in self.votes
                     if v["conversation"] == turn["conversation"] and v["turn"] == turn["turn"]), None)

    # ----- thumbs -------------------------------------------------------------------------------
    def thumb(self, column: str, value: int | None, turn: int | None = None) -> Thumb | None:
        """Thumb up (+1) or down (-1) one reply of the current conversation; 0 or None takes the thumb back.

        `column` is a name, an id or (in an arena) a label; `turn` defaults to the column's latest finished reply.
        Returns the thumb record (None when taken back).
        """
        if value not in (1, -1, 0, None) or isinstance(value, bool):
            raise ValueError(f"a thumb is +1 (up), -1 (down) or 0 (none), got {value!r}")
        with self._lock:
            if self._suspended:
                raise ValueError("cannot rate replies during a batch run: wait for it to finish or stop it")
            snapshot = self.manager.snapshot()
            col = self._find_column(column, snapshot)
            replies = [e for e in col["history"] if e["role"] == "BOT"]
            if turn is None:
                if not replies:
                    raise ValueError(f"{self._shown_name(col)} has no finished reply to rate yet")
                entry = replies[-1]
            else:
                entry = next((e for e in replies if e["turn"] == turn), None)
                if entry is None:
                    done = [e["turn"] for e in replies]
                    raise ValueError(f"{self._shown_name(col)} has no finished reply for turn {turn}; "
                                     f"finished turns: {done}")
            history = col["history"][: col["history"].index(entry) + 1]
            entry = original_reply(entry)
            key = (self.conversation_id, entry["turn"], col["name"])
            self.thumbs = [t for t in self.thumbs if (t["conversation"], t["turn"], t["column"]) != key]
            if not value:
                return None
            record = Thumb(
                conversation=self.conversation_id,
                turn=entry["turn"],
                column=col["name"],
                model=col["model"],
                settings=dict(col["settings"]),
                label=self._label(col["id"]),
                prompt=history[-2]["content"] if len(history) >= 2 else "",
                reply=entry["content"],
                value=int(value),
                timestamp=self.clock(),
            )
            self.thumbs.append(record)
            return record

    def _find_column(self, key: str, snapshot: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
        for c in snapshot:
            if key in (c["id"], c["name"]):
                return c
        if self.arena is not None:
            cid = self.arena.resolve(str(key), self.conversation_id)
            for c in snapshot:
                if c["id"] == cid:
                    return c
        names = ", ".join(self._shown_name(c) for c in snapshot) or "none"
        raise KeyError(f"no column named {key!r}; columns: {names}")

    # ----- state for the front end --------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """JSON-able state to sync: whether and how the latest turn can be voted on, its current vote, the thumbs
        of the current conversation ({column id: {turn: value}}) and a short list of every vote."""
        with self._lock:
            try:
                turn = self.latest_turn()
                error = None
            except ValueError as exc:
                turn, error = None, str(exc)
            current = None
            if turn is not None:
                current = next((v["choice"] for v in self.votes if v["conversation"] == turn["conversation"]
                                and v["turn"] == turn["turn"]), None)
                if current and self._blind():  # shown as the choices are: by label
                    current = next((c["label"] for c in turn["columns"] if c["name"] == current), current)
            ids = {c["name"]: c["id"] for c in self.manager.snapshot()}
            thumbs: dict[str, dict[str, int]] = {}
            for t in self.thumbs:
                if t["conversation"] == self.conversation_id and t["column"] in ids:
                    thumbs.setdefault(ids[t["column"]], {})[str(t["turn"])] = t["value"]
            return {
                "conversation": self.conversation_id,
                "can_vote": turn is not None,
                "reason": error,
                "turn": turn["turn"] if turn else None,
                "choices": self.choices(turn["columns"]) if turn else [],
                "current": current,
                "thumbs": thumbs,
                "votes": [{"conversation": v["conversation"], "turn": v["turn"], "choice": v["choice"],
                           "timestamp": v["timestamp"]} for v in self.votes],
            }
