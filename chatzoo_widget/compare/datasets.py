"""Data in: one loader turning whatever `run_batch` is given into rows (an id, the prompts to send, the fields).

Accepted:
- a list of prompts (str) and multi-turn scripts (lists of str), as before;
- a list of dicts, a pandas DataFrame, anything with the `datasets.Dataset` row interface (`column_names` and
  iteration over dict rows; `datasets` is not a dependency);
- a path to a `.csv`, `.jsonl` or `.json` file (a list of objects);
- a promptfoo config (`promptfooconfig.yaml`, or the same content as a dict), see `promptfoo.py`.

A row's prompt is its `prompt` field (a str, or a list of str for a script), or the `template` rendered with its
fields: `"Q: {question}"` (Python's format fields) or `"Q: {{question}}"` (promptfoo's); a list of templates makes a
script. Each row keeps an id: its `id` field, else its index in the data (before shuffling). Checks for one row come
from its `assert` field (a list, or JSON text in a CSV cell) and promptfoo's `__expected` columns.
"""

from __future__ import annotations

import csv
import json
import os
import pathlib
import random
import re
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: promptfoo's `{{ name }}` placeholders (a plain name or a dotted path; no filters)
MUSTACHE = re.compile(r"\{\{\s*([A-Za-z_][\w.]*)\s*\}\}")
FILE_SUFFIXES = (".csv", ".jsonl", ".json", ".yaml", ".yml")


@dataclass
class DataRow:
    """One item of a batch: its id, the prompts sent one after another (one prompt, or a script), its fields, its
    own checks, and (promptfoo's test `threshold`) the score it needs to pass."""

    id: Any
    turns: list[str]
    vars: dict[str, Any] = field(default_factory=dict)
    checks: list[Any] = field(default_factory=list)
    threshold: float | None = None
    description: str | None = None


def load_rows(data: Any, *, template: str | Sequence[str] | None = None, limit: int | None = None,
              shuffle: bool | int | None = None) -> list[DataRow]:
    """Rows from `data` (see the module docstring).

    template: `"Q: {question}"` or `"Q: {{question}}"`, or a list of them for a multi-turn script.
    limit: keep the first `limit` rows (after shuffling).
    shuffle: True (seed 0) or an int seed: the rows in a reproducible random order.

    Raises ValueError naming the row and field for a template field a row lacks, the file and line for a
    malformed CSV/JSONL line, and FileNotFoundError for a path that is not there.
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ValueError(f"limit must be a whole number >= 0, got {limit!r}")
    if shuffle is not None and not isinstance(shuffle, (bool, int)):
        raise ValueError(f"shuffle must be True/False or an int seed, got {shuffle!r}")
    templates = _templates(template)
    rows = _rows(data, templates)
    if shuffle is not None and shuffle is not False:
        random.Random(0 if shuffle is True else int(shuffle)).shuffle(rows)
    if limit is not None:
        rows = rows[:limit]
    ids = [r.id for r in rows]
    if len(set(map(repr, ids))) != len(ids):
        twice = sorted({repr(i) for i in ids if ids.count(i) > 1})
        raise ValueError(f"row ids must be unique; repeated: {', '.join(twice[:5])}")
    return rows


def _templates(template: str | Sequence[str] | None) -> list[str] | None:
    if template is None:
        return None
    turns = [template] if isinstance(template, str) else list(template)
    if not turns or not all(isinstance(t, str) and t.strip() for t in turns):
        raise ValueError(f"template must be a non-empty str or a list of them, got {template!r}")
    return turns


def _rows(data: Any, templates: list[str] | None) -> list[DataRow]:
    if isinstance(data, (str, os.PathLike)):
        return _from_path(data, templates)
    if isinstance(data, Mapping):
        from .promptfoo import promptfoo_rows
        return promptfoo_rows(data, base=pathlib.Path.cwd(), template=templates)
    if _is_dataframe(data):
        records = data.to_dict(orient="records")
        return [_from_record(r, i, templates, f"row {i}") for i, r in enumerate(records)]
    if _is_dataset(data):
        return [_from_record(dict(r), i, templates, f"row {i}") for i, r in enumerate(data)]
    if not isinstance(data, Sequence):
        if isinstance(data, Iterable):
            data = list(data)
        else:
            raise ValueError("data must be a list of prompts, scripts or dicts, a DataFrame, a dataset, or a path "
                             f"to a .csv/.jsonl/.json/promptfoo .yaml file; got {type(data).__name__}")
    return [_from_item(item, i, templates) for i, item in enumerate(data)]


def _is_dataframe(data: Any) -> bool:
    return hasattr(data, "to_dict") and hasattr(data, "columns") and hasattr(data, "iloc")


def _is_dataset(data: Any) -> bool:
    """`datasets.Dataset`'s row interface, duck-typed: named columns, and iterating gives dict rows."""
    return hasattr(data, "column_names") and hasattr(data, "__iter__") and not isinstance(data, (str, Mapping))


