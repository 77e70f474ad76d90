"""OpenAI's `stop`: the reply is cut before the first stop string, even one that spans streamed deltas."""

from __future__ import annotations

from typing import Sequence

from ..bots.text import partial_marker_length


class StopCutter:
    """Cuts streamed text at the first of the stop strings, holding back a tail that may start one."""

    def __init__(self, stops: Sequence[str]):
        self.stops = [s for s in stops if s]
        self.buf = ""
        self.hit = False

    def feed(self, text: str) -> str:
        if not self.stops or self.hit:
            return "" if self.hit else text
        buf = self.buf + text
        found = [i for i in (buf.find(s) for s in self.stops) if i >= 0]
        if found:
            self.hit, self.buf = True, ""
            return buf[: min(found)]
        keep = partial_marker_length(buf, self.stops)
        self.buf = buf[len(buf) - keep:]
        return buf[: len(buf) - keep]

    def flush(self) -> str:
        out, self.buf = ("" if self.hit else self.buf), ""
        return out
