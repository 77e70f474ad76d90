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
id: nbclient (`nbconvert --execute`, papermill) everywhere in the notebook; JupyterLab keeps display ids per
output area, so it applies an update sent on behalf of the cell that displayed the widget (seen when that cell was
the last one run and the widget's own box was used) but not one sent on behalf of a later cell: a conversation
carried on from other cells is in a JupyterLab-saved file once the widget is displayed again (`w` in a cell) or
`w.snapshot()` is shown.

The fragment is plain HTML with no style sheet or script (GitHub strips both): one table, a column per model,
a row per turn; replies rendered and sanitised as in the report; blind while the arena is. It holds the latest
LAST_TURNS turns, each reply cut at REPLY_CHARS: every refresh crosses the websocket whole, so a snapshot of the
whole conversation would make each turn cost more than the last (the wire's rule is that a turn costs what its
replies do) and grow the saved notebook without end. The report (`w.export`) has everything.
"""

from __future__ import annotations

import html
from typing import Any, Mapping, Sequence

from .collect import report_data
from .page import reply_body, stats_line

CLASS = "chatzoo-snapshot"
#: the turns a snapshot shows (the latest ones)
LAST_TURNS = 10
#: a reply's characters a snapshot shows
REPLY_CHARS = 20_000


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
             last_turns: int = LAST_TURNS) -> str:
    """The snapshot's HTML: a table of the latest `last_turns` prompts (rows) and every column's reply to them."""
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
            f'<tbody>{"".join(body)}</tbody></table></div>')


def snapshot_html(widget: Any) -> str:
    """The snapshot of `widget`'s conversation now (blind while its arena is)."""
    data = report_data(widget, manifests=False)
    return fragment(data["document"].get("columns") or (), widget._snapshot_id, blind=bool(data.get("blind")))


def snapshot_bundle(widget: Any) -> dict[str, str]:
    return {"text/html": snapshot_html(widget)}


__all__ = ["CLASS", "LAST_TURNS", "REPLY_CHARS", "fragment", "snapshot_bundle", "snapshot_class", "snapshot_html"]
