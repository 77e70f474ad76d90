"""Token probabilities as a reply entry keeps them: ids and scores from the engine -> `records.TokenLogprob` dicts.

Each token is `{"token", "logprob", "bytes", "id", "top_logprobs": [{"token", "logprob", "bytes", "id"}]}`, the
shape of OpenAI's ChatCompletionTokenLogprob plus the token id (what a branch from an alternative feeds the model).
`bytes` are the token's own UTF-8 bytes: a character split over two tokens has half its bytes in each, and `token`
shows the incomplete part as U+FFFD.
"""

from __future__ import annotations

import json
import math
import re
from typing import TYPE_CHECKING, Any, Iterable, Sequence

if TYPE_CHECKING:  # the engine (torch) is not imported for remote bots
    from ..engine.sampling import TokenScores

_BYTE_PIECE = re.compile(r"<0x([0-9A-Fa-f]{2})>")  # sentencepiece's byte fallback
_SPACE = "\u2581"  # sentencepiece's word boundary


def _byte_level_decoder() -> dict[str, int]:
    """GPT-2's byte-level alphabet, reversed: the printable character each byte is spelled with -> the byte."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return {c: b for b, c in chars.items()}


_BYTE_LEVEL = _byte_level_decoder()


def _is_byte_level(tokenizer: Any) -> bool:
    if getattr(tokenizer, "byte_decoder", None):
        return True
    backend = getattr(tokenizer, "backend_tokenizer", None)
    try:
        return backend is not None and "ByteLevel" in json.dumps(json.loads(backend.to_str()).get("decoder"))
    except (AttributeError, TypeError, ValueError):
        return False


class TokenTexts:
    """Token id -> (text, bytes) in one tokenizer's vocabulary, cached (a reply repeats most of its tokens)."""

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer
        self.byte_level = _is_byte_level(tokenizer)
        self._cache: dict[int, tuple[str, list[int]]] = {}

    def __call__(self, token_id: int) -> tuple[str, list[int]]:
        found = self._cache.get(token_id)
        if found is None:
            raw = self._bytes(token_id)
            found = self._cache[token_id] = (raw.decode("utf-8", errors="replace"), list(raw))
        return found

    def _bytes(self, token_id: int) -> bytes:
        piece = self.tokenizer.convert_ids_to_tokens(int(token_id))
        if not isinstance(piece, str):
            return self.tokenizer.decode([int(token_id)]).encode("utf-8")
        byte = _BYTE_PIECE.fullmatch(piece)
        if byte:
            return bytes([int(byte.group(1), 16)])
        if self.byte_level and all(c in _BYTE_LEVEL for c in piece):
            return bytes(_BYTE_LEVEL[c] for c in piece)
        if _SPACE in piece:
            return piece.replace(_SPACE, " ").encode("utf-8")
        text = self.tokenizer.decode([int(token_id)], skip_special_tokens=False)
        return (text if "\ufffd" not in text or not piece else piece).encode("utf-8")


def token_entry(token_id: int, scores: "TokenScores", texts: TokenTexts) -> dict[str, Any]:
    """One generated token as the reply entry keeps it."""
    text, raw = texts(token_id)
    top = []
    for alt_id, logprob in zip(scores.top_ids, scores.top_logprobs):
        alt_text, alt_raw = texts(alt_id)
        top.append({"token": alt_text, "logprob": _finite(logprob), "bytes": alt_raw, "id": int(alt_id)})
    return {"token": text, "logprob": _finite(scores.logprob), "bytes": raw, "id": int(token_id),
            "top_logprobs": top}


def _finite(x: float) -> float:
    # JSON has no -inf; OpenAI's clients and ours expect a number: -9999 is what the OpenAI API sends for "never".
    return float(x) if math.isfinite(x) else -9999.0


def reply_logprob_stats(tokens: Iterable[dict[str, Any]]) -> tuple[float | None, float | None]:
    """(mean log-probability per token, perplexity = exp(-mean)) of a reply's tokens; (None, None) for none."""
    values = [float(t["logprob"]) for t in tokens]
    if not values:
        return None, None
    mean = sum(values) / len(values)
    return mean, math.exp(-mean)


def openai_content(tokens: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Token entries as OpenAI's `logprobs.content` (the id, ours, left out)."""
    return [{"token": t["token"], "logprob": t["logprob"], "bytes": t["bytes"],
             "top_logprobs": [{"token": a["token"], "logprob": a["logprob"], "bytes": a["bytes"]}
                              for a in t.get("top_logprobs") or ()]} for t in tokens]


def from_openai_content(content: Any) -> list[dict[str, Any]] | None:
    """A server's `logprobs.content` as token entries (no ids), or None when it holds none in that shape."""
    if not isinstance(content, list):
        return None
    out = []
    for item in content:
        if not isinstance(item, dict) or not isinstance(item.get("logprob"), (int, float)):
            return None
        top = [{"token": str(a.get("token", "")), "logprob": float(a["logprob"]), "bytes": _bytes_of(a)}
               for a in item.get("top_logprobs") or () if isinstance(a, dict)
               and isinstance(a.get("logprob"), (int, float))]
        out.append({"token": str(item.get("token", "")), "logprob": float(item["logprob"]),
                    "bytes": _bytes_of(item), "top_logprobs": top})
    return out


def _bytes_of(item: dict[str, Any]) -> list[int] | None:
    raw = item.get("bytes")
    if isinstance(raw, list) and all(isinstance(b, int) for b in raw):
        return raw
    token = item.get("token")
    return list(token.encode("utf-8")) if isinstance(token, str) else None


class ReplyTokens:
    """The token entries of one streaming reply, filled as ids arrive (`stats.tokens` is `self.tokens`).

    scores: the engine's TokenScores list for this reply, one per id once that id is sent (it may lag by one in
    the run-alone path: a token is scored when the next is picked, or at the end). A final end-of-sequence token is
    left out: it is not part of the reply's text (so it is held back while it is the last id received).
    """

    def __init__(self, texts: TokenTexts, scores: Sequence["TokenScores"], eos: Iterable[int] = ()):
        self.texts, self.scores, self.eos = texts, scores, frozenset(eos)
        self.ids: list[int] = []
        self.tokens: list[dict[str, Any]] = []

    def update(self, ids: Sequence[int]) -> None:
        self.ids.extend(ids)
        ready = min(len(self.ids), len(self.scores))
        if ready == len(self.ids) and self.ids and self.ids[-1] in self.eos:
            ready -= 1
        for n in range(len(self.tokens), ready):
            self.tokens.append(token_entry(self.ids[n], self.scores[n], self.texts))

    def finish(self) -> None:
        """Take the scores that came last (the run-alone path scores its last token at the end)."""
        self.update([])
