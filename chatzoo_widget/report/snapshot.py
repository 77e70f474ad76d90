"""The static snapshot a saved notebook shows where the live widget cannot run.

How hosts choose (checked in their code, July 2026 versions): an output is one mime bundle and a host renders one
representation of it. JupyterLab and Notebook 7 rank the widget view (`application/vnd.jupyter.widget-view+json`,
rank -10) above `text/html` (rank 50), and when the widget's model is missing (a reopened notebook, no kernel, no
saved widget state) their renderer shows "Error displaying widget: model not found" instead of falling back to the
bundle's other types (jupyterlab-manager's WidgetRenderer; ipywidgets#849, jupyterlab#1139). nbconvert's HTML
exporter (also what nbviewer and GitHub-style renderers do) skips the widget view when the notebook's metadata
holds no state for that model (`WidgetsDataTypeFilter`) and renders the next type; when the state is there (nbclient
stores it after `nbconvert --execute`, JupyterLab with "save widget state") it renders the view through the
html-manager's script from a CDN, which shows nothing offline. VS Code keeps no widget state (anywidget#101) and,
since vscode-jupyter#12611, falls back to a bundle's other types when a widget needs a kernel it does not have.
retentioneering's `render_static()` returns an `<iframe srcdoc>` as a cell's own output for the same reason.

So the snapshot is an output of its own, not a type in the widget's bundle: `_ipython_display_` shows the widget
(its usual bundle) and then this `text/html` output under a display id. Every host renders the HTML output; where
the widget runs, its front end hides it (a style rule on the snapshot's class, for as long as a view is live), so
a reader sees the live widget or the snapshot, never both. The kernel replaces the snapshot (`update_display`)
when the conversation changes (turn end, clear, a vote). A host applies such an update where it tracks the display
id. JupyterLab and Notebook 7 map each display id to the executions that showed it, kernel-wide, and a cell's
output area keeps listening after the cell ran, so updates sent from any later cell or from a worker thread land in
the cell that displayed the widget. nbclient (`nbconvert --execute`, papermill) applies those that come while a
cell runs. A page opened anew while the kernel runs knows no display ids (the file keeps none): its saved snapshot
stays as read until `w` is displayed again.

The fragment is plain HTML with no style sheet or script (GitHub strips both): one table, a column per model,
a row per turn; replies rendered and sanitised as in the report; blind while the arena is. It holds the latest
LAST_TURNS turns, each reply cut at REPLY_CHARS: every refresh crosses the websocket whole, so a snapshot of the
whole conversation would make each turn cost more than the last (the wire's rule is that a turn costs what its
replies do) and grow the saved notebook without end. The report (`w.export`) has everything. A batch run shows
as its size, its summary tables and its first GRID_ROWS grid rows (replies cut at GRID_REPLY_CHARS, at most
GRID_REASONS failed checks' reasons a cell), with where the rest is: the same size for 20 rows or 100,000.
"""

from __future__ import annotations

import html
from typing import Any, Mapping, Sequence

from .collect import report_data
from .grid import outcome, preview
from .page import cell, reply_body, stats_line

CLASS = "chatzoo-snapshot"
#: the turns a snapshot shows (the latest ones)
LAST_TURNS = 10
#: a reply's characters a snapshot shows
REPLY_CHARS = 20_000
#: a batch run's grid rows a snapshot shows (the first ones), the characters of each reply there and the failed
#: checks' reasons listed per cell: a snapshot's size does not grow with the batch
GRID_ROWS = 20
GRID_REPLY_CHARS = 300
GRID_REASONS = 3


def snapshot_class(snapshot_id: str) -> str:
    """The class the live widget hides (with CLASS): ids are hex, safe in a class name and a CSS selector."""
    return f"{CLASS}-{snapshot_id}"


def _reply_cell(entry: Mapping[str, Any] | None) -> str:
    if entry is None:
        return "<td></td>"
    parts = []
    if entry.get("reasoning"):
        parts.append(f"<details><summary>Thinking</summary>{reply_body(entry['reasoning'])}</details>")
    content = entry.get("content") or ""
    parts.append(reply_body(content[:REPLY_CHARS]))
    if len(content) > REPLY_CHARS:
        parts.append(f"<p><em>… {len(content) - REPLY_CHARS:,} more characters in the report</em></p>")
    error = (entry.get("stats") or {}).get("error")
    if error:
        parts.append(f"<p><em>{html.escape(str(error))}</em></p>")
    stats = stats_line(entry.get("stats"))
    if stats:
        parts.append(f"<small>{stats}</small>")
    return f'<td valign="top">{"".join(parts)}</td>'


