"""Export a batch run's results and statistics (JSON, CSV), and any two of its columns in LLM Comparator's format.

`export_results(path, results, summary)` writes the run_batch DataFrame and, given, its `summary()`: .json is one
document ({format, version, attrs, results, summary: {columns, pairs}}), .csv the results table (nested fields as
JSON text) with the summary's two tables beside it (`<name>.summary-columns.csv`, `<name>.summary-pairs.csv`).

`to_llm_comparator(results, a, b, path)` is the side-by-side file that PAIR's LLM Comparator
(https://pair-code.github.io/llm-comparator/) opens: `metadata` (source_path, custom_fields_schema), `models` (A, B),
and one example per row both columns answered: input_text, tags, output_text_a, output_text_b, score (positive:
A better, in [-1.5, 1.5]), individual_rater_scores, custom_fields.
"""

from __future__ import annotations

import json
import math
import os
import pathlib
from typing import Any, Iterable, Mapping

import pandas as pd

from .exports import _jsonable, _target, _write_atomic

RESULTS_FORMAT = "chatzoo-batch-results"
RESULTS_VERSION = 1
NESTED = ("settings", "checks", "judge_verdicts")  # fields that hold lists or dicts: JSON text in a CSV cell


def _records(frame: pd.DataFrame | None) -> list[dict[str, Any]]:
    if frame is None:
        return []
    return [{str(k): _jsonable(v) for k, v in row.items()} for row in frame.to_dict("records")]


def _summary_tables(summary: Any) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    if summary is None:
        return None
    try:
        columns, pairs = summary
    except (TypeError, ValueError):
        raise ValueError("summary must be what summary() returns (unpacks as columns, pairs)") from None
    return columns, pairs


def _check_results(results: Any) -> pd.DataFrame:
    if not isinstance(results, pd.DataFrame):
        raise ValueError(f"results must be a run_batch DataFrame, got {type(results).__name__}")
    missing = [c for c in ("column", "prompt", "reply") if c not in results.columns]
    if missing:
        raise ValueError(f"results must be a run_batch DataFrame: it has no {', '.join(missing)} column")
    return results


def export_results(path: str | os.PathLike, results: pd.DataFrame, summary: Any = None) -> pathlib.Path:
    """Write a batch run's `results` (and its `summary`, if given) to `path` (.json or .csv); -> the path.

    .json: {"format": "chatzoo-batch-results", "version": 1, "attrs": {done, total, stopped}, "results": [rows],
    "summary": {"columns": [...], "pairs": [...]} or null}. .csv: the rows, with settings, checks and
    judge_verdicts as JSON text, and the summary's tables in `<stem>.summary-columns.csv` and
    `<stem>.summary-pairs.csv`. NaN is written as null (JSON) or an empty cell (CSV). A bad extension or a
    missing folder raises before anything is written."""
    results = _check_results(results)
    target, ext = _target(path, (".json", ".csv"))
    tables = _summary_tables(summary)
    if ext == ".json":
        attrs = {k: _jsonable(v) for k, v in results.attrs.items() if k in ("done", "total", "stopped")}
        doc = {"format": RESULTS_FORMAT, "version": RESULTS_VERSION, "attrs": attrs, "results": _records(results),
               "summary": None if tables is None else {"columns": _records(tables[0]), "pairs": _records(tables[1])}}
        _write_atomic(target, json.dumps(doc, ensure_ascii=False, indent=1, allow_nan=False))
        return target
    flat = results.copy()
    for field in NESTED:
        if field in flat.columns:
            flat[field] = flat[field].map(lambda v: json.dumps(_jsonable(v), ensure_ascii=False))
    _write_atomic(target, flat.to_csv(index=False))
    if tables is not None:
        for name, table in zip(("columns", "pairs"), tables):
            _write_atomic(target.with_name(f"{target.stem}.summary-{name}.csv"), table.to_csv(index=False))
    return target


# ----- LLM Comparator -------------------------------------------------------------------------------------
def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


def _flag(value: Any) -> bool | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else bool(value)


def _key(row: Mapping[str, Any]) -> tuple:
    return (json.dumps(_jsonable(row.get("id", row.get("script"))), default=str), _int(row.get("sample")))


def _int(value: Any) -> int:
    return 0 if value is None or (isinstance(value, float) and math.isnan(value)) else int(value)


def _ratings(judgments: Iterable[Mapping[str, Any]], a: str, b: str) -> dict[tuple, list[dict[str, Any]]]:
    """(script, sample) -> LLM Comparator's individual ratings of A vs B from the judge's two orders each."""
    out: dict[tuple, list[dict[str, Any]]] = {}
    for j in judgments:
        if {j.get("a"), j.get("b")} != {a, b}:
            continue
        first_a = j["a"]  # order 1 shows j["a"] as A; order 2 shows it as B
        for i, (raw, rationale) in enumerate(zip(j.get("orders") or [], j.get("rationales") or [])):
            shown_a = first_a if i == 0 else (b if first_a == a else a)
            winner = {"A": shown_a, "B": b if shown_a == a else a, "C": "tie"}.get(raw or "")
            score = None if winner is None else 0.0 if winner == "tie" else (1.0 if winner == a else -1.0)
            out.setdefault((_int(j.get("script")), _int(j.get("sample"))), []).append(
                {"is_flipped": shown_a != a, "score": score, "rationale": rationale or "",
                 "custom_fields": {"judge": j.get("judge") or ""}})
    return out


