"""The records ChatZoo Widget keeps, exports and reloads, declared once.

Records stay plain dicts (what `w.history`, `w.entries`, `w.stats`, `w.votes`, `w.judgments` and `df.attrs` give
you); their shapes are the TypedDicts below, and everything else follows from them:

- `check(value, Record, where)` validates a record (the loader's checks): a ValueError names the place, the
  record and the field that is missing or of the wrong type;
- the tables' columns (`TABLE_COLUMNS`, `BATCH_COLUMNS`) are the fields of `TableRow` and `BatchRow`;
- `js/src/records.ts`, the front end's copy, is generated: `python -m chatzoo_widget.records --ts > js/src/records.ts`
  (a test fails while it is out of date).

A field that is not `Required` may be missing: records written by older versions lack the fields added since, and
the loader fills them (`LOAD_DEFAULTS`). `Annotated[T, "text"]` documents a field; the text goes to TypeScript.
"""

import sys
import types
from collections.abc import Mapping
from typing import (Annotated, Any, Literal, NotRequired, Required, TypedDict, Union, get_args, get_origin,
                    get_type_hints, is_typeddict)

FORMAT = "chatzoo-widget/comparison"
VERSION = 1


# ----- a reply and its history entry --------------------------------------------------------------
class Stats(TypedDict, total=False):
    """Statistics of one reply (`ReplyStats.to_dict()`: `w.stats`, a reply's `stats`)."""

    prompt_tokens: int | None
    new_tokens: int | None
    time_to_first_token: Annotated[float | None, "seconds from the call to the first text"]
    tokens_per_second: Annotated[float | None, "new tokens over the time after the first one"]
    total_time: float | None
    finish_reason: Annotated[str | None, "stop | length | cancelled | error"]
    dropped_turns: Annotated[int | None, "oldest turns left out: the history was longer than the context"]
    batched: Annotated[bool | None, "decoded in the model's shared batch (null: not a local model)"]
    error: str | None
    reasoning_tokens: Annotated[int | None, "of new_tokens, those spent thinking"]


class Entry(TypedDict):
    """One entry of a column's history (`w.history`, `w.entries`): a prompt (HUMAN) or a reply (BOT)."""

    role: Literal["HUMAN", "BOT"]
    content: Annotated[str, "a reply's answer (its thinking is in `reasoning`)"]
    turn: int
    stats: NotRequired[Annotated[Stats | None, "BOT entries"]]
    rendered_prompt: NotRequired[Annotated[
        str | None, "the exact text the model received (remote columns: the messages sent, as JSON)"]]
    prompt_tokens: NotRequired[int | None]
    reasoning: NotRequired[Annotated[str | None, "the thinking, apart from the answer"]]
    reasoning_unfinished: NotRequired[Annotated[bool, "the thinking block was never closed"]]
    continued_with: NotRequired[Annotated[
        str | None, "the column whose reply the conversation continued with; `alternatives[0]` is this column's own"]]
    alternatives: NotRequired[list["Entry"]]
    edited: NotRequired[Annotated[list["EditedTurn"], "HUMAN entries: the turns this prompt replaced by an edit"]]


class EditedTurn(TypedDict):
    """A turn replaced by an edit of its prompt (kept in the new prompt's `edited`)."""

    turn: int
    prompt: str
    reply: Entry | None


class Message(TypedDict):
    """One message of what a model saw before a prompt."""

    role: str
    content: str


# ----- votes, thumbs, judgments ----------------------------------------------------------------------
class ReplyRecord(TypedDict):
    """What a vote or a judgment keeps of one column's reply, so the record stands alone."""

    name: str
    model: str
    settings: dict[str, Any]
    reply: str
    id: NotRequired[str]
    system_prompt: NotRequired[str]
    label: NotRequired[Annotated[str | None, "the arena label (\"Model A\"...), null outside an arena"]]
    turn: NotRequired[int]
    prompt: NotRequired[str]
    history: NotRequired[Annotated[list[Message], "what the model saw before the prompt"]]
    stats: NotRequired[Stats]
    reasoning: NotRequired[str | None]
    rendered_prompt: NotRequired[str | None]
    status: NotRequired[Annotated[str, "batch runs: done | error | cancelled | timeout"]]


class Vote(TypedDict):
    """A vote on one finished turn (`w.votes`)."""

    conversation: str
    turn: int
    choice: Annotated[str, "a column name, \"tie\" or \"bad\""]
    prompt: str
    columns: list[ReplyRecord]
    outcome: NotRequired[Literal["best", "tie", "bad"]]
    winner: NotRequired[str | None]
    blind: NotRequired[Annotated[bool, "cast while the arena hid the names"]]
    timestamp: NotRequired[str | None]