def fragment(columns: Sequence[Mapping[str, Any]], snapshot_id: str, *, blind: bool = False,
             last_turns: int = LAST_TURNS, batch: str = "") -> str:
    """The snapshot's HTML: a table of the latest `last_turns` prompts (rows) and every column's reply to them,
    then `batch` (batch_fragment)."""
    turns: dict[int, dict[str, Any]] = {}
    for i, col in enumerate(columns):
        for entry in col.get("history") or ():
            row = turns.setdefault(entry.get("turn", 0), {"prompt": None, "replies": {}})
            if entry.get("role") == "HUMAN":
                row["prompt"] = row["prompt"] if row["prompt"] is not None else entry.get("content")
            else:
                row["replies"][i] = entry
    head = "".join(f"<th>{html.escape(str(c.get('name') or ''))}</th>" for c in columns)
    body = []
    shown = sorted(turns)[-last_turns:] if last_turns > 0 else []
    if len(shown) < len(turns):
        earlier = len(turns) - len(shown)
        body.append(f'<tr><td colspan="{max(len(columns), 1)}"><em>{earlier} earlier turn{"s" * (earlier != 1)} '
                    f"not shown here: the report (w.export(\"comparison.html\")) has the whole conversation</em>"
                    "</td></tr>")
    for turn in shown:
        row = turns[turn]
        body.append(f'<tr><td colspan="{max(len(columns), 1)}"><strong>Prompt:</strong> '
                    f'{html.escape(row["prompt"] or "")}</td></tr>')
        body.append("<tr>" + "".join(_reply_cell(row["replies"].get(i)) for i in range(len(columns))) + "</tr>")
    note = " (blind: the arena's labels)" if blind else ""
    caption = (f"ChatZoo Widget — a snapshot of the comparison{note}; run the notebook for the live widget"
               if turns else "ChatZoo Widget — no conversation yet; run the notebook for the live widget")
    return (f'<div class="{CLASS} {snapshot_class(snapshot_id)}" data-chatzoo-snapshot="{snapshot_id}">'
            f"<table><caption>{html.escape(caption)}</caption><thead><tr>{head}</tr></thead>"
            f'<tbody>{"".join(body)}</tbody></table>{batch}</div>')


def _grid_cell(cell: Mapping[str, Any] | None) -> str:
    state = outcome(cell)
    if state == "missing":
        return "<td></td>"
    parts = [f"<strong>{state}</strong>" if state in ("pass", "fail") else ""]
    if isinstance(cell.get("score"), (int, float)) and cell["score"] == cell["score"]:
        parts.append(f" <small>score {cell['score']:.2f}</small>")
    if (cell.get("status") or "done") != "done":
        parts.append(f" <em>{html.escape(str(cell['status']))}</em>")
    parts.append(f"<br>{html.escape(preview(cell.get('reply') or '', GRID_REPLY_CHARS))}")
    failed = [c for c in cell.get("checks") or () if not c.get("pass")]
    for check in failed[:GRID_REASONS]:
        reason = preview(str(check.get("error") or check.get("reason") or "failed"), 200)
        parts.append(f"<br><small>✗ {html.escape(str(check.get('type')))}: {html.escape(reason)}</small>")
    if len(failed) > GRID_REASONS:
        parts.append(f"<br><small>… {len(failed) - GRID_REASONS} more failed checks</small>")
    return f'<td valign="top">{"".join(parts)}</td>'


def batch_fragment(grid: Mapping[str, Any] | None, summary: Sequence[Mapping[str, Any]] = ()) -> str:
    """A batch run in the snapshot: that it ran (rows x columns), its summary tables, and its first GRID_ROWS
    grid rows, with where the rest is."""
    if not grid:
        return ""
    columns = [str(c) for c in grid.get("columns") or ()]
    rows = list(grid.get("rows") or ())[:GRID_ROWS]
    total = int(grid.get("total", len(rows)))
    rest = (f"the first {len(rows)} below; all of them in the report (w.export(\"comparison.html\")), the "
            "DataFrame run_batch returned, or w.export_results(\"run.json\")" if total > len(rows) else "all below")
    out = [f"<p><strong>A batch run:</strong> {total:,} row{'s' * (total != 1)} x {len(columns)} "
           f"column{'s' * (len(columns) != 1)}; {html.escape(rest)}.</p>"]
    for part in summary:
        table = part.get("table") or {}
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.get("columns") or ())
        body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>"
                       for row in table.get("rows") or ())
        out.append(f"<table><caption>{html.escape(str(part.get('title') or 'Batch summary'))}</caption>"
                   f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    head = "<th>Prompt</th>" + "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        f'<tr><td valign="top">{html.escape(preview(str(r.get("prompt") or ""), GRID_REPLY_CHARS))}</td>'
        + "".join(_grid_cell((r.get("cells") or {}).get(c)) for c in columns) + "</tr>" for r in rows)
    out.append(f"<table><caption>Batch results</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
               "</table>")
    return "".join(out)


def snapshot_html(widget: Any) -> str:
    """The snapshot of `widget`'s conversation now (blind while its arena is), and of its last batch run."""
    data = report_data(widget, manifests=False, batch_rows=GRID_ROWS)
    return fragment(data["document"].get("columns") or (), widget._snapshot_id, blind=bool(data.get("blind")),
                    batch=batch_fragment(data.get("grid"), data.get("summary") or ()))


def snapshot_bundle(widget: Any) -> dict[str, str]:
    return {"text/html": snapshot_html(widget)}


__all__ = ["CLASS", "GRID_ROWS", "LAST_TURNS", "REPLY_CHARS", "batch_fragment", "fragment", "snapshot_bundle", "snapshot_class", "snapshot_html"]
