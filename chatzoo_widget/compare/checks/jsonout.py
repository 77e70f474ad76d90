"""JSON checks: is-json (the whole output is JSON) and contains-json (some JSON inside the text), each with an
optional JSON Schema (a dict, or JSON/YAML text) that the JSON must satisfy."""

from __future__ import annotations

import json
from typing import Any

from .context import outcome

_decoder = json.JSONDecoder()


def extract_json(text: str) -> list[Any]:
    """Every JSON object or array embedded in `text`, left to right (a value inside one found is not repeated)."""
    found, i = [], 0
    while i < len(text):
        if text[i] in "{[":
            try:
                value, end = _decoder.raw_decode(text, i)
            except json.JSONDecodeError:
                i += 1
                continue
            found.append(value)
            i = end
        else:
            i += 1
    return found


def _validator(schema: Any):
    import jsonschema
    if isinstance(schema, str):
        import yaml
        schema = yaml.safe_load(schema)
    if not isinstance(schema, (dict, bool)):
        raise ValueError(f"a JSON schema is a dict (or JSON/YAML text of one), got {schema!r}")
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _has_schema(value: Any) -> bool:
    return value is not None and value != ""


def _errors(validator, value: Any) -> str:
    return "; ".join(e.message for e in validator.iter_errors(value))


def is_json(output: str, value: Any, inverse: bool) -> dict[str, Any]:
    try:
        parsed, ok = json.loads(output), True
    except json.JSONDecodeError:
        parsed, ok = None, False
    if ok and _has_schema(value):
        try:
            validator = _validator(value)
        except Exception as exc:
            return outcome(False, 0.0, f"Invalid JSON schema: {exc}")
        valid = validator.is_valid(parsed)
        passed = valid != inverse
        if not passed:
            return outcome(False, 0.0, "Output is JSON that conforms to the provided schema" if inverse else
                           f"JSON does not conform to the provided schema. Errors: {_errors(validator, parsed)}")
        return outcome(True, 1.0, "Assertion passed")
    passed = ok != inverse
    return outcome(passed, float(passed), "Assertion passed" if passed else "Expected output to be valid JSON")


def contains_json(output: str, value: Any, inverse: bool) -> dict[str, Any]:
    found = extract_json(output)
    passed = (not found) if inverse else bool(found)
    reason = "Expected output to contain valid JSON"
    if found and _has_schema(value):
        try:
            validator = _validator(value)
        except Exception as exc:
            return outcome(False, 0.0, f"Invalid JSON schema: {exc}")
        for item in found:  # the first object that conforms decides
            valid = validator.is_valid(item)
            passed = valid != inverse
            if valid:
                if inverse:
                    reason = "Output contains JSON conforming to the provided schema"
                break
            reason = f"JSON does not conform to the provided schema. Errors: {_errors(validator, item)}"
    return outcome(passed, float(passed), "Assertion passed" if passed else reason)


HANDLERS = {"is-json": is_json, "contains-json": contains_json}
