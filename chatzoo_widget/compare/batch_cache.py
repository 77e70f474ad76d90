"""A batch run's finished conversations, kept so that a stopped or crashed run resumes without asking them again.

`RowCache` appends each (column, row, sample) conversation whose every turn finished ("done") to a JSON Lines file,
one table row a line, as soon as it finishes (flushed, so a crash loses only the conversations in flight).
`finished_rows` reads them back, from that file or from a previous run's DataFrame, keyed by (row id, sample,
column name): `run_batch(..., resume=...)` takes those rows as they are and asks only the rest.
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import threading
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

#: The fields a cached row needs to be matched and reused.
KEY_FIELDS = ("id", "sample", "column", "turn", "prompt", "reply", "status")

ConversationKey = tuple[str, int, str]  # (row id as JSON, sample, column name)


def conversation_key(row_id: Any, sample: int, column: str) -> ConversationKey:
    """The key of one conversation; the id goes through JSON so 3 and "3" stay apart and a file's ids match."""
    return json.dumps(row_id, sort_keys=True, default=str), int(sample), str(column)


class RowCache:
    """Appends finished conversations' rows to `path` (a .jsonl file), one JSON object a line; thread-safe."""

    def __init__(self, path: str | os.PathLike):
        self.path = pathlib.Path(path)
        if self.path.suffix != ".jsonl":
            raise ValueError(f"a batch cache is a .jsonl file, got {str(path)!r}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._file = open(self.path, "a", encoding="utf-8")

    def add(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Write one conversation's rows (the internal `_` fields left out) and flush them to the file."""
        lines = "".join(json.dumps({k: _plain(v) for k, v in r.items() if not k.startswith("_")},
                                   ensure_ascii=False, default=str) + "\n" for r in rows)
        with self._lock:
            if not self._file.closed:
                self._file.write(lines)
                self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()


def _plain(value: Any) -> Any:
    """NaN (pandas' missing number) as null, so the file is strict JSON; numpy's scalars as Python's."""
    if isinstance(value, np.generic):
        value = value.item()
    return None if isinstance(value, float) and math.isnan(value) else value


def read_rows(source: Any) -> list[dict[str, Any]]:
    """The rows of a previous run: a DataFrame (what run_batch returned) or a .jsonl cache file."""
    if isinstance(source, pd.DataFrame):
        missing = [f for f in KEY_FIELDS if f not in source.columns]
        if missing:
            raise ValueError(f"resume= needs a run_batch DataFrame: it has no {', '.join(missing)} column")
        return [{k: _plain(v) for k, v in r.items()} for r in source.to_dict("records")]
    if not isinstance(source, (str, os.PathLike)):
        raise ValueError(f"resume= takes a previous run's DataFrame or its cache file (.jsonl), got "
                         f"{type(source).__name__}")
    path = pathlib.Path(source)
    if not path.exists():
        raise FileNotFoundError(f"resume: no cache file {str(path)!r}")
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                if n == _line_count(path):  # a crash mid-write leaves a partial last line: that row is redone
                    break
                raise ValueError(f"{path}: line {n} is not JSON ({exc.msg})") from None
            if not isinstance(row, dict) or any(f not in row for f in KEY_FIELDS):
                raise ValueError(f"{path}: line {n} is not a batch row (it needs {', '.join(KEY_FIELDS)})")
            rows.append(row)
    return rows


def _line_count(path: pathlib.Path) -> int:
    with open(path, encoding="utf-8") as f:
        return sum(1 for line in f if line.strip())


def finished_rows(source: Any) -> dict[ConversationKey, list[dict[str, Any]]]:
    """{(row id, sample, column): its rows in turn order} for every conversation of `source` whose turns all
    finished; the others (stopped, timed out, failed, cut by a crash) are left out, to be asked again."""
    by_key: dict[ConversationKey, list[dict[str, Any]]] = {}
    for row in read_rows(source):
        by_key.setdefault(conversation_key(row["id"], row["sample"], row["column"]), []).append(row)
    out = {}
    for key, rows in by_key.items():
        rows.sort(key=lambda r: r["turn"])
        if all(r["status"] == "done" for r in rows) and [r["turn"] for r in rows] == list(range(len(rows))):
            out[key] = rows
    return out
