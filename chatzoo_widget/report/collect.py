"""What a report shows, gathered from a widget as plain data, blind where the widget is blind.

The conversation part is the download's document (`compare.comparison_document`, the JSON the widget's download
button saves). While an arena conversation is blind it goes through the widget's own `BlindFilter` exactly as
the download does (columns labelled in display order, no models or settings, past votes labelled as their round
was), the rendered prompts are held back (`compare.hide_prompts`), and the parts that are about the models by
name (manifests, the leaderboard) are left out; batch tables lose their model and settings columns and pass the
same filter. No label is computed here.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from .. import compare

# Batch/summary table columns that name a model or tell the columns apart by their settings.
_BLIND_TABLE_COLUMNS = ("model", "settings", "rendered_prompt")


def _plain(value: Any) -> Any:
    """A table cell as JSON-able data: NaN/NA -> None, numpy scalars -> Python ones."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            return _plain(value.item())
        except (TypeError, ValueError):
            return str(value)
    return value


def table(frame: Any, *, blind: bool = False) -> dict[str, Any] | None:
    """A DataFrame as {"columns": [...], "rows": [[...]]} (None when there is none)."""
    if not isinstance(frame, pd.DataFrame):
        return None
    if blind:
        frame = frame.drop(columns=[c for c in _BLIND_TABLE_COLUMNS if c in frame.columns])
    rows = [[_plain(v) for v in row] for row in frame.astype(object).itertuples(index=False, name=None)]
    return {"columns": [str(c) for c in frame.columns], "rows": rows, "attrs": dict(frame.attrs)}


def table_blind(part: dict[str, Any] | None, blind: bool) -> dict[str, Any] | None:
    """A table without the columns that name models or settings while blind."""
    if not blind or part is None:
        return part
    keep = [i for i, c in enumerate(part["columns"]) if c not in _BLIND_TABLE_COLUMNS]
    return {**part, "columns": [part["columns"][i] for i in keep],
            "rows": [[row[i] for i in keep] for row in part["rows"]]}


def _summary(widget: Any, batch: pd.DataFrame | None) -> tuple[list[dict[str, Any]], str | None]:
    """The statistics `w.summary()` gives (per column, per pair; a DataFrame or anything that iterates into
    DataFrames) for the last batch run, as [{"title", "table"}]; a failure is shown, not raised."""
    summary = getattr(widget, "summary", None)
    if batch is None or not callable(summary):
        return [], None
    try:
        result = summary()
    except Exception as exc:  # a summary that cannot be made must not cost the whole report
        return [], f"{type(exc).__name__}: {exc}"
    if isinstance(result, pd.DataFrame):
        return [{"title": "Batch summary", "table": table(result)}], None
    parts = [("Per column", getattr(result, "columns", None)), ("Per pair", getattr(result, "pairs", None))]
    if not any(isinstance(frame, pd.DataFrame) for _, frame in parts):
        parts = [(f"Summary {i + 1}", frame) for i, frame in enumerate(result)] if hasattr(result, "__iter__") else []
    return [{"title": f"Batch summary: {title.lower()}" if title.startswith("Per") else title, "table": table(frame)}
            for title, frame in parts if isinstance(frame, pd.DataFrame)], None


def report_data(widget: Any, *, manifests: bool = True) -> dict[str, Any]:
    """Everything the report shows, as JSON-able data (see the module docstring for what blind changes);
    `manifests=False` leaves the manifests out (the notebook's snapshot does not show them)."""
    book, blind_filter = widget._book, widget._blind
    blind = book.is_blind()
    doc = compare.comparison_document(widget.manager, book, widget._arena, judgments=widget._judges.judgments,
                                      with_manifests=manifests and not blind)
    states = {c["name"]: c for c in widget.manager.snapshot()}
    for col in doc["columns"]:  # a column whose model failed to load says why
        state = states.get(col["name"]) or {}
        col["status"], col["error"] = state.get("status"), state.get("error")
    batch_run = getattr(widget, "_batch", None)
    batch = batch_run.result if batch_run is not None else None
    summary, summary_error = _summary(widget, batch)
    data: dict[str, Any] = {
        "document": dict(doc),
        "blind": blind,
        "arena": widget._arena is not None,
        "leaderboard": None if blind else (dict(widget.leaderboard_table) or None),
        "batch": table(batch, blind=blind),
        "summary": [{**part, "table": table_blind(part["table"], blind)} for part in summary],
        "summary_error": summary_error,
    }
    if blind:
        data["document"] = blind_filter.message(
            {"kind": "export_data", "document": compare.hide_prompts(data["document"])})["document"]
    # blind or not, the filter also takes URL credentials and keys out (a manifest or an error may hold them)
    return blind_filter.scrub(data)


__all__ = ["report_data", "table"]