class Thumb(TypedDict):
    """A thumb up (+1) or down (-1) on one reply."""

    conversation: str
    turn: int
    column: str
    value: int
    model: NotRequired[str]
    settings: NotRequired[dict[str, Any]]
    label: NotRequired[str | None]
    prompt: NotRequired[str]
    reply: NotRequired[str]
    timestamp: NotRequired[str | None]


class Judgment(TypedDict):
    """An LLM judge's verdict on one pair of replies, judged in both orders (`w.judgments`)."""

    conversation: str
    turn: int
    a: str
    b: str
    orders: Annotated[list[Literal["A", "B", "C"] | None], "the raw verdict of each order (A/B, then B/A)"]
    rationales: list[str]
    judge: str
    verdict: NotRequired[Annotated[str | None, "a or b (won in both orders), \"tie\", or null when the judge failed"]]
    error: NotRequired[str | None]
    prompt: NotRequired[str]
    columns: NotRequired[list[ReplyRecord]]
    labels: NotRequired[dict[str, str | None]]
    blind: NotRequired[bool]
    template: NotRequired[Annotated[str, "mt-bench | custom"]]
    source: NotRequired[Annotated[str, "widget | batch"]]
    timestamp: NotRequired[str | None]
    script: NotRequired[Annotated[int, "batch runs: the script's index"]]
    sample: NotRequired[Annotated[int, "batch runs: the sample's index"]]


# ----- the reproducibility manifest -------------------------------------------------------------------
class Manifest(TypedDict):
    """What it takes to get a column's replies again (`w.manifest(column)`; Python side and files only)."""

    name: str
    model: Annotated[str, "the model as the user named it"]
    path: NotRequired[str | None]
    hub_revision: NotRequired[Annotated[str | None, "the commit of the Hugging Face cache snapshot"]]
    type: NotRequired[str | None]
    family: NotRequired[str | None]
    dtype: NotRequired[str | None]
    quantization: NotRequired[str | None]
    device_map: NotRequired[Any]
    tokenizer_path: NotRequired[str | None]
    load_options: NotRequired[dict[str, Any]]
    settings: NotRequired[dict[str, Any]]
    seed: NotRequired[int | None]
    think_tags: NotRequired[list[str] | None]
    keep_reasoning: NotRequired[bool | None]
    versions: NotRequired[dict[str, str | None]]
    status: NotRequired[str]
    error: NotRequired[str | None]
    base_url: NotRequired[str | None]
    server_model: NotRequired[str | None]


# ----- the export document ------------------------------------------------------------------------------
class SavedColumn(TypedDict):
    """A column in a saved comparison."""

    name: str
    model: str
    settings: dict[str, Any]
    history: list[Entry]


class ComparisonDocument(TypedDict):
    """A saved comparison (`w.export("x.json")`, `ChatZooWidget.load`)."""

    format: Literal[FORMAT]
    version: Literal[VERSION]
    columns: list[SavedColumn]
    votes: list[Vote]
    exported_at: NotRequired[str]
    system_prompt: NotRequired[str]
    conversation: NotRequired[Annotated[str | None, "the conversation the histories belong to"]]
    thumbs: NotRequired[list[Thumb]]
    judgments: NotRequired[list[Judgment]]
    arena: NotRequired[Annotated[dict[str, Any] | None, "Arena.state()"]]
    manifests: NotRequired[Annotated[dict[str, Manifest], "by column name; files only, never the browser"]]


# ----- table rows -----------------------------------------------------------------------------------------
#: the statistics the tables show, in their column order
TABLE_STATS = ("new_tokens", "prompt_tokens", "time_to_first_token", "tokens_per_second", "total_time",
               "finish_reason")


class TableRow(TypedDict):
    """One row of `to_dataframe()` (and a line of a .jsonl export): one reply."""

    conversation: str | None
    turn: int | None
    column: str
    label: str | None
    model: str
    settings: dict[str, Any]
    prompt: str
    reply: str
    new_tokens: int | None
    prompt_tokens: int | None
    time_to_first_token: float | None
    tokens_per_second: float | None
    total_time: float | None
    finish_reason: str | None
    error: str | None
    vote: Annotated[str | None, "the turn's choice"]
    vote_result: Annotated[str | None, "this reply's part in it: best | worse | tie | bad"]
    thumb: int | None
    source: Annotated[str, "current | alternative | edited | vote | thumb"]
    reasoning: str | None
    reasoning_tokens: int | None
    rendered_prompt: str | None
    continued_with: str | None