def _from_item(item: Any, i: int, templates: list[str] | None) -> DataRow:
    if isinstance(item, Mapping):
        return _from_record(dict(item), i, templates, f"row {i}")
    script = [item] if isinstance(item, str) else item
    if not isinstance(script, (list, tuple)) or not script:
        raise ValueError(f"prompts[{i}] must be a prompt (str), a non-empty list of prompts or a dict, "
                         f"got {item!r}")
    for j, p in enumerate(script):
        if not isinstance(p, str) or not p.strip():
            where = f"prompts[{i}]" if isinstance(item, str) else f"prompts[{i}][{j}]"
            raise ValueError(f"{where} is empty or not a string: {p!r}")
    if templates is not None:  # a bare prompt fills the template's one field
        fields = {name for t in templates for name in template_fields(t)}
        if len(fields) != 1:
            raise ValueError(f"prompts[{i}] is a plain prompt, but the template names {len(fields)} fields "
                             f"({', '.join(sorted(fields)) or 'none'}): give dict rows")
        (name,) = fields
        return _from_record({name: item if isinstance(item, str) else list(item)}, i, templates, f"row {i}")
    return DataRow(id=i, turns=list(script))


def _from_record(record: dict[str, Any], i: int, templates: list[str] | None, where: str) -> DataRow:
    record = {k: _clean(v) for k, v in record.items()}
    row_id = record.get("id")
    row_id = i if row_id is None or row_id == "" else row_id
    label = f"{where} (id {row_id!r})" if row_id != i else where
    if templates is not None:
        turns = [render(t, record, label) for t in templates]
    else:
        prompt = record.get("prompt")
        if isinstance(prompt, str) and prompt.strip():
            turns = [prompt]
        elif isinstance(prompt, (list, tuple)) and prompt and all(isinstance(p, str) and p.strip() for p in prompt):
            turns = list(prompt)
        else:
            raise ValueError(f"{label} has no 'prompt' field (a str or a list of str): give template=, e.g. "
                             f"template='{{{_first_field(record)}}}'; its fields: {', '.join(record) or 'none'}")
    checks = _row_checks(record, label)
    threshold = record.get("threshold", record.get("__threshold"))
    return DataRow(id=row_id, turns=turns, vars=record, checks=checks,
                   threshold=None if threshold in (None, "") else float(threshold),
                   description=record.get("description") or record.get("__description"))


def _clean(value: Any) -> Any:
    """A DataFrame's missing value (NaN) reads as None."""
    return None if isinstance(value, float) and value != value else value


def _first_field(record: Mapping[str, Any]) -> str:
    names = [k for k in record if k not in ("id", "assert")]
    return names[0] if names else "question"


def _row_checks(record: Mapping[str, Any], label: str) -> list[Any]:
    checks: list[Any] = []
    value = record.get("assert")
    if isinstance(value, str) and value.strip():
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{label}: its 'assert' field is not JSON ({exc.msg})") from None
    if isinstance(value, Mapping):
        value = [value]
    if value not in (None, ""):
        if not isinstance(value, list):
            raise ValueError(f"{label}: 'assert' must be a list of checks, got {value!r}")
        checks.extend(value)
    for key in sorted(k for k in record if k.startswith("__expected")):
        if record[key] not in (None, ""):
            checks.append(expected_check(str(record[key])))
    return checks


def expected_check(text: str) -> dict[str, Any]:
    """promptfoo's CSV `__expected` cell: `type: value` for a check type (`icontains: Paris`, `not-contains: x`),
    `grade: rubric` for llm-rubric, else the whole text must equal the output."""
    from .checks import known_type
    head, sep, rest = text.partition(":")
    name = head.strip()
    if sep and name == "grade":
        return {"type": "llm-rubric", "value": rest.strip()}
    if sep and name and known_type(name):
        value = rest.strip()
        if name.removeprefix("not-") in ("contains-any", "contains-all", "icontains-any", "icontains-all"):
            return {"type": name, "value": [v.strip() for v in value.split(",") if v.strip()]}
        return {"type": name, "value": value or None}
    return {"type": "equals", "value": text}


