"""Which turn of the conversation a judge or a scorer works on: the latest finished one, or one the user names."""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence


def finished_turn(snapshot: Sequence[Mapping[str, Any]], turn: int | None, *, verb: str,
                  shown: Callable[[Mapping[str, Any]], str] = lambda c: c["name"]) -> int:
    """The index of `turn` (None: the latest, once every column has answered it; negative counts from the end) in
    the manager's `snapshot`. ValueError naming the columns still answering (as `shown` names them, e.g. blind
    labels) or the valid range; `verb` ("judge", "score") words the messages."""
    turns = max((e["turn"] + 1 for c in snapshot for e in c["history"] if e["role"] == "HUMAN"), default=0)
    if not turns:
        raise ValueError(f"nothing to {verb} yet: send a prompt and wait for the replies")
    if turn is None:
        waiting = [shown(c) for c in snapshot
                   if c["status"] == "generating" or (c["history"] and c["history"][-1]["role"] != "BOT")]
        if waiting:
            raise ValueError(f"cannot {verb} while {', '.join(waiting)} still answering: wait for every reply "
                             f"(or pass turn= to {verb} an earlier turn)")
        return turns - 1
    if isinstance(turn, bool) or not isinstance(turn, int):
        raise ValueError(f"turn must be an integer (an index of the conversation's prompts), got {turn!r}")
    index = turn + turns if turn < 0 else turn
    if not 0 <= index < turns:
        raise ValueError(f"turn {turn} is out of range: this conversation has {turns} "
                         f"turn{'s' if turns != 1 else ''} (0 to {turns - 1}, or -1 for the last)")
    return index
