"""The manager's streaming events as they cross to the browser, within Jupyter's IOPub limits.

IOPub (the kernel's channel to the browser) drops output past 1,000 messages or 1 MB a second by default. The
manager already coalesces: once a flush interval (40 ms) it sends one `frame` event with the text every column
wrote since the last frame, so 8 streaming columns cost 25 messages a second, not 200. This module decides what a
reply's end carries: `turn_end` keeps its statistics and drops the text (the reply's final entry follows as a
history message, `column_state.py`), so a reply crosses once as deltas and once as its entry. No binary buffers
anywhere: Colab drops them.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

_REPLY_TEXT = ("text", "reasoning")  # in the entry that follows turn_end


def on_the_wire(event: Mapping[str, Any]) -> dict[str, Any]:
    """A manager event as the browser gets it: `turn_end` without the reply's text (its entry carries it)."""
    if event.get("kind") == "turn_end":
        return {k: v for k, v in event.items() if k not in _REPLY_TEXT}
    return dict(event)


def filter_frame(frame: Mapping[str, Any], message: Callable[[Any], Any]) -> dict[str, Any] | None:
    """`frame` with each delta passed through `message` (the blind filter: it may hold a delta's end back, or all
    of it); None when nothing is left to send."""
    deltas = [d for d in (message(d) for d in frame.get("deltas") or []) if d]
    return {**frame, "deltas": deltas} if deltas else None


def unpack(messages: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """`messages` with each frame replaced by its deltas, in order (for tests and tools that read the stream)."""
    out: list[Mapping[str, Any]] = []
    for msg in messages:
        if isinstance(msg, Mapping) and msg.get("kind") == "frame":
            out.extend(msg.get("deltas") or [])
        else:
            out.append(msg)
    return out
