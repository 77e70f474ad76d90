"""One reply's text as it streams: ids in, the deltas a user may see out, in work per step that does not grow with
the reply.

    ids --IncrementalDetokenizer--> raw text --process_response, stop strings, hold-back--> shown deltas

A family's `process_response` works on whole replies (strip the ends, remove `</s>`, make punctuation full width).
Running it over the whole text at every step would cost more per token as the reply grows, so it runs over a window
of the raw text that starts at an anchor. The anchor moves up (`SPAN` characters behind the end) only to a place
where processing splits cleanly: `process(window) == process(head) + process(tail)` between two non-space
characters, and `process(head)` is already on screen. Rules that look at a few characters around a place (every
family's do) then give the same text as processing the whole reply; a rule that does not split (it keeps
the anchor where it is) still gives the right text, only in work that grows.

Stop strings are looked for in the processed text, as in the one-shot reply; a tail that may still grow into one is
held back, and so is what `visible` says may still change under `process_response` (trailing whitespace, half a
marker the family removes).

The final rule: at the end the whole reply is processed once, the old way (one-shot decode, `process_response`, cut
at the first stop string). If that text goes on from what was shown, the rest is the last delta. If it does not
(a `process_response` that changes text it already let through: ChatGLM's "[[训练时间]]" -> "2023年" once its
start has shown, a rule that depends on the reply's end), the deltas cannot take text back: the stream shows nothing
more and keeps what it showed, and `ReplyText.final` holds the processed reply (as the old full re-decode did).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from ..bots.text import partial_marker_length
from .detok import IncrementalDetokenizer
from .stops import clean_stops, find_stop

#: how far behind the end of the raw text the window's anchor stays (characters); rules reaching further than this
#: around a place would need a longer one
SPAN = 128


def _same(text: str) -> str:
    return text


class ReplyText:
    """Raw text deltas of one reply -> the deltas to show.

    Args:
        process: the family's `process_response` (whole text -> shown text).
        visible: the part of a processed text that may be shown now (the rest may still change).
        stops: the reply ends before the first of these (in the processed text); a tail that may grow into one
            is held back.
    """

    def __init__(self, process: Callable[[str], str] | None = None, visible: Callable[[str], str] | None = None,
                 stops: Iterable[str] = ()):
        self.process = process or _same
        self.visible = visible or _same
        self.stops = clean_stops(stops)
        self.span = max([SPAN, *(4 * len(s) for s in self.stops)])
        self.raw: list[str] = []  # every raw delta, for the final text
        self._window = ""  # raw text from the anchor on
        self._shown = ""  # processed text shown since the anchor
        self._parts: list[str] = []  # every delta shown
        #: the stop string that ended the reply, once found
        self.stop: str | None = None
        #: the processed reply (set by `finish`)
        self.final: str | None = None
        self._offset = 0  # processed characters before the window (moved past with the anchor)
        self._protected = 0  # processed characters of a branch's start, where stop strings do not count

    @property
    def shown(self) -> str:
        """Everything shown so far."""
        return "".join(self._parts)

    @property
    def window(self) -> int:
        """Raw characters the next step processes (bounded while processing splits, however long the reply)."""
        return len(self._window)

    def push(self, raw: str, *, start: bool = False) -> str:
        """Take the next raw text; returns what may be shown now ("" after a stop string: `finish` gives the
        text before it). `start=True`: a branch's start, given before the model's own text. Stop strings are
        looked for in what the model adds only, as vLLM does when it continues a message (a stop string inside
        the start, or begun there, does not end the reply)."""
        if not raw or self.stop is not None:
            return ""
        self.raw.append(raw)
        self._window += raw
        processed = self.process(self._window)
        match = None if start else find_stop(processed, self.stops, max(0, self._protected - self._offset))
        if match is not None:
            self.stop = match[1]
            return ""
        if start:
            self._protected = self._offset + len(processed)
        target = self.visible(processed)
        held = 0 if start else partial_marker_length(target, self.stops)  # may grow into a stop string
        target = target[:len(target) - held]
        delta = ""
        if len(target) > len(self._shown) and target.startswith(self._shown):
            delta, self._shown = target[len(self._shown):], target
            self._parts.append(delta)
        self._move_anchor(processed)
        return delta

    def _move_anchor(self, processed: str) -> None:
        window, span = self._window, self.span
        if len(window) < 2 * span:
            return
        cut = len(window) - span
        lowest = cut - span // 2
        while cut > lowest and (window[cut - 1].isspace() or window[cut].isspace()):
            cut -= 1
        if cut <= lowest:
            return
        head = self.process(window[:cut])
        if processed != head + self.process(window[cut:]) or not self._shown.startswith(head):
            return  # processing does not split here (yet): try again at the next step
        self._window, self._shown = window[cut:], self._shown[len(head):]
        self._offset += len(head)

    def finish(self, whole: str | None = None) -> str:
        """The last delta: the processed reply past what was shown (see the final rule). `whole` is the raw reply
        when the caller has it from a one-shot decode (it wins over the joined deltas)."""
        raw = "".join(self.raw) if whole is None else whole
        final = self.process(raw)
        match = find_stop(final, self.stops, self._protected)
        if match is not None:
            final, self.stop = final[: match[0]], match[1]
        self.final = final
        shown = self.shown
        if len(final) > len(shown) and final.startswith(shown):
            delta = final[len(shown):]
            self._parts.append(delta)
            return delta
        return ""


class ReplyDecoder:
    """Token ids of one reply -> the deltas to show: `IncrementalDetokenizer` then `ReplyText`.

    `push(ids)` returns the next delta; `stop` is set once a stop string appeared (the caller stops generating);
    `finish()` returns the last delta, checked against a one-shot decode of every id.
    """

    def __init__(self, tokenizer: Any, *, process: Callable[[str], str] | None = None,
                 visible: Callable[[str], str] | None = None, stops: Iterable[str] = ()):
        self.tokenizer = tokenizer
        self.detok = IncrementalDetokenizer(tokenizer)
        self.text = ReplyText(process, visible, stops)
        self.ids: list[int] = []

    @property
    def stop(self) -> str | None:
        return self.text.stop

    def push(self, ids: Iterable[int], *, start: bool = False) -> str:
        """The delta for the next ids; `start=True`: a branch's start (`ReplyText.push`)."""
        ids = list(ids)
        self.ids.extend(ids)
        return self.text.push(self.detok.push(ids), start=start)

    def finish(self) -> str:
        if self.text.stop is None:
            self.text.push(self.detok.flush())
        # One decode of the whole reply, at its end: the final text is exactly the one-shot reply's.
        whole = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        return self.text.finish(whole)


__all__ = ["ReplyDecoder", "ReplyText", "SPAN"]
