"""`python` checks: a callable, inline code, or `file://path.py[:function]` (default function `get_assert`), called
with the output and a context (`vars`, `prompt`, `latency_ms`, `column`, `id`), as promptfoo does. They run in
this process (promptfoo starts a Python process). The result may be a bool, a number (a score: it passes above
0, or at `threshold` and above), a dict `{pass, score, reason}` or the strings "true"/"false"; an exception fails
the check with its text."""

from __future__ import annotations

import functools
import importlib.util
import pathlib
import textwrap
from collections.abc import Callable, Mapping
from typing import Any

from .context import outcome


def _from_code(code: str) -> Callable[[str, dict], Any]:
    """Inline code, as promptfoo reads it: text without a newline is an expression returned; text with one is
    a function body (`return` the result)."""
    if "\n" not in code:
        body = f"return {code.strip()}"
    else:
        body = textwrap.dedent(code)
    source = "def main(output, context):\n" + textwrap.indent(body, "    ") + "\n"
    namespace: dict[str, Any] = {"json": __import__("json"), "re": __import__("re")}
    exec(compile(source, "<python check>", "exec"), namespace)
    return namespace["main"]


@functools.lru_cache(maxsize=64)
def _from_file(ref: str, base: str) -> Callable[[str, dict], Any]:
    path_text, _, name = ref.removeprefix("file://").partition(":")
    path = pathlib.Path(base, path_text)
    if not path.is_file():
        raise FileNotFoundError(f"no python check file at {str(path)!r}")
    spec = importlib.util.spec_from_file_location(f"chatzoo_check_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fn = getattr(module, name or "get_assert", None)
    if not callable(fn):
        raise ValueError(f"{path.name} has no function {name or 'get_assert'}(output, context)")
    return fn


@functools.lru_cache(maxsize=256)
def _compiled(code: str) -> Callable[[str, dict], Any]:
    return _from_code(code)


def function(value: Any, base: str = ".") -> Callable[[str, dict], Any]:
    if callable(value):
        return value
    if value.startswith("file://"):
        return _from_file(value, base)
    return _compiled(value)


def run_python(value: Any, output: str, context: dict[str, Any], inverse: bool, threshold: float | None,
               base: str = ".") -> dict[str, Any]:
    fn = function(value, base)
    return normalize(fn(output, context), inverse, threshold)


def normalize(result: Any, inverse: bool, threshold: float | None) -> dict[str, Any]:
    """A python check's return value as pass/score/reason (promptfoo's rules)."""
    if isinstance(result, str) and result.strip().lower() in ("true", "false"):
        result = result.strip().lower() == "true"
    if isinstance(result, bool):
        passed = result != inverse
        return outcome(passed, float(passed), "Assertion passed" if passed else f"Python check returned {result}")
    if isinstance(result, (int, float)) or (isinstance(result, str) and _is_number(result)):
        score = float(result)
        raw = score > 0 if threshold is None else score >= threshold
        passed = raw != inverse
        return outcome(passed, score, "Assertion passed" if passed else f"Python check returned {raw}"
                       + (f" (score {score:g}, threshold {threshold:g})" if threshold is not None else ""))
    if isinstance(result, Mapping) and "pass" in result:
        score = float(result.get("score", 1.0 if result["pass"] else 0.0))
        raw = bool(result["pass"])
        reason = str(result.get("reason") or ("Assertion passed" if raw else "Python check failed"))
        if threshold is not None and score < threshold:
            raw, reason = False, f"Python score {score:g} is less than threshold {threshold:g}: {reason}"
        passed = raw != inverse
        if passed != raw:
            reason = "Assertion passed" if passed else f"Python check returned {raw}"
        return outcome(passed, score, reason)
    raise ValueError(f"a python check must return a bool, a number or a dict with 'pass' (and 'score', "
                     f"'reason'); got {result!r}")


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False
