"""Thinking blocks: split a reply's text into the model's reasoning and its answer.

Reasoning models (Qwen3, DeepSeek-R1 and their distills) write their thinking first, between a pair of tags:

    <think>
    The user asks for ... so ...
    </think>

    The answer.

`ThinkingSplitter` does it on a stream of deltas, as they arrive: a tag split across two deltas is held back until
it is whole, so no half tag is ever shown. Only a block at the very start of a reply counts (a tag the answer
mentions later is text). A block left open at the end (the reply was stopped, or ran out of tokens, while
thinking) is reasoning marked `unfinished`. Some chat templates open the block themselves (the prompt ends with
`<think>`): pass `opened=True` and the reply starts inside it. `split_thinking` does the same on a whole text,
and also reads a reply that closes a block it never opened (a template that opened it, unseen) as thinking.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from .text import partial_marker_length

#: The tag pair of Qwen3 and DeepSeek-R1.
DEFAULT_TAGS = ("<think>", "</think>")
REASONING, ANSWER = "reasoning", "answer"


def check_tags(tags: Any) -> tuple[str, str] | None:
    """A column's thinking tags: a pair of different non-empty strings, or None (no thinking parsing).
    Raises ValueError naming what is wrong."""
    if tags is None or tags is False:
        return None
    if isinstance(tags, str) or not isinstance(tags, Sequence) or len(tags) != 2:
        raise ValueError(f"think_tags must be a pair of strings such as ('<think>', '</think>'), or None to turn "
                         f"thinking blocks off; got {tags!r}")
    start, end = tags
    if not isinstance(start, str) or not isinstance(end, str) or not start.strip() or not end.strip():
        raise ValueError(f"think_tags must be two non-empty strings (an opening and a closing tag), got {tags!r}")
    if start == end:
        raise ValueError(f"think_tags must differ (an opening and a closing tag), got {tags!r}")
    return (start, end)


@dataclass
class ThinkingSplit:
    """A reply taken apart: the thinking (stripped), the answer, and whether the block was left open."""

    reasoning: str
    answer: str
    unfinished: bool = False


class ThinkingSplitter:
    """Splits a stream of text deltas into ("reasoning" | "answer", text) parts, in order.

    `feed(delta)` returns the parts that are safe to show now; `finish()` the rest at the end. The reasoning
    parts join into the stripped thinking, the answer parts into the answer (leading blank lines after the
    closing tag dropped).
    """

    def __init__(self, tags: Sequence[str] | None = DEFAULT_TAGS, *, opened: bool = False):
        self.tags = check_tags(tags)
        self._state = "start"  # start -> (thinking -> after ->) answer
        self._buf = ""
        self.reasoning = ""
        self.answer = ""
        self.unfinished = False
        self.found = False  # a thinking block was seen
        if self.tags is None:
            self._state = "answer"
        elif opened:
            self._state, self.found = "thinking", True

    def feed(self, delta: str) -> list[tuple[str, str]]:
        self._buf += delta
        parts: list[tuple[str, str]] = []
        while True:
            before = (self._state, len(self._buf))
            self._step(parts)
            if (self._state, len(self._buf)) == before:
                return parts

    def _step(self, parts: list[tuple[str, str]]) -> None:
        buf = self._buf
        if self._state == "answer":
            if buf:
                self._emit(parts, ANSWER, buf)
            self._buf = ""
            return
        start, end = self.tags  # type: ignore[misc]
        if self._state == "start":
            head = buf.lstrip()
            if not head or (start.startswith(head) and head != start):
                return  # blank so far, or the start of the opening tag: wait for more
            if head.startswith(start):
                self._state, self.found, self._buf = "thinking", True, head[len(start):]
            else:
                self._state = "answer"
            return
        if self._state == "thinking":
            if not self.reasoning:
                buf = self._buf = buf.lstrip()  # no blank lines at the top of the block
            i = buf.find(end)
            if i >= 0:
                self._emit(parts, REASONING, buf[:i].rstrip())
                self._state, self._buf = "after", buf[i + len(end):]
                return
            keep = partial_marker_length(buf, (end,))
            shown = buf[:len(buf) - keep]
            safe = shown.rstrip()  # trailing blanks wait: they may be the block's last characters
            if safe:
                self._emit(parts, REASONING, safe)
                self._buf = buf[len(safe):]
            return
        # "after": the blank lines between the closing tag and the answer are dropped
        head = buf.lstrip()
        if head:
            self._state, self._buf = "answer", head

    def _emit(self, parts: list[tuple[str, str]], kind: str, text: str) -> None:
        if not text:
            return
        if kind == REASONING:
            self.reasoning += text
        else:
            self.answer += text
        if parts and parts[-1][0] == kind:
            parts[-1] = (kind, parts[-1][1] + text)
        else:
            parts.append((kind, text))

    def finish(self) -> list[tuple[str, str]]:
        """The parts held back until the end. A block still open is reasoning, marked `unfinished`."""
        parts: list[tuple[str, str]] = []
        buf, self._buf = self._buf, ""
        if self._state == "thinking":
            self.unfinished = True
            self._emit(parts, REASONING, buf.strip() if not self.reasoning else buf.rstrip())
        elif self._state in ("start", "answer"):
            self._emit(parts, ANSWER, buf)
        self._state = "answer"
        return parts

    def result(self) -> ThinkingSplit:
        return ThinkingSplit(self.reasoning, self.answer, self.unfinished)


def split_thinking(text: str, tags: Sequence[str] | None = DEFAULT_TAGS, *, opened: bool = False) -> ThinkingSplit:
    """A whole reply taken apart (see the module docstring). A reply that closes a block it never opened (the
    chat template opened it) is thinking up to the closing tag."""
    splitter = ThinkingSplitter(tags, opened=opened)
    splitter.feed(text)
    splitter.finish()
    split = splitter.result()
    if splitter.tags is not None and not splitter.found and splitter.tags[1] in text:
        thought, _, answer = text.partition(splitter.tags[1])
        if splitter.tags[0] not in thought:  # a block some text opened is the answer's own business
            return ThinkingSplit(thought.strip(), answer.lstrip())
    return split


def prompt_opens_block(rendered_prompt: str | None, tags: Sequence[str] | None) -> bool:
    """True when the prompt itself ends inside a thinking block (DeepSeek-R1's template ends with "<think>\\n")."""
    if not rendered_prompt or not tags:
        return False
    return rendered_prompt.rstrip().endswith(tags[0])


def with_thinking(answer: str, reasoning: str, tags: Sequence[str] | None = DEFAULT_TAGS) -> str:
    """A reply as the model wrote it, thinking block first: what a column that keeps its reasoning sends back."""
    if not reasoning:
        return answer
    start, end = check_tags(tags) or DEFAULT_TAGS
    return f"{start}\n{reasoning}\n{end}\n\n{answer}"


__all__ = ["ANSWER", "DEFAULT_TAGS", "REASONING", "ThinkingSplit", "ThinkingSplitter", "check_tags",
           "prompt_opens_block", "split_thinking", "with_thinking"]
