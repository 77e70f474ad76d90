"""`js/src/records.ts`: the record types as TypeScript interfaces."""

import types
from typing import Any, Literal, Union, get_args, get_origin, is_typeddict

from .shape import bare as _bare
from .shape import doc as _doc
from .shape import hints as _hints

TS_HEADER = ("// Generated from the record types in chatzoo_widget/records/, do not edit:\n"
             "//   python -m chatzoo_widget.records --ts > js/src/records.ts\n"
             "// (tests/test_records.py fails while this file is out of date).\n")


def _ts(tp: Any) -> str:
    tp = _bare(tp)
    origin = get_origin(tp)
    if tp is Any:
        return "unknown"
    if tp is type(None):
        return "null"
    if is_typeddict(tp):
        return tp.__name__
    if tp in (int, float):
        return "number"
    if tp is str:
        return "string"
    if tp is bool:
        return "boolean"
    if origin is Literal:
        return " | ".join(f'"{a}"' if isinstance(a, str) else str(a).lower() for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " | ".join(dict.fromkeys(_ts(a) for a in get_args(tp)))
    if origin is list or tp is list:
        item = _ts((get_args(tp) or (Any,))[0])
        return f"({item})[]" if " " in item else f"{item}[]"
    if origin is dict or tp is dict:
        return f"Record<string, {_ts(get_args(tp)[1]) if get_args(tp) else 'unknown'}>"
    raise TypeError(f"no TypeScript for {tp!r}")


def _ts_interface(record: type) -> str:
    lines = [f"/** {' '.join((record.__doc__ or record.__name__).split())} */"]
    lines.append(f"export interface {record.__name__} {{")
    for field, tp in _hints(record).items():
        doc = _doc(tp)
        if doc:
            lines.append(f"  /** {doc} */")
        optional = "" if field in record.__required_keys__ else "?"
        lines.append(f"  {field}{optional}: {_ts(tp)};")
    lines.append("}")
    return "\n".join(lines)


def typescript(records: tuple[type, ...] | None = None) -> str:
    """`js/src/records.ts`: an interface per record type (default: every one, `RECORDS`); optional fields are `?`."""
    if records is None:
        from . import RECORDS as records
    return TS_HEADER + "".join(f"\n{_ts_interface(r)}\n" for r in records)
