"""The browser's token probability commands (issue 21): a reply's tokens, fetched when its Tokens toggle opens, and
a branch from an alternative token.

A reply's tokens are never synced with the history (they are many: `column_state.slim_entry` replaces them by
`has_tokens`); `entry_tokens` answers them for one reply, slimmed to what the view draws. While an arena is blind
they stay hidden: how a reply is cut into tokens gives its tokenizer, and so the model, away.
"""

# No `from __future__ import annotations`: the command table reads the commands' annotations as types.
from typing import Any, Mapping

from . import commands

HIDDEN_WHILE_BLIND = "Token probabilities are hidden until the vote: the tokenizer would give the model away."


def _view_token(token: Mapping[str, Any]) -> dict[str, Any]:
    """A token as the view draws it: text, logprob, id (to branch by) and the alternatives; no bytes."""
    out = {"token": token.get("token", ""), "logprob": token.get("logprob")}
    if isinstance(token.get("id"), int):
        out["id"] = token["id"]
    out["top_logprobs"] = [{k: a[k] for k in ("token", "logprob", "id") if k in a}
                           for a in token.get("top_logprobs") or () if isinstance(a, Mapping)]
    return out


@commands.command
def entry_tokens(widget: Any, column: str, turn: int) -> dict[str, Any]:
    """The tokens of `column`'s reply to `turn` (a column id): `{"tokens": [...], "can_branch", "why"}`; `why`
    says why its alternatives cannot be clicked (an older reply, a model that cannot continue a given start)."""
    if widget._book.is_blind():
        raise ValueError(HIDDEN_WHILE_BLIND)
    manager = widget.manager
    history = manager.histories().get(column)
    if history is None:
        raise KeyError(f"no column with id {column!r}")
    entry = next((e for e in reversed(history) if e["role"] == "BOT" and e.get("turn") == turn), None)
    if entry is None:
        raise KeyError(f"the column has no reply to turn {turn}")
    bot = manager.columns[column].bot if column in manager.columns else None
    why = None
    if entry is not history[-1]:
        why = "Only the latest reply can branch."
    elif bot is None or not getattr(bot, "continues_prefix", False):
        why = "This column's model cannot continue a reply from a given start, so it cannot branch."
    return {"tokens": [_view_token(t) for t in entry.get("tokens") or ()], "can_branch": why is None, "why": why,
            "unavailable": entry.get("logprobs_unavailable")}


@commands.command
def branch(widget: Any, column: str, token_index: int, token: int | str, turn: int | None = None) -> None:
    """Branch `column`'s (an id) latest reply at `token_index` to the alternative `token` (its id, or its text
    where the reply has no ids). `turn`: the reply the view showed; refused when it is no longer the latest."""
    history = widget.manager.histories().get(column) or []
    if turn is not None and (not history or history[-1].get("role") != "BOT" or history[-1].get("turn") != turn):
        raise ValueError("only the latest reply can branch: this one has been answered since")
    widget.manager.branch(column, token_index, token)
