"""Similarity checks: levenshtein (edit distance at most `threshold`, default 5) and rouge-n (ROUGE-1 F-measure at
least `threshold`, default 0.75), as promptfoo 0.121 computes them."""

from __future__ import annotations

from collections import Counter
from typing import Any

from .context import outcome
from .treebank import treebank_tokens


def _utf16_units(text: str) -> list[int]:
    """The text as JavaScript sees it: UTF-16 code units (an emoji is two), which promptfoo's distance counts."""
    data = text.encode("utf-16-le", "surrogatepass")
    return [int.from_bytes(data[i:i + 2], "little") for i in range(0, len(data), 2)]


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions) over UTF-16 code units, as promptfoo's
    `fastest-levenshtein` counts on JavaScript strings; two rows of the table at a time."""
    ua, ub = _utf16_units(a), _utf16_units(b)
    if len(ua) < len(ub):
        ua, ub = ub, ua
    previous = list(range(len(ub) + 1))
    for i, ca in enumerate(ua, 1):
        current = [i]
        for j, cb in enumerate(ub, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def rouge_n(candidate: str, reference: str, n: int = 1) -> float:
    """promptfoo's ROUGE-N: both texts lower-cased and split by the Penn Treebank tokenizer (js-rouge's), n-grams
    matched with clipped counts, and the F-measure of precision (over the candidate's n-grams) and recall (over
    the reference's); 0 when either text has fewer than n tokens or nothing matches."""
    def grams(text: str) -> list[tuple[str, ...]]:
        tokens = treebank_tokens(text.lower())
        return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
    cand, ref = grams(candidate), grams(reference)
    if not cand or not ref:
        return 0.0
    overlap = sum((Counter(cand) & Counter(ref)).values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(cand), overlap / len(ref)
    return precision if precision == recall else 2 * precision * recall / (precision + recall)


def levenshtein(output: str, value: Any, inverse: bool, threshold: float | None) -> dict[str, Any]:
    if not isinstance(value, str):
        raise ValueError(f'"levenshtein" needs a string value, got {value!r}')
    limit = 5 if threshold is None else threshold  # promptfoo: `threshold ?? 5`, so 0 means equal
    distance = edit_distance(output, value)
    passed = (distance <= limit) != inverse
    if passed:
        return outcome(True, 1.0, "Assertion passed")
    relation = "is less than or equal to" if inverse else "is greater than"
    return outcome(False, 0.0, f"Levenshtein distance {distance} {relation} threshold {limit:g}")


def rouge(output: str, value: Any, inverse: bool, threshold: float | None) -> dict[str, Any]:
    if not isinstance(value, str):
        raise ValueError(f'"rouge-n" needs a string value, got {value!r}')
    limit = 0.75 if threshold is None else threshold
    score = rouge_n(output, value)
    passed = (score >= limit) != inverse
    relation = "is greater than or equal to" if score >= limit else "is less than"
    return outcome(passed, 1 - score if inverse else score,
                   f"ROUGE-N score {score:.2f} {relation} threshold {limit:g}")


def latency(latency_ms: float | None, inverse: bool, threshold: float | None) -> dict[str, Any]:
    """Pass when the reply took at most `threshold` ms (`not-latency`: longer); without a threshold (a metric is
    then required) the score is the latency itself."""
    if latency_ms is None:
        raise ValueError("the reply's latency is unknown")
    if threshold is None:
        return outcome(True, latency_ms, "Assertion passed")
    passed = latency_ms > threshold if inverse else latency_ms <= threshold
    if passed:
        return outcome(True, 1.0, "Assertion passed")
    relation = "is less than or equal to" if inverse else "is greater than"
    return outcome(False, 0.0, f"Latency {latency_ms:.0f}ms {relation} threshold {threshold:g}ms")
