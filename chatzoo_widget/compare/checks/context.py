"""What a check sees of one reply, and the result it gives."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_MUSTACHE = re.compile(r"\{\{\s*([A-Za-z_][\w.]*)\s*\}\}")


@dataclass
class CheckContext:
    """One reply under check: the output, its row's fields (`vars`), the prompt, latency, and who answered."""

    output: str
    vars: Mapping[str, Any] = field(default_factory=dict)
    prompt: str | None = None
    latency_ms: float | None = None
    column: str | None = None
    row_id: Any = None

    def as_dict(self) -> dict[str, Any]:
        """The `context` a python check receives (promptfoo's names: vars, prompt, test)."""
        return {"vars": dict(self.vars), "prompt": self.prompt, "latency_ms": self.latency_ms,
                "column": self.column, "id": self.row_id, "test": {"vars": dict(self.vars)}}


def outcome(passed: bool, score: float, reason: str) -> dict[str, Any]:
    return {"pass": bool(passed), "score": float(score), "reason": reason}


def binary(hit: bool, inverse: bool, failure: str) -> dict[str, Any]:
    """promptfoo's common shape: pass = hit != inverse, score 1 or 0, the failure message otherwise."""
    passed = hit != inverse
    return outcome(passed, 1.0 if passed else 0.0, "Assertion passed" if passed else failure)


def render_value(value: Any, vars: Mapping[str, Any]) -> Any:
    """`{{name}}` placeholders in a check's value (and in a list's items) filled from the row's fields; a field
    the row lacks raises KeyError with its name."""
    if isinstance(value, str):
        if "{{" not in value:
            return value

        def fill(m: re.Match) -> str:
            cur: Any = vars
            for part in m.group(1).split("."):
                if not isinstance(cur, Mapping) or part not in cur:
                    raise KeyError(m.group(1))
                cur = cur[part]
            return "" if cur is None else str(cur)
        return _MUSTACHE.sub(fill, value)
    if isinstance(value, list):
        return [render_value(v, vars) for v in value]
    return value
