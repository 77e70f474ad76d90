"""Branching a reply from an alternative token (issue 21): the reply is answered again from its first tokens with
another token in place of one of them, and the old reply stays as an alternative.

Pure functions on history entries, as `history.py` has for continue-with and edits; the manager starts the turn.
The new reply starts with exactly the old reply's tokens before the chosen position and the chosen token (fed to a
local model as token ids, `bots/prefix.py`), then the model goes on. The new entry keeps:

- `alternatives`: the old reply first (the one branched from), then the old reply's own alternatives;
- `branched_from`: `{"token_index", "token", "replaced"}`, where the branch happened and which token was put in
  place of which.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from .bots.prefix import ReplyPrefix
from .history import _PLACEMENT


@dataclass(frozen=True)
class BranchPoint:
    """Where a reply branches: the reply it replaces, the position, the token chosen there, and the prefix the new
    reply starts with."""

    old: dict[str, Any] = field(repr=False)
    token_index: int
    chosen: dict[str, Any]
    prefix: ReplyPrefix


def _token_text(token: Mapping[str, Any]) -> bytes:
    raw = token.get("bytes")
    if isinstance(raw, list) and all(isinstance(b, int) and 0 <= b < 256 for b in raw):
        return bytes(raw)
    return str(token.get("token", "")).encode("utf-8")


def _describe(alternatives: Sequence[Mapping[str, Any]]) -> str:
    return ", ".join(repr(a.get("token")) + (f" (id {a['id']})" if "id" in a else "") for a in alternatives) or "none"


def branch_point(history: Sequence[Mapping[str, Any]], token_index: Any, token: Any, *, column: str,
                 own_ids: bool = True) -> BranchPoint:
    """Check a branch of `column`'s last reply (the last entry of `history`) at `token_index`, to `token` (one of
    the alternatives at that position: its text or its id). ValueError names what is wrong.

    `own_ids`: the reply's token ids are in this column's vocabulary (False for a remote column, or for a reply
    another column wrote that the conversation continued with): the prefix then goes as text.
    """
    last = history[-1] if history else None
    if last is None or last.get("role") != "BOT":
        raise ValueError(f"{column} has no finished reply to branch: send a prompt and wait for its reply")
    if (last.get("stats") or {}).get("finish_reason") == "error":
        raise ValueError(f"{column}'s last reply failed: there is nothing to branch from")
    tokens = last.get("tokens")
    if not tokens:
        why = last.get("logprobs_unavailable")
        raise ValueError(f"{column}'s last reply has no token probabilities to branch from"
                         + (f" ({why})" if why else ": turn on the column's logprobs setting and answer again"))
    if isinstance(token_index, bool) or not isinstance(token_index, int):
        raise ValueError(f"token_index must be a whole number, got {token_index!r}")
    if not 0 <= token_index < len(tokens):
        raise ValueError(f"token_index {token_index} is out of range: {column}'s last reply has {len(tokens)} tokens "
                         f"(0-{len(tokens) - 1})")
    at = tokens[token_index]
    alternatives = [a for a in at.get("top_logprobs") or () if isinstance(a, Mapping)]
    if isinstance(token, bool) or not isinstance(token, (int, str)):
        raise ValueError(f"the token to branch to is its text or its id, got {token!r}")
    key = "id" if isinstance(token, int) else "token"
    chosen = next((a for a in alternatives if a.get(key) == token), None)
    if chosen is None:
        raise ValueError(f"{token!r} is not among the alternatives at token {token_index} ({at.get('token')!r}); "
                         f"they are: {_describe(alternatives)}")
    if key == "id" and not own_ids:
        raise ValueError("this reply's token ids are not in this column's vocabulary: choose the alternative by its "
                         "text")
    head = list(tokens[:token_index])
    chosen_entry = {k: chosen[k] for k in ("token", "logprob", "bytes", "id") if k in chosen}
    chosen_entry["top_logprobs"] = [dict(a) for a in alternatives]  # the same position: the same distribution
    raw = b"".join(_token_text(t) for t in [*head, chosen_entry])
    ids: tuple[int, ...] | None = None
    if own_ids and all(isinstance(t.get("id"), int) for t in [*head, chosen_entry]):
        ids = tuple(int(t["id"]) for t in [*head, chosen_entry])
    if not own_ids:  # ids of another vocabulary must not travel with the new reply's tokens
        head = [{k: v for k, v in t.items() if k != "id"} for t in head]
        chosen_entry.pop("id", None)
    prefix = ReplyPrefix(text=raw.decode("utf-8", errors="replace"), ids=ids,
                         tokens=tuple(dict(t) for t in [*head, chosen_entry]))
    return BranchPoint(old=dict(last), token_index=token_index, chosen=chosen_entry, prefix=prefix)


def branched_entry(entry: Mapping[str, Any], point: BranchPoint) -> dict[str, Any]:
    """The new reply's history entry: `entry` (as the turn ended) with the old reply kept as its first
    alternative and where it branched."""
    old = {k: v for k, v in point.old.items() if k not in _PLACEMENT}
    replaced = point.old["tokens"][point.token_index]
    return {**entry, "branched_from": {"token_index": point.token_index, "token": point.chosen.get("token", ""),
                                       "replaced": replaced.get("token", "")},
            "alternatives": [old, *(point.old.get("alternatives") or [])]}


__all__ = ["BranchPoint", "branch_point", "branched_entry"]