# ----- templates ------------------------------------------------------------------------------------------
def template_fields(template: str) -> list[str]:
    """The row fields a template names (`{{name}}` placeholders, else `{name}` format fields)."""
    if MUSTACHE.search(template):
        return [m.group(1).split(".")[0] for m in MUSTACHE.finditer(template)]
    return [f.split(".")[0].split("[")[0] for _, f, _, _ in string.Formatter().parse(template) if f]


def render(template: str, record: Mapping[str, Any], where: str = "the row") -> str:
    """The template with the record's fields filled in; ValueError naming `where` and the missing field."""
    if MUSTACHE.search(template):
        def value(m: re.Match) -> str:
            return _text(_lookup(record, m.group(1), where, template))
        return MUSTACHE.sub(value, template)
    try:
        return template.format_map(_Fields(record, where, template))
    except (IndexError, ValueError) as exc:
        raise ValueError(f"template {template!r} is not a valid format string: {exc}") from None


def _lookup(record: Mapping[str, Any], path: str, where: str, template: str) -> Any:
    value: Any = record
    for depth, part in enumerate(path.split(".")):
        if not isinstance(value, Mapping) or part not in value:
            missing = ".".join(path.split(".")[:depth + 1])
            raise ValueError(f"{where} has no field {missing!r} (template {template!r}); "
                             f"its fields: {', '.join(map(str, record)) or 'none'}")
        value = value[part]
    return value


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value) if isinstance(value, (dict, list)) else str(value)


class _Fields(dict):
    """format_map's mapping: a missing field names the row, the field and the row's fields."""

    def __init__(self, record: Mapping[str, Any], where: str, template: str):
        super().__init__(record)
        self.where, self.template = where, template

    def __missing__(self, key: str) -> Any:
        raise ValueError(f"{self.where} has no field {key!r} (template {self.template!r}); "
                         f"its fields: {', '.join(map(str, self)) or 'none'}")


# ----- files ----------------------------------------------------------------------------------------------
def _from_path(path: str | os.PathLike, templates: list[str] | None) -> list[DataRow]:
    p = pathlib.Path(path)
    suffix = p.suffix.lower()
    if suffix not in FILE_SUFFIXES:
        raise ValueError(f"data must be a list of prompts (or scripts, dict rows, a DataFrame) or a path ending in "
                         f"{', '.join(FILE_SUFFIXES)}; got the string {str(path)!r}")
    if not p.is_file():
        raise FileNotFoundError(f"no data file at {str(p)!r}")
    if suffix in (".yaml", ".yml"):
        from .promptfoo import load_promptfoo
        return load_promptfoo(p, template=templates)
    records = read_records(p)
    return [_from_record(r, i, templates, f"{p.name} row {i}") for i, r in enumerate(records)]


def read_records(path: pathlib.Path) -> list[dict[str, Any]]:
    """The dict rows of a .csv, .jsonl or .json file; ValueError naming the file and line of a malformed one."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path)
    if suffix == ".jsonl":
        return _read_jsonl(path)
    if suffix == ".json":
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path.name} line {exc.lineno}: not valid JSON ({exc.msg})") from None
        if not isinstance(value, list) or not all(isinstance(r, Mapping) for r in value):
            raise ValueError(f"{path.name} must hold a JSON list of objects (one per row)")
        return [dict(r) for r in value]
    raise ValueError(f"{path.name}: rows are read from .csv, .jsonl or .json files")


def _read_jsonl(path: pathlib.Path) -> list[dict[str, Any]]:
    records = []
    with path.open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path.name} line {line_no}: not valid JSON ({exc.msg} at column {exc.colno})"
                                 ) from None
            if not isinstance(value, Mapping):
                raise ValueError(f"{path.name} line {line_no}: a row must be a JSON object, got "
                                 f"{type(value).__name__}")
            records.append(dict(value))
    return records


def _read_csv(path: pathlib.Path) -> list[dict[str, Any]]:
    records = []
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f, strict=True)
        try:
            header = next(reader, None)
            if not header:
                return []
            header = [h.strip() for h in header]
            if len(set(header)) != len(header) or "" in header:
                raise ValueError(f"{path.name} line 1: the header needs distinct, non-empty column names")
            for cells in reader:
                if not cells or (len(cells) == 1 and not cells[0].strip()):
                    continue
                if len(cells) != len(header):
                    raise ValueError(f"{path.name} line {reader.line_num}: {len(cells)} fields, the header has "
                                     f"{len(header)}")
                records.append(dict(zip(header, cells)))
        except csv.Error as exc:
            raise ValueError(f"{path.name} line {reader.line_num}: malformed CSV ({exc})") from None
    return records
