"""Token ids to text, a few at a time, in work that does not grow with the reply.

Decoding all of a reply's ids at every step costs more per token the longer the reply gets. Decoding only the new
ids alone is wrong for many tokenizers: SentencePiece drops the leading space of a window's first piece, and a
byte-fallback or byte-level token may carry half a UTF-8 character. So, as vLLM and text-generation-inference do,
two windows that start at the same id are decoded, and the new text is where the longer one goes past the shorter:

    ids:      ... | shown before | shown last step | new ids
                  ^ prefix       ^ read
    new text = decode(ids[prefix:]) minus decode(ids[prefix:read])

Whatever a tokenizer does to the start of a window (drop a space, show a stray continuation byte as U+FFFD) it
does to both windows alike, so it cancels out. A window that ends in U+FFFD may end in half a character: those
U+FFFD wait for the next ids (the flush shows them: then the model really wrote invalid bytes), what comes before
them shows at once. After a step whose text is whole, the next windows start where this step's new ids did, so each
step decodes the ids of the last two steps, however long the reply; a window never spans more than `MAX_WINDOW`.
"""

from __future__ import annotations

from typing import Any, Iterable

REPLACEMENT = "\ufffd"
#: most ids a window spans while its text keeps ending in half a character (then it starts closer to the end)
MAX_WINDOW = 32
#: bytes of a UTF-8 character that can arrive before the ids that complete it
MAX_PARTIAL = 3


def special_ids(tokenizer: Any) -> frozenset[int]:
    """The ids `decode(..., skip_special_tokens=True)` leaves out: the special tokens, and added tokens marked
    special."""
    ids = set(getattr(tokenizer, "all_special_ids", None) or ())
    added = getattr(tokenizer, "added_tokens_decoder", None) or {}
    ids.update(i for i, token in added.items() if getattr(token, "special", False))
    return frozenset(ids)


class IncrementalDetokenizer:
    """Turns the ids of one reply, as they come, into text deltas whose concatenation is the reply's whole decode
    (`tokenizer.decode(ids, skip_special_tokens=...)`).

    Args:
        tokenizer: anything with `decode(ids, skip_special_tokens=...)` (transformers fast or slow tokenizers,
            ChatZoo's native ChatGLM-6B and MOSS tokenizers).
        skip_special_tokens: leave special tokens out of the text, as the one-shot decode does.
    """

    def __init__(self, tokenizer: Any, *, skip_special_tokens: bool = True):
        self.tokenizer = tokenizer
        self.skip_special_tokens = skip_special_tokens
        # Skipped ids never enter the windows: a window that started at one would decode its first real piece as
        # a window's first (SentencePiece drops that piece's space) while the reply's decode does not.
        self._skipped = special_ids(tokenizer) if skip_special_tokens else frozenset()
        self.ids: list[int] = []
        self._prefix = 0  # the windows start here
        self._read = 0  # the ids decoded so far
        self._held = 0  # characters at the end of decode(prefix:read) not shown yet (half a character)
        #: False once a window's decode changed text shown before (then the deltas may differ from the decode)
        self.consistent = True
        #: ids decoded by the last `push` (both windows): bounded by the recent steps, not the reply's length
        self.last_decoded = 0

    def _decode(self, start: int, end: int) -> str:
        if start >= end:
            return ""
        self.last_decoded += end - start
        return self.tokenizer.decode(self.ids[start:end], skip_special_tokens=self.skip_special_tokens)

    def push(self, new_ids: Iterable[int]) -> str:
        """Add the next ids; returns the text they complete ("" while a character is still half)."""
        skipped = self._skipped
        self.ids.extend(i for i in new_ids if i not in skipped)
        self.last_decoded = 0
        return self._step(final=False)

    def flush(self) -> str:
        """The text still held back at the end of the reply (an incomplete character shows as U+FFFD)."""
        self.last_decoded = 0
        return self._step(final=True)

    def _step(self, final: bool) -> str:
        end = len(self.ids)
        if end == self._read and not (final and self._held):
            return ""
        shown = self._decode(self._prefix, self._read)
        text = self._decode(self._prefix, end)
        done = len(shown) - self._held  # text[:done] is on screen
        if not text.startswith(shown[:done]):
            # The tokenizer changed text it had already shown (none of ChatZoo's does): the part past the old
            # length is the best guess; the reply's final text is checked against a one-shot decode (`text.reply`).
            self.consistent = False
        if not final and text.endswith(REPLACEMENT):
            # Only the last few U+FFFD can be half a character (one per byte for SentencePiece, one in all for
            # byte-level BPE; 3 bytes at most): show the rest, keep the windows' start.
            self._held = min(len(text) - len(text.rstrip(REPLACEMENT)), MAX_PARTIAL, max(len(text) - done, 0))
            self._read = end
            if end - self._prefix > MAX_WINDOW:
                # A long run of steps that each end inside a character: the half character lies in the last
                # MAX_PARTIAL ids, and everything before it is shown, so a window may start just before them.
                self._prefix = end - MAX_PARTIAL - 1
            return text[done:len(text) - self._held]
        # Whole text: the next windows start where this step's new ids did.
        self._prefix, self._read, self._held = self._read, end, 0
        return text[done:]


__all__ = ["IncrementalDetokenizer", "MAX_WINDOW", "special_ids"]
