"""Text helpers for streaming: what part of the text so far may still turn into a marker."""

from __future__ import annotations

from typing import Iterable


def partial_marker_length(text: str, markers: Iterable[str]) -> int:
    """Length of the longest end of `text` that is the start of one of `markers` (but not a whole marker).

    A stream holds that many characters back: the next tokens may complete a stop string or a special token that
    must not be shown.
    """
    keep = 0
    for marker in markers:
        for k in range(min(len(marker) - 1, len(text)), 0, -1):
            if text.endswith(marker[:k]):
                keep = max(keep, k)
                break
    return keep


def cut_at_stop(text: str, stops: Iterable[str]) -> tuple[str, bool]:
    """`text` up to the first of the stop strings, and whether one was found."""
    cut = min((i for i in (text.find(s) for s in stops if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)
