"""What a report shows, gathered from a widget as plain data, blind where the widget is blind.

The conversation part is the download's document (`compare.comparison_document`, the JSON the widget's download
button saves). While an arena conversation is blind it goes through the widget's own `BlindFilter` exactly as
the download does (columns labelled in display order, no models or settings, past votes labelled as their round
was), the rendered prompts are held back (`compare.hide_prompts`), and the parts that are about the models by
name (manifests, the leaderboard) are left out; the batch grid (its column names, replies and check reasons) and
the summary tables pass the same filter, and the summary loses its model and settings columns. No label is
computed here.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from .. import compare
from ..compare.grid import grid_row

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


def _display_order(widget: Any, names: list[str]) -> list[str]:
    """`names` (a batch's columns) left to right as the widget shows them (the arena's order while blind); columns
    removed since the run keep their run order, after the others."""
    try:
        columns = widget.manager.columns
        shown = [columns[cid].name for cid in widget._book.presenter.order() if cid in columns]
    except Exception:  # noqa: BLE001 - a widget without a presenter: the run's order
        shown = []
    return [n for n in shown if n in names] + [n for n in names if n not in shown]


def batch_grid(widget: Any, batch: Any, *, limit: int | None = None) -> dict[str, Any] | None:
    """A batch run as the widget's results grid: {"columns", "rows", "total"}, a row per (script, sample) with each
    column's final reply as a cell (`compare.grid.grid_row`: reply, status, error, pass, score, checks), plus the
    earlier turns of a multi-turn script (`earlier`: [{"prompt", "reply"}]). `limit` keeps the first rows (the
    notebook's snapshot); `total` counts them all. None without a batch."""
    if not isinstance(batch, pd.DataFrame) or batch.empty or "column" not in batch.columns:
        return None
    whole = batch
    if limit is not None:  # the first rows' scripts only: a snapshot costs the same whatever the batch's size
        batch = batch[batch["script"].isin(sorted(set(batch["script"]))[:limit])]
    groups: dict[tuple[int, int], list[dict[str, Any]]] = {}  # one pass over the frame, no per-row pandas
    wanted = [c for c in ("script", "sample", "turn", "id", "prompt", "column", "reply", "status", "error", "pass",
                          "score", "checks", "_order") if c in batch.columns]
    for r in batch[wanted].to_dict("records"):
        r = {k: _plain(v) if k != "checks" else v for k, v in r.items()}
        r.setdefault("sample", 0)
        r.setdefault("turn", 0)
        groups.setdefault((int(r["script"]), int(r["sample"] or 0)), []).append(r)
    rows = []
    for key in sorted(groups)[:limit]:
        records = sorted(groups[key], key=lambda r: r["turn"])
        last = records[-1]["turn"]
        row = grid_row([r for r in records if r["turn"] == last])
        for r in records:  # earlier turns of a script, under its column's final reply
            if r["turn"] != last and str(r["column"]) in row["cells"]:
                row["cells"][str(r["column"])].setdefault("earlier", []).append(
                    {"prompt": r.get("prompt") or "", "reply": r.get("reply") or ""})
        rows.append(row)
    total = len(groups) if limit is None else len(whole[["script", "sample"]].drop_duplicates()) \
        if "sample" in whole.columns else whole["script"].nunique()
    names = list(dict.fromkeys(str(c) for c in whole["column"]))
    return {"columns": _display_order(widget, names), "rows": rows, "total": total}


def report_data(widget: Any, *, manifests: bool = True, batch_rows: int | None = None) -> dict[str, Any]:
    """Everything the report shows, as JSON-able data (see the module docstring for what blind changes);
    `manifests=False` leaves the manifests out (the notebook's snapshot does not show them); `batch_rows` keeps
    that many of the batch grid's rows (the snapshot's bound)."""
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
        "grid": batch_grid(widget, batch, limit=batch_rows),
        "summary": [{**part, "table": table_blind(part["table"], blind)} for part in summary],
        "summary_error": summary_error,
    }
    if blind:
        data["document"] = blind_filter.message(
            {"kind": "export_data", "document": compare.hide_prompts(data["document"])})["document"]
    # blind or not, the filter also takes URL credentials and keys out (a manifest or an error may hold them)
    return blind_filter.scrub(data)


__all__ = ["report_data", "table"]
