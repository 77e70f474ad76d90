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


def _summary(widget: Any, batch: pd.DataFrame | None) -> tuple[Any, str | None]:
    """The batch run's summary table when the widget offers one (`summary()`); a failure is shown, not raised."""
    summary = getattr(widget, "summary", None)
    if batch is None or not callable(summary):
        return None, None
    try:
        return summary(), None
    except Exception as exc:  # a summary that cannot be made must not cost the whole report
        return None, f"{type(exc).__name__}: {exc}"


def report_data(widget: Any) -> dict[str, Any]:
    """Everything the report shows, as JSON-able data (see the module docstring for what blind changes)."""
    book, blind_filter = widget._book, widget._blind
    blind = book.is_blind()
    doc = compare.comparison_document(widget.manager, book, widget._arena, judgments=widget._judges.judgments,
                                      with_manifests=not blind)
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
        "summary": table(summary, blind=blind),
        "summary_error": summary_error,
    }
    if blind:
        data["document"] = blind_filter.message(
            {"kind": "export_data", "document": compare.hide_prompts(data["document"])})["document"]
    # blind or not, the filter also takes URL credentials and keys out (a manifest or an error may hold them)
    return blind_filter.scrub(data)


__all__ = ["report_data", "table"]
