"""Reading a record type: its fields, which are required, each one's type and documentation."""

import functools
from typing import Annotated, Any, NotRequired, Required, get_args, get_origin, get_type_hints


@functools.cache
def hints(record: type) -> dict[str, Any]:
    """Each field's declared type (with its Annotated documentation), in declaration order."""
    return get_type_hints(record, include_extras=True)


def fields(record: type) -> tuple[str, ...]:
    """The fields of a record type, in declaration order (a base class's first)."""
    return tuple(hints(record))


def required(record: type) -> tuple[str, ...]:
    """The fields every record of this type has."""
    return tuple(f for f in hints(record) if f in record.__required_keys__)


def bare(tp: Any) -> Any:
    """The type without Required/NotRequired/Annotated around it."""
    while get_origin(tp) in (Required, NotRequired, Annotated):
        tp = get_args(tp)[0]
    return tp


def doc(tp: Any) -> str | None:
    """A field's documentation: the text in its Annotated[...]."""
    while get_origin(tp) in (Required, NotRequired):
        tp = get_args(tp)[0]
    if get_origin(tp) is Annotated:
        return next((m for m in tp.__metadata__ if isinstance(m, str)), None)
    return None
