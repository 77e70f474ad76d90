"""Similarity checks: levenshtein (edit distance at most `threshold`, default 5) and rouge-n (unigram recall of the
reference at least `threshold`, default 0.75), with promptfoo's defaults."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from .context import outcome

# close to the Penn Treebank tokenizer js-rouge uses: words (with inner apostrophes) and punctuation marks
_TOKEN = re.compile(r"\w+(?:'\w+)?|[^\w\s]")


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions), two rows of the table at a time."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def rouge_n(candidate: str, reference: str, n: int = 1) -> float:
    """ROUGE-N as js-rouge computes it: n-grams of the reference also in the candidate (each counted as often as
    it occurs in both), over the reference's n-grams. Case-sensitive."""
    def grams(text: str) -> Counter:
        tokens = _TOKEN.findall(text)
        return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))
    ref = grams(reference)
    total = sum(ref.values())
    return sum((grams(candidate) & ref).values()) / total if total else 0.0


def levenshtein(output: str, value: Any, inverse: bool, threshold: float | None) -> dict[str, Any]:
    if not isinstance(value, str):
        raise ValueError(f'"levenshtein" needs a string value, got {value!r}')
    limit = threshold or 5
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
    score = rouge_n(output, value) if output and value else 0.0
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
