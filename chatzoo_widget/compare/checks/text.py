"""String checks with promptfoo's semantics: equals, contains (and i-, -any, -all), starts-with, regex (in
JavaScript's dialect, jsregex.py)."""

from __future__ import annotations

import csv
import json
from typing import Any

from .context import binary, outcome, passed
from .jsregex import JSRegexError, compile_js


def _listed(value: Any) -> list[str]:
    """A list value, or a comma-separated string (quotes keep commas in an item), as promptfoo reads them."""
    if isinstance(value, str):
        return [v.strip() for v in next(csv.reader([value], skipinitialspace=True)) if v.strip()]
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    raise ValueError(f"needs a list of strings (or a comma-separated string), got {value!r}")


def _scalar(kind: str, value: Any) -> str:
    if value.__class__ is str and value:  # the common case, checked first: every reply of a batch comes here
        return value
    if isinstance(value, bool) or not isinstance(value, (str, int, float)) or value == "":
        raise ValueError(f'"{kind}" needs a string or number value, got {value!r}')
    return str(value)


def equals(output: str, value: Any, inverse: bool) -> dict[str, Any]:
    if isinstance(value, (dict, list)):  # an object: the output parsed as JSON must equal it
        try:
            hit = json.loads(output) == value
        except json.JSONDecodeError:
            hit = False
        shown = json.dumps(value)
    else:
        shown = str(value)
        hit = output == shown
    return binary(hit, inverse, f'Expected output "{output}" to {"not " if inverse else ""}equal "{shown}"')


def contains(output: str, value: Any, inverse: bool, *, fold: bool = False) -> dict[str, Any]:
    needle = _scalar("icontains" if fold else "contains", value)
    hit = needle.lower() in output.lower() if fold else needle in output
    if hit != inverse:  # the message is only built for a failure
        return passed()
    return outcome(False, 0.0, f'Expected output to {"not " if inverse else ""}contain "{needle}"')


def icontains(output: str, value: Any, inverse: bool) -> dict[str, Any]:
    return contains(output, value, inverse, fold=True)


def contains_any(output: str, value: Any, inverse: bool, *, fold: bool = False) -> dict[str, Any]:
    items = _listed(value)
    text = output.lower() if fold else output
    hit = any((v.lower() if fold else v) in text for v in items)
    return binary(hit, inverse, f'Expected output to {"not " if inverse else ""}contain one of "{", ".join(items)}"')


def contains_all(output: str, value: Any, inverse: bool, *, fold: bool = False) -> dict[str, Any]:
    items = _listed(value)
    text = output.lower() if fold else output
    missing = [v for v in items if (v.lower() if fold else v) not in text]
    return binary(not missing, inverse, f'Expected output to {"not " if inverse else ""}contain all of '
                                        f'[{", ".join(items)}]. Missing: [{", ".join(missing)}]')


def starts_with(output: str, value: Any, inverse: bool) -> dict[str, Any]:
    prefix = _scalar("starts-with", value)
    return binary(output.startswith(prefix), inverse,
                  f'Expected output to {"not " if inverse else ""}start with "{prefix}"')


def regex(output: str, value: Any, inverse: bool) -> dict[str, Any]:
    pattern = _scalar("regex", value)
    try:
        compiled = compile_js(pattern)  # promptfoo's `new RegExp(value)`: JavaScript's dialect
    except JSRegexError as exc:
        return outcome(False, 0.0, f"Invalid regex pattern: {exc}")
    if (compiled.search(output) is not None) != inverse:
        return passed()
    return outcome(False, 0.0, f'Expected output to {"not " if inverse else ""}match regex "{pattern}"')


HANDLERS = {
    "equals": equals,
    "contains": contains,
    "icontains": icontains,
    "contains-any": contains_any,
    "icontains-any": lambda o, v, i: contains_any(o, v, i, fold=True),
    "contains-all": contains_all,
    "icontains-all": lambda o, v, i: contains_all(o, v, i, fold=True),
    "starts-with": starts_with,
    "regex": regex,
}
