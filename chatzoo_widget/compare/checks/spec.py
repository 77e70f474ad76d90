"""Check specs: promptfoo's assertion objects (`{"type", "value", "weight", "threshold", "metric", ...}`), read and
validated once, before a run starts. A Python callable is short for `{"type": "python", "value": fn}`."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: every check type, by the module that runs it (the `not-` prefix inverts any of them except assert-set)
TEXT_TYPES = ("equals", "contains", "icontains", "contains-any", "contains-all", "icontains-any", "icontains-all",
              "starts-with", "regex")
JSON_TYPES = ("is-json", "contains-json")
SIMILARITY_TYPES = ("levenshtein", "rouge-n")
OTHER_TYPES = ("latency", "python")
GRADED_TYPES = ("llm-rubric", "select-best")
KNOWN_TYPES: tuple[str, ...] = TEXT_TYPES + JSON_TYPES + SIMILARITY_TYPES + OTHER_TYPES + GRADED_TYPES + (
    "assert-set",)
#: the types whose value is required (the others may leave it out)
NEEDS_VALUE = TEXT_TYPES + SIMILARITY_TYPES + ("python", "llm-rubric", "select-best")
KEYS = {"type", "value", "weight", "threshold", "metric", "provider", "assert", "config", "description"}


def known_type(name: str) -> bool:
    """Whether `name` (with or without `not-`) is a check type ChatZoo runs."""
    base = name.removeprefix("not-") if name.startswith("not-") else name
    return base in KNOWN_TYPES and not (name.startswith("not-") and base == "assert-set")


@dataclass
class Check:
    """One validated check. `children` are an assert-set's checks."""

    type: str
    value: Any = None
    weight: float = 1.0
    threshold: float | None = None
    metric: str | None = None
    provider: Any = None
    children: list["Check"] = field(default_factory=list)

    # cached: a batch reads them several times per check and reply
    @functools.cached_property
    def inverse(self) -> bool:
        return self.type.startswith("not-")

    @functools.cached_property
    def base(self) -> str:
        return self.type.removeprefix("not-")

    @property
    def graded(self) -> bool:
        """Needs a grader model (llm-rubric, select-best), here or in an assert-set's children."""
        return self.base in GRADED_TYPES or any(c.graded for c in self.children)


def parse_checks(checks: Any, where: str = "checks") -> list[Check]:
    """Validate a list of check specs; ValueError naming the check and what is wrong with it (an unknown type
    lists the known ones)."""
    if checks is None:
        return []
    if isinstance(checks, (Mapping, str)) or callable(checks):
        checks = [checks]
    if not isinstance(checks, (list, tuple)):
        raise ValueError(f"{where} must be a list of checks (dicts such as {{'type': 'icontains', 'value': 'x'}}), "
                         f"got {type(checks).__name__}")
    return [parse_check(c, f"{where}[{i}]") for i, c in enumerate(checks)]


def parse_check(spec: Any, where: str) -> Check:
    if callable(spec) and not isinstance(spec, Mapping):
        return Check("python", value=spec)
    if isinstance(spec, str):  # a bare type needing no value: "is-json"
        spec = {"type": spec}
    if not isinstance(spec, Mapping):
        raise ValueError(f"{where} must be a dict with a 'type', got {spec!r}")
    kind = spec.get("type")
    if not isinstance(kind, str) or not known_type(kind):
        raise ValueError(f"{where}: unknown check type {kind!r}; known types: {', '.join(KNOWN_TYPES)} "
                         "(each also as not-<type>, except assert-set)")
    unknown = set(spec) - KEYS
    if unknown:
        raise ValueError(f"{where} ({kind}): unknown keys {sorted(unknown)}; allowed: {', '.join(sorted(KEYS))}")
    weight = spec.get("weight", 1)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
        raise ValueError(f"{where} ({kind}): weight must be a number >= 0, got {weight!r}")
    threshold = spec.get("threshold")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))):
        raise ValueError(f"{where} ({kind}): threshold must be a number, got {threshold!r}")
    metric = spec.get("metric")
    if metric is not None and not isinstance(metric, str):
        raise ValueError(f"{where} ({kind}): metric must be a name (str), got {metric!r}")
    check = Check(kind, value=spec.get("value"), weight=float(weight),
                  threshold=None if threshold is None else float(threshold), metric=metric,
                  provider=spec.get("provider"))
    if kind == "assert-set":
        children = spec.get("assert")
        if not isinstance(children, (list, tuple)) or not children:
            raise ValueError(f"{where} (assert-set): 'assert' must be a non-empty list of checks")
        check.children = [parse_check(c, f"{where}.assert[{j}]") for j, c in enumerate(children)]
        if any(c.base == "assert-set" for c in check.children):
            raise ValueError(f"{where} (assert-set): assert-sets do not nest")
        return check
    if check.base in NEEDS_VALUE and (check.value is None or check.value == "" or check.value == []):
        raise ValueError(f"{where} ({kind}) needs a value")
    if check.base == "latency" and check.threshold is None and (check.inverse or not check.metric):
        raise ValueError(f"{where} ({kind}) needs a threshold (milliseconds), or a metric to record the latency")
    if check.base == "python" and not (callable(check.value) or isinstance(check.value, str)):
        raise ValueError(f"{where} (python): value must be a callable, Python code or file://path.py, "
                         f"got {check.value!r}")
    return check

