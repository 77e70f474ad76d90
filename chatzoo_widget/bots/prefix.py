"""The start of a reply that a model continues from (a branch from an alternative token, issue 21).

A local model is fed the prefix as token ids right after the prompt (`ids`: the old reply's tokens, not the text
tokenised again, which could split it differently); a remote model gets the text as an assistant message to
continue. The reply a bot streams starts with the prefix's text; `tokens` (the prefix's token entries, with the
probabilities they had) go in front of the reply's own when it keeps token probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ReplyPrefix:
    """What a reply must start with.

    Args:
        text: the prefix as text (what a model without ids gets).
        ids: the prefix's token ids in the model's vocabulary (None: tokenise `text`).
        tokens: the prefix's token entries (`records.TokenLogprob`), put in front of the reply's own.
    """

    text: str
    ids: tuple[int, ...] | None = None
    tokens: tuple[dict[str, Any], ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise ValueError(f"a reply prefix's text must be a string, got {type(self.text).__name__}")
        if self.ids is not None and (not self.ids or not all(isinstance(i, int) and i >= 0 for i in self.ids)):
            raise ValueError(f"a reply prefix's ids must be a non-empty list of token ids, got {self.ids!r}")


def check_prefix(prefix: Any) -> ReplyPrefix | None:
    """`prefix` as a ReplyPrefix (a plain string is its text); ValueError naming what is wrong."""
    if prefix is None or isinstance(prefix, ReplyPrefix):
        return prefix
    if isinstance(prefix, str):
        return ReplyPrefix(text=prefix)
    raise ValueError(f"prefix must be a ReplyPrefix or a string, got {type(prefix).__name__}")


__all__ = ["ReplyPrefix", "check_prefix"]