class BatchRow(TypedDict):
    """One row of `run_batch()`'s DataFrame: one reply."""

    script: int
    prompt: str
    turn: int
    sample: int
    column: str
    model: str
    settings: dict[str, Any]
    reply: str
    new_tokens: int | None
    prompt_tokens: int | None
    time_to_first_token: float | None
    tokens_per_second: float | None
    total_time: float | None
    finish_reason: str | None
    status: Annotated[str, "done | error | cancelled | timeout"]
    error: str | None


class JudgedBatchRow(BatchRow):
    """A batch row of a run with a judge."""

    judge_verdicts: Annotated[dict[str, Literal["win", "loss", "tie"] | None], "against each other column"]
    judge_score: Annotated[float | None, "(wins + ties / 2) / judged pairs"]


#: every record type, in the order `js/src/records.ts` declares them
RECORDS: tuple[type, ...] = (Stats, Entry, EditedTurn, Message, ReplyRecord, Vote, Thumb, Judgment, Manifest,
                             SavedColumn, ComparisonDocument, TableRow, BatchRow, JudgedBatchRow)

#: what the loader fills in for optional fields missing from a file
LOAD_DEFAULTS: dict[type, dict[str, Any]] = {
    ReplyRecord: {"history": [], "stats": {}, "system_prompt": "", "label": None},
    Vote: {"timestamp": None, "blind": False},
    Thumb: {},
    Judgment: {"error": None, "columns": [], "prompt": "", "labels": {}, "blind": False, "timestamp": None},
    ComparisonDocument: {"system_prompt": "", "conversation": None, "thumbs": [], "judgments": [], "arena": None},
}


def _hints(record: type) -> dict[str, Any]:
    return get_type_hints(record, globalns=vars(sys.modules[__name__]), include_extras=True)


def fields(record: type) -> tuple[str, ...]:
    """The fields of a record type, in declaration order (a base class's first)."""
    return tuple(_hints(record))


def required(record: type) -> tuple[str, ...]:
    """The fields every record of this type has."""
    return tuple(f for f in _hints(record) if f in record.__required_keys__)


TABLE_COLUMNS: list[str] = list(fields(TableRow))
BATCH_COLUMNS: list[str] = list(fields(BatchRow))
JUDGED_BATCH_COLUMNS: list[str] = list(fields(JudgedBatchRow))


def with_defaults(record: type, value: Mapping[str, Any]) -> dict[str, Any]:
    """`value` with the optional fields it lacks filled as the loader does (copies of the defaults)."""
    out = dict(value)
    for key, default in LOAD_DEFAULTS.get(record, {}).items():
        out.setdefault(key, default.copy() if isinstance(default, (dict, list)) else default)
    return out


# ----- checking -------------------------------------------------------------------------------------------
def check(value: Any, record: type, where: str = "record", *, strict: bool = False) -> None:
    """Raise ValueError unless `value` is a `record` (a TypedDict above): every required field there, every field
    of its declared type, nested records too. The message starts with `where` and the path inside, and names the
    record and the field: "run.json: votes[0].turn: expected int, got str (Vote.turn)". Fields the record does
    not declare are allowed (newer files), unless `strict` (the tests: records the code makes declare every key).
    """
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


def _bare(tp: Any) -> Any:
    """The type without Required/NotRequired/Annotated around it."""
    while get_origin(tp) in (Required, NotRequired, Annotated):
        tp = get_args(tp)[0]
    return tp


def _doc(tp: Any) -> str | None:
    while get_origin(tp) in (Required, NotRequired):
        tp = get_args(tp)[0]
    if get_origin(tp) is Annotated:
        return next((m for m in tp.__metadata__ if isinstance(m, str)), None)
    return None


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


# ----- TypeScript -----------------------------------------------------------------------------------------
TS_HEADER = ("// Generated from chatzoo_widget/records.py, do not edit:\n"
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


def typescript(records: tuple[type, ...] = RECORDS) -> str:
    """`js/src/records.ts`: an interface per record type (optional fields are `?`)."""
    return TS_HEADER + "".join(f"\n{_ts_interface(r)}\n" for r in records)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args != ["--ts"]:
        print("usage: python -m chatzoo_widget.records --ts > js/src/records.ts", file=sys.stderr)
        return 2
    sys.stdout.write(typescript())
    return 0


__all__ = [
    "BATCH_COLUMNS", "FORMAT", "JUDGED_BATCH_COLUMNS", "LOAD_DEFAULTS", "RECORDS", "TABLE_COLUMNS", "TABLE_STATS",
    "VERSION", "BatchRow", "ComparisonDocument", "EditedTurn", "Entry", "JudgedBatchRow", "Judgment", "Manifest",
    "Message", "ReplyRecord", "SavedColumn", "Stats", "TableRow", "Thumb", "Vote", "check", "fields", "required",
    "typescript", "with_defaults",
]

if __name__ == "__main__":
    raise SystemExit(main())
