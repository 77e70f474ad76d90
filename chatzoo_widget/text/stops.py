"""Stop strings: a reply ends before the first of them, even one that spans several streamed pieces.

One rule for every path: a local model's decoder (`text.reply`), the server's safety net and a remote bot's.
A stream holds back a tail that may still grow into a stop string, so no part of one is ever shown.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from ..bots.text import partial_marker_length


def clean_stops(stops: Iterable[str]) -> tuple[str, ...]:
    """The stop strings that can match (empty ones never do), in order, without repeats."""
    return tuple(dict.fromkeys(s for s in stops if s))


def find_stop(text: str, stops: Sequence[str], start: int = 0) -> tuple[int, str] | None:
    """Where the first stop string in `text[start:]` begins (an index into `text`) and which one, or None."""
    best: tuple[int, str] | None = None
    for stop in stops:
        at = text.find(stop, start)
        if at >= 0 and (best is None or at < best[0]):
            best = (at, stop)
    return best


class StopCutter:
    """Cuts streamed text at the first of `stops`, holding back a tail that may start one.

    `feed(text)` returns what may be shown now; once a stop string is found (`hit`, `found`) it returns ""
    forever. `flush()` gives the held-back tail when the stream ends without a stop. Work per call is bounded by
    the new text plus the longest stop string.
    """

    def __init__(self, stops: Iterable[str]):
        self.stops = clean_stops(stops)
        self.buf = ""  # held back: may be the start of a stop string
        self.found: str | None = None  # the stop string that ended the text

    @property
    def hit(self) -> bool:
        return self.found is not None

    def feed(self, text: str) -> str:
        if self.hit:
            return ""
        if not self.stops:
            return text
        buf = self.buf + text
        match = find_stop(buf, self.stops)
        if match is not None:
            self.found, self.buf = match[1], ""
            return buf[: match[0]]
        keep = partial_marker_length(buf, self.stops)
        self.buf = buf[len(buf) - keep:]
        return buf[: len(buf) - keep]

    def flush(self) -> str:
        out, self.buf = ("" if self.hit else self.buf), ""
        return out


__all__ = ["StopCutter", "clean_stops", "find_stop"]
