"""A reply's checks into one pass, score and reason, as promptfoo's AssertionsResult computes them.

- score: the weighted mean of the checks' scores (weight 1 unless given; 0 when every weight is 0);
- pass: no check failed, or, with a threshold (promptfoo's test `threshold`), score >= threshold instead;
- reason: the last failing check's reason, "All assertions passed", or the threshold comparison;
- a check of weight 0 counts for nothing and never fails (a metric only);
- an assert-set is scored the same way over its own checks (its own threshold), then enters the row as one check
  with the set's weight and metric;
- metrics: each named `metric`'s weighted mean score.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def aggregate(results: Sequence[dict[str, Any]], threshold: float | None = None) -> dict[str, Any]:
    """Combine check results (each with pass, score, reason, weight, metric) -> {pass, score, reason, metrics}."""
    total_score = total_weight = 0.0
    failed: str | None = None
    named: dict[str, list[float]] = {}
    for r in results:
        weight = r.get("weight", 1.0)
        total_score += r["score"] * weight
        total_weight += weight
        if r.get("metric"):
            acc = named.setdefault(r["metric"], [0.0, 0.0])
            acc[0] += r["score"] * weight
            acc[1] += weight
        if not r["pass"]:
            failed = r["reason"]
    score = total_score / total_weight if total_weight > 0 else 0.0
    passed, reason = failed is None, failed or "All assertions passed"
    if threshold is not None:
        passed = score >= threshold
        reason = f"Aggregate score {score:.2f} {'≥' if passed else '<'} {threshold:g} threshold"
    metrics = {name: (s / w if w > 0 else 0.0) for name, (s, w) in named.items()}
    return {"pass": passed, "score": score, "reason": reason, "metrics": metrics}
