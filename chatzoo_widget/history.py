"""Steering one shared conversation: continue with a chosen reply, edit and resend the last prompt.

Pure functions on a column's history entries (lists of dicts, as the manager keeps them). Nothing is lost:

- continuing with a reply puts a copy of it as every column's last reply; each replaced reply is kept in the new
  entry's `alternatives`, and the entry names the column it came from in `continued_with`;
- editing the last prompt replaces that turn by a new one (a new turn number, so votes on the old turn stay
  apart); the old prompt and its reply are kept in the new prompt's `edited` list.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

#: keys a copied reply does not take along (they describe where it stands, not what it is)
_PLACEMENT = ("alternatives", "continued_with")


def original_reply(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The reply this column's own model wrote for the turn of `entry` (a BOT entry), before any
    continue-with replaced it."""
    alternatives = entry.get("alternatives") or []
    if entry.get("continued_with") is not None and alternatives:
        return dict(alternatives[0])
    return {k: v for k, v in entry.items() if k not in _PLACEMENT}


def continued_entry(own: Mapping[str, Any], winner: Mapping[str, Any], winner_name: str) -> dict[str, Any]:
    """The entry that replaces a column's last reply `own` when the conversation continues with `winner` (the
    winning column's own reply): the winner's reply, naming where it came from, keeping `own` as an alternative
    when it differs from the winner's."""
    mine, theirs = original_reply(own), original_reply(winner)
    entry = {**theirs, "turn": mine.get("turn", theirs.get("turn")), "continued_with": winner_name}
    entry["alternatives"] = [] if mine == theirs else [mine]
    return entry


def last_prompt_index(history: Sequence[Mapping[str, Any]]) -> int | None:
    """Position of the last HUMAN entry, or None."""
    for i in range(len(history) - 1, -1, -1):
        if history[i]["role"] == "HUMAN":
            return i
    return None


def turns_in(history: Sequence[Mapping[str, Any]]) -> list[int]:
    """Every turn number used in `history`, edited-away turns included."""
    out: list[int] = []
    for entry in history:
        if isinstance(entry.get("turn"), int):
            out.append(entry["turn"])
        for old in entry.get("edited") or ():
            out += [t for t in (old.get("turn"),) if isinstance(t, int)]
    return out


def next_turn(history: Sequence[Mapping[str, Any]]) -> int:
    """The number of the next turn: one past every turn used so far (edited-away ones included), so a turn
    number names one exchange of the conversation, never two."""
    used = turns_in(history)
    return max(used) + 1 if used else 0


def edit_last(history: list[dict[str, Any]], prompt: str) -> int:
    """Replace the last turn of `history` (its prompt and reply) by `prompt` as a new turn, in place; returns
    the new turn number. The HUMAN entry keeps its identity (observers that follow conversations by their
    entries see the same conversation going on) and records the old turn in `edited`."""
    i = last_prompt_index(history)
    if i is None:
        raise ValueError("nothing to edit: no prompt has been sent yet")
    entry = history[i]
    old_reply = next((dict(e) for e in history[i + 1:] if e["role"] == "BOT"), None)
    turn = next_turn(history)
    edited = list(entry.get("edited") or [])
    edited.append({"turn": entry["turn"], "prompt": entry["content"], "reply": old_reply})
    del history[i + 1:]
    entry.clear()
    entry.update({"role": "HUMAN", "content": prompt, "turn": turn, "edited": edited})
    return turn


__all__ = ["continued_entry", "edit_last", "last_prompt_index", "next_turn", "original_reply", "turns_in"]
