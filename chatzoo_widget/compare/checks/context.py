"""What a check sees of one reply, and the result it gives."""

from __future__ import annotations

import functools
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


def passed() -> dict[str, Any]:
    return {"pass": True, "score": 1.0, "reason": "Assertion passed"}


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
        parts = _template(value)
        out = [parts[0]]
        for i in range(1, len(parts), 2):
            cur: Any = vars
            for part in parts[i]:
                if not isinstance(cur, Mapping) or part not in cur:
                    raise KeyError(".".join(parts[i]))
                cur = cur[part]
            out.append("" if cur is None else str(cur))
            out.append(parts[i + 1])
        return "".join(out)
    if isinstance(value, list):
        return [render_value(v, vars) for v in value]
    return value


@functools.lru_cache(maxsize=1024)
def _template(value: str) -> tuple:
    """A value's text split once (a batch fills the same few values for every reply): literal text at even
    places, each placeholder's field path (a tuple of names) between them."""
    parts: list[Any] = []
    pos = 0
    for m in _MUSTACHE.finditer(value):
        parts += [value[pos:m.start()], tuple(m.group(1).split("."))]
        pos = m.end()
    parts.append(value[pos:])
    return tuple(parts)
