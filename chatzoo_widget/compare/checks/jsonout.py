"""JSON checks: is-json (the whole output is JSON) and contains-json (some JSON inside the text), each with an
optional JSON Schema (a dict, or JSON/YAML text) that the JSON must satisfy."""

from __future__ import annotations

import json
from typing import Any

from .context import outcome

MAX_JSON_CHARS = 100_000  # promptfoo looks this far past an opening brace


def extract_json(text: str) -> list[Any]:
    """The JSON objects embedded in `text`, left to right, found as promptfoo's extractJsonObjects finds them: from
    each `{`, the span up to its balancing `}` (braces in strings count too; at the end of the text the missing
    `}` are added) read as YAML flow (so `{'a': 1}` and `{a: 1}` count, `//` comments are dropped); arrays alone
    are not objects."""
    found, i = [], 0
    while i < len(text):
        if text[i] != "{":
            i += 1
            continue
        depth, j, end = 1, i + 1, min(i + MAX_JSON_CHARS, len(text))
        while j < end and depth > 0:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
            if depth == 0 or j == end:
                value = _lenient_object(text[i:j] + "}" * depth)
                if value is not None:
                    found.append(value)
                    i = j - 1
                    break
                if depth == 0:
                    break
        i += 1
    return found


def _lenient_object(span: str) -> Any:
    """`span` parsed as JSON, else as YAML flow (js-yaml's reading in promptfoo) -> a dict or list, or None."""
    try:
        value = json.loads(span)
    except json.JSONDecodeError:
        import yaml
        try:
            value = yaml.safe_load(_slash_comments_to_hash(span))
        except yaml.YAMLError:
            return None
    return value if isinstance(value, (dict, list)) else None


def _slash_comments_to_hash(text: str) -> str:
    """promptfoo's convertSlashCommentsToHash: `// note` outside quotes (and not in a URL) becomes `# note`."""
    lines = []
    for line in text.split("\n"):
        out, state, k = "", "normal", 0
        while k < len(line):
            ch, prev = line[k], line[k - 1] if k else ""
            nxt = line[k + 1] if k + 1 < len(line) else ""
            if state == "normal":
                if ch == "'" and not (prev.isascii() and prev.isalpha()):
                    state = "single"
                elif ch == '"':
                    state = "double"
                elif ch == "/" and nxt == "/":
                    start = max((m for m in range(k) if line[m].isspace()), default=-1) + 1
                    if "://" not in line[start:k + 2]:  # not a URL
                        slashes = len(line[k:]) - len(line[k:].lstrip("/"))
                        out += "#" * (slashes // 2) + line[k + slashes:]
                        break
            elif state == "single" and ch == "'" and not _escaped(line, k) \
                    and not (nxt.isascii() and nxt.isalpha()):
                state = "normal"
            elif state == "double" and ch == '"' and not _escaped(line, k):
                state = "normal"
            out += ch
            k += 1
        lines.append(out)
    return "\n".join(lines)


def _escaped(line: str, k: int) -> bool:
    backslashes = len(line[:k]) - len(line[:k].rstrip("\\"))
    return backslashes % 2 == 1


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
