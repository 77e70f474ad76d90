"""Checking a value against a record type: the loader's checks, with messages that say where and what."""

import types
from collections.abc import Mapping
from typing import Any, Literal, Union, get_args, get_origin, is_typeddict

from .shape import bare as _bare
from .shape import hints as _hints
from .shape import required


def check(value: Any, record: type, where: str = "record", *, strict: bool = False) -> None:
    """Raise ValueError unless `value` is a `record` (a TypedDict of chatzoo_widget.records): every required field
    there, every field of its declared type, nested records too. The message starts with `where` and the path
    inside, and names the record and the field: "run.json: votes[0].turn: expected int, got str (Vote.turn)".
    Fields the record does not declare are allowed (newer files), unless `strict` (the tests: records the code
    makes declare every key)."""
    _check(value, record, _Path(where), strict)


class _Path:
    """Where a value is: `source: first[1].second` (formatted only when an error needs it)."""

    def __init__(self, source: str, parts: tuple[str | int, ...] = ()):
        self.source, self.parts = source, parts

    def __truediv__(self, part: str | int) -> "_Path":
        return _Path(self.source, (*self.parts, part))

    def __str__(self) -> str:
        inner = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in self.parts).lstrip(".")
        return f"{self.source}: {inner}" if inner else self.source


def _got(value: Any) -> str:
    return {type(None): "null", dict: "object", bool: "bool"}.get(type(value), type(value).__name__)


def _name(tp: Any) -> str:
    """A type as an error message says it."""
    tp = _bare(tp)
    origin = get_origin(tp)
    if tp is type(None):
        return "null"
    if tp is Any:
        return "anything"
    if is_typeddict(tp):
        return f"a {tp.__name__} record (an object)"
    if origin is Literal:
        return " or ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_name(a) for a in get_args(tp))
    if origin is list or tp is list:
        return "list"
    if origin is dict or tp is dict:
        return "object"
    return tp.__name__


def _is_a(value: Any, tp: Any) -> bool:
    """Whether `value` has the scalar type `tp` (JSON's view: an int is a float, a bool is no number)."""
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, tp)


def _structured(tp: Any) -> bool:
    tp = _bare(tp)
    return is_typeddict(tp) or tp in (list, dict) or get_origin(tp) in (list, dict)


def _check(value: Any, tp: Any, at: _Path, strict: bool, owner: str = "") -> None:
    tp = _bare(tp)
    origin = get_origin(tp)
    if tp is Any:
        return
    if is_typeddict(tp):
        _check_record(value, tp, at, strict)
        return
    wrong = ValueError(f"{at}: expected {_name(tp)}, got {_got(value)}" + (f" ({owner})" if owner else ""))
    if origin is Literal:
        if not any(value == a and type(value) is type(a) for a in get_args(tp)):
            raise ValueError(f"{at}: expected {_name(tp)}, got {value!r}" + (f" ({owner})" if owner else ""))
    elif origin in (Union, types.UnionType):
        if value is None:
            if type(None) in get_args(tp):
                return
            raise wrong
        options = [a for a in get_args(tp) if a is not type(None)]
        if len(options) == 1 and _structured(options[0]):  # a nested record's error names its own field
            _check(value, options[0], at, strict, owner)
            return
        for option in options:
            try:
                _check(value, option, at, strict, owner)
                return
            except ValueError:
                pass
        if any(get_origin(_bare(o)) is Literal for o in options) and isinstance(value, (str, int)):
            raise ValueError(f"{at}: expected {_name(tp)}, got {value!r}" + (f" ({owner})" if owner else ""))
        raise wrong
    elif origin is list or tp is list:
        if not isinstance(value, list):
            raise wrong
        for i, item in enumerate(value):
            _check(item, (get_args(tp) or (Any,))[0], at / i, strict, owner)
    elif origin is dict or tp is dict:
        if not isinstance(value, Mapping):
            raise wrong
        item_type = get_args(tp)[1] if get_args(tp) else Any
        for key, item in value.items():
            _check(item, item_type, at / str(key), strict, owner)
    elif not _is_a(value, tp):
        raise wrong


def _check_record(value: Any, record: type, at: _Path, strict: bool) -> None:
    name = record.__name__
    if not isinstance(value, Mapping):
        raise ValueError(f"{at}: expected a {name} record (an object), got {_got(value)}")
    hints = _hints(record)
    for field in required(record):
        if field not in value:
            raise ValueError(f"{at}: missing field {field!r} ({name} records need {', '.join(required(record))})")
    for field, tp in hints.items():
        if field in value:
            _check(value[field], tp, at / field, strict, f"{name}.{field}")
    if strict:
        unknown = [k for k in value if k not in hints]
        if unknown:
            raise ValueError(f"{at}: field {unknown[0]!r} is not declared in records.{name}")
