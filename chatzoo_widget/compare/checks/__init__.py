"""Checks on replies, with promptfoo's assertion names and semantics.

    from chatzoo_widget.compare.checks import evaluate, parse_checks, CheckContext
    evaluate(parse_checks([{"type": "icontains", "value": "{{answer}}"}, {"type": "is-json"}]),
             CheckContext("Paris.", vars={"answer": "paris"}))
    -> {"pass": False, "score": 0.5, "reason": "Expected output to be valid JSON", "metrics": {},
        "checks": [{"type": "icontains", "pass": True, ...}, {"type": "is-json", "pass": False, ...}]}

Types: equals, contains, icontains, contains-any, contains-all, icontains-any, icontains-all, starts-with, regex,
is-json, contains-json, levenshtein, rouge-n, latency, python, llm-rubric, select-best, assert-set; `not-<type>`
inverts; each check may carry `weight`, `threshold` and `metric`. String values fill `{{field}}` from the row.
Scoring: scoring.py. A check that cannot run (a python check that raises, a grader that cannot be reached) fails
with its reason and `error` set; the others are unaffected.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ...manager import format_error
from . import jsonout, similarity, text
from .context import CheckContext, render_value
from .scoring import aggregate
from .script import run_python
from .spec import KNOWN_TYPES, Check, known_type, parse_checks

#: a grader for llm-rubric: (check, context) -> {pass, score, reason}; it may raise (the check becomes an error)
Grader = Callable[[Check, CheckContext], dict]


def run_check(check: Check, ctx: CheckContext, grader: Grader | None = None, base: str = ".") -> dict[str, Any]:
    """One check on one reply -> {type, pass, score, reason, metric, weight, error} (never raises)."""
    kind = check.base
    if kind == "assert-set":
        record: dict[str, Any] = {"type": check.type, "metric": check.metric, "weight": check.weight, "error": None}
        children = [run_check(c, ctx, grader, base) for c in check.children]
        result = aggregate(children, check.threshold)
        record.update(result, checks=children)
        record.pop("metrics", None)
        return _weight_zero(check, record)
    try:
        value = check.value if kind == "python" else render_value(check.value, ctx.vars)
    except KeyError as exc:
        return _failed(check, f"the row has no field {exc.args[0]!r} (in the check's value {check.value!r})")
    try:
        on_output = _ON_OUTPUT.get(kind)  # most checks read the output alone: one lookup, one call
        result = (on_output(ctx.output, value, check.inverse) if on_output is not None
                  else _dispatch(check, value, ctx, grader, base))
    except Exception as exc:  # the check could not run: it fails with the reason, the others go on
        prefix = "Python check failed" if kind == "python" else f"{kind} could not run"
        return _failed(check, f"{prefix}: {format_error(exc)}")
    record = {"type": check.type, "metric": check.metric, "weight": check.weight, "error": None,
              "pass": result["pass"] if check.weight else True,  # weight 0: a metric only, never fails
              "score": result["score"], "reason": result["reason"]}
    if len(result) > 3:  # a check's own extra fields
        record.update((k, v) for k, v in result.items() if k not in _OUTCOME)
    return record


_OUTCOME = ("pass", "score", "reason")
_ON_OUTPUT = {**text.HANDLERS, **jsonout.HANDLERS}


def _dispatch(check: Check, value: Any, ctx: CheckContext, grader: Grader | None, base: str) -> dict[str, Any]:
    kind, inverse = check.base, check.inverse
    if kind == "python":
        return run_python(value, ctx.output, ctx.as_dict(), inverse, check.threshold, base)
    if kind == "levenshtein":
        return similarity.levenshtein(ctx.output, value, inverse, check.threshold)
    if kind == "rouge-n":
        return similarity.rouge(ctx.output, value, inverse, check.threshold)
    if kind == "latency":
        return similarity.latency(ctx.latency_ms, inverse, check.threshold)
    if kind == "llm-rubric":
        if grader is None:
            raise RuntimeError("llm-rubric needs a grader: give the check a 'provider' or run_batch(grader=...)")
        result = grader(Check(check.type, value=value, threshold=check.threshold, provider=check.provider), ctx)
        passed = bool(result["pass"]) and (check.threshold is None or result["score"] >= check.threshold)
        return {"pass": passed != inverse, "score": result["score"], "reason": result["reason"]}
    raise ValueError(f"{kind} is scored across the columns, not on one reply")


def _failed(check: Check, reason: str) -> dict[str, Any]:
    return {"type": check.type, "metric": check.metric, "weight": check.weight, "error": reason,
            "pass": False, "score": 0.0, "reason": reason}


def _weight_zero(check: Check, record: dict[str, Any]) -> dict[str, Any]:
    if check.weight == 0:  # promptfoo: a weight-0 check is a metric only and never fails
        record["pass"] = True
    return record


def evaluate(checks: Sequence[Check], ctx: CheckContext, *, threshold: float | None = None,
             grader: Grader | None = None, base: str = ".", extra: Sequence[dict[str, Any]] = ()
             ) -> dict[str, Any]:
    """Run `checks` on one reply -> {pass, score, reason, metrics, checks}; select-best checks are left for
    `extra` (results decided across the columns)."""
    results = [run_check(c, ctx, grader, base) for c in checks if c.base != "select-best"]
    results.extend(extra)
    total = aggregate(results, threshold)
    total["checks"] = results
    return total


__all__ = ["Check", "CheckContext", "Grader", "KNOWN_TYPES", "aggregate", "evaluate", "known_type",
           "parse_checks", "run_check"]