def to_llm_comparator(results: pd.DataFrame, a: str, b: str, path: str | os.PathLike | None = None, *,
                      score: str = "auto", source: str | None = None) -> dict[str, Any]:
    """LLM Comparator's JSON for columns `a` (model A) and `b` (model B) of a batch run's `results`; written to
    `path` (.json) when given.

    One example per row (and sample) both columns finished, from its last turn: input_text (the prompt),
    output_text_a/b, tags (the pass outcome when the run had checks: "both pass", "A only", "B only",
    "both fail"), score and individual_rater_scores, custom_fields (id, sample, each reply's pass, check score,
    new tokens and seconds, as per-model fields).
    score: "judge" (the run's judge verdicts: each order +1 for A, -1 for B, 0 for a tie, is_flipped when B was
    shown first; the score is their mean), "checks" (1.5 x (A's check score - B's)), or "auto" (the judge's
    where the pair was judged, else the checks'); null where there is nothing to score.
    Raises ValueError for a column not in `results`, a == b, or an unknown `score`."""
    results = _check_results(results)
    if score not in ("auto", "judge", "checks"):
        raise ValueError(f"score must be 'auto', 'judge' or 'checks', got {score!r}")
    names = list(dict.fromkeys(results["column"]))
    for name in (a, b):
        if name not in names:
            raise ValueError(f"no column {name!r} in the results; columns: {', '.join(map(str, names))}")
    if a == b:
        raise ValueError("to compare, a and b must be two different columns")
    rows = results.to_dict("records")
    last_turn: dict[tuple, int] = {}
    for r in rows:
        last_turn[_key(r)] = max(last_turn.get(_key(r), 0), _int(r.get("turn")))
    by_key: dict[tuple, dict[str, dict[str, Any]]] = {}
    for r in rows:
        if _int(r.get("turn")) == last_turn[_key(r)] and r["column"] in (a, b) and r.get("status", "done") == "done":
            by_key.setdefault(_key(r), {})[r["column"]] = r
    ratings = _ratings(results.attrs.get("judgments") or [], a, b) if score != "checks" else {}
    checked = "pass" in results.columns
    examples = []
    for key, pair in by_key.items():
        if len(pair) < 2:
            continue
        ra, rb = pair[a], pair[b]
        rated = ratings.get((_int(ra.get("script")), _int(ra.get("sample"))), [])
        scored = [x["score"] for x in rated if x["score"] is not None]
        value = sum(scored) / len(scored) if scored else None
        if value is None and score != "judge":
            sa, sb = _number(ra.get("score")), _number(rb.get("score"))
            value = None if sa is None or sb is None else round(1.5 * (sa - sb), 6)
        pa, pb = _flag(ra.get("pass")), _flag(rb.get("pass"))
        tags = []
        if checked and pa is not None and pb is not None:
            tags.append({(True, True): "both pass", (True, False): "A only", (False, True): "B only",
                         (False, False): "both fail"}[(pa, pb)])
        examples.append({
            "input_text": ra["prompt"], "tags": tags, "output_text_a": ra["reply"], "output_text_b": rb["reply"],
            "score": value, "individual_rater_scores": rated if score != "checks" else [],
            "custom_fields": {"id": str(_jsonable(ra.get("id", ra.get("script")))), "sample": _int(ra.get("sample")),
                              "pass": [pa, pb], "check_score": [_number(ra.get("score")), _number(rb.get("score"))],
                              "new_tokens": [_number(ra.get("new_tokens")), _number(rb.get("new_tokens"))],
                              "total_time": [_number(ra.get("total_time")), _number(rb.get("total_time"))]},
        })
    doc = {
        "metadata": {"source_path": source or (os.fspath(path) if path is not None else "chatzoo-widget run_batch"),
                     "custom_fields_schema": [
                         {"name": "id", "type": "string"}, {"name": "sample", "type": "number"},
                         {"name": "pass", "type": "per_model_boolean"},
                         {"name": "check_score", "type": "per_model_number"},
                         {"name": "new_tokens", "type": "per_model_number"},
                         {"name": "total_time", "type": "per_model_number"}]},
        "models": [{"name": str(a)}, {"name": str(b)}],
        "examples": examples,
    }
    if path is not None:
        target, _ = _target(path, (".json",))
        _write_atomic(target, json.dumps(doc, ensure_ascii=False, indent=1, allow_nan=False))
    return doc
