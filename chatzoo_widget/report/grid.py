"""The batch run in the report as the widget's results grid: a row per prompt, a column per model, each cell the
reply (a long one folded: its start, the whole on click, a plain `<details>`), its pass/fail badge and score, and
each check's reason. The page reads the same without JavaScript; report.js adds the widget's filters (all rows,
failures, rows where the columns disagree) by the `data-fail` / `data-disagree` flags computed here, with the
widget's rules (js/src/grid-model.ts: a reply that errored or timed out counts as a failure; rows disagree when
some columns pass and others fail).

The grid is a list of rows, each a CSS grid with the same fixed tracks (ARIA table roles), not a `<table>`: a row
outside the viewport is skipped by the browser's layout and paint (`content-visibility: auto`, which table rows do
not take), so 1,000 rows open at once.
"""

from __future__ import annotations

import html
import re
from typing import Any, Mapping, Sequence

#: a reply longer than this (characters, or lines) is folded: its start shows, the rest on click
FOLD_CHARS = 280
FOLD_LINES = 6
PREVIEW_CHARS = 160  # as the widget's grid cuts a reply (grid-model.ts truncate)


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def outcome(cell: Mapping[str, Any] | None) -> str:
    """pass, fail, unchecked (no checks ran on a finished reply) or missing (no reply), as the widget decides."""
    if not cell:
        return "missing"
    if cell.get("pass") is True:
        return "pass"
    if cell.get("pass") is False:
        return "fail"
    return "unchecked" if (cell.get("status") or "done") == "done" else "fail"


def preview(text: str, limit: int = PREVIEW_CHARS) -> str:
    flat = re.sub(r"\s+", " ", text or "").strip()
    return flat if len(flat) <= limit else flat[:limit - 1].rstrip() + "…"


def reply_html(text: str) -> str:
    """A reply as plain text (as the widget's grid shows it); folded in a `<details>` when it is long."""
    if len(text) <= FOLD_CHARS and text.count("\n") < FOLD_LINES:
        return f'<div class="cz-grid-reply" data-testid="grid-reply">{esc(text)}</div>'
    return (f'<details class="cz-grid-fold" data-testid="grid-fold"><summary>{esc(preview(text))}</summary>'
            f'<div class="cz-grid-reply" data-testid="grid-reply">{esc(text)}</div></details>')


def _score(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, (int, float)) and not isinstance(value, bool) and value == value else ""


def reasons_html(cell: Mapping[str, Any]) -> str:
    """Each check: a mark and its type; a failed one with its reason, a passed one's reason on hover."""
    items = []
    for check in cell.get("checks") or ():
        ok = bool(check.get("pass"))
        reason = check.get("error") or check.get("reason") or ("passed" if ok else "failed")
        text = f"✓ {check.get('type')}" if ok else f"✗ {check.get('type')}: {reason}"
        items.append(f'<li class="{"cz-ok" if ok else "cz-bad"}" title="{esc(reason)}">{esc(text)}</li>')
    return f'<ul class="cz-grid-reasons" data-testid="grid-reasons">{"".join(items)}</ul>' if items else ""


def cell_html(cell: Mapping[str, Any] | None, state: str) -> str:
    if not cell:
        return '<div class="cz-grid-cell" role="cell" data-outcome="missing"></div>'
    status = cell.get("status") or "done"
    badge = (f'<span class="cz-badge cz-badge-{state}" data-testid="grid-badge">{state}</span>'
             if state in ("pass", "fail") else "")
    if status != "done":
        badge += f'<span class="cz-grid-status">{esc(status)}</span>'
    score = _score(cell.get("score"))
    head = (f'<div class="cz-grid-head">{badge}'
            f'{f"<span class=cz-grid-score data-testid=grid-score>score {score}</span>" if score else ""}</div>')
    earlier = cell.get("earlier") or ()
    before = ""
    if earlier:
        turns = "".join(f'<li><div class="cz-grid-turn">{esc(t.get("prompt"))}</div>{reply_html(t.get("reply") or "")}'
                        "</li>" for t in earlier)
        before = (f'<details class="cz-grid-earlier"><summary>{len(earlier)} earlier turn'
                  f'{"s" * (len(earlier) != 1)}</summary><ol>{turns}</ol></details>')
    error = f'<div class="cz-error">{esc(cell["error"])}</div>' if cell.get("error") else ""
    return (f'<div class="cz-grid-cell cz-grid-{state}" role="cell" data-outcome="{state}">{head}{before}'
            f'{reply_html(cell.get("reply") or "")}{error}{reasons_html(cell)}</div>')


def row_html(row: Mapping[str, Any], columns: Sequence[str]) -> str:
    cells = row.get("cells") or {}
    states = [outcome(cells.get(c)) for c in columns]
    fail = "fail" in states
    disagree = fail and "pass" in states
    sample = f' <span class="cz-grid-sample">sample {row["sample"]}</span>' if row.get("sample") else ""
    return (f'<div class="cz-grid-row" role="row" data-testid="grid-row" data-fail="{int(fail)}" '
            f'data-disagree="{int(disagree)}"><div class="cz-grid-prompt" role="rowheader">'
            f'<span class="cz-grid-id">{esc(row.get("id"))}</span>{sample}'
            f'<div class="cz-grid-reply">{esc(row.get("prompt"))}</div></div>'
            + "".join(cell_html(cells.get(c), s) for c, s in zip(columns, states)) + "</div>")


def grid_html(grid: Mapping[str, Any], *, more: str = "") -> str:
    """The grid (a header row of column names, then a row per prompt); `more` says where rows not shown are."""
    columns = [str(c) for c in grid.get("columns") or ()]
    rows = grid.get("rows") or ()
    template = f"--cz-grid-columns: {max(len(columns), 1)}"  # every row lays out the same tracks (report.css)
    head = ('<div class="cz-grid-row cz-grid-header" role="row"><div role="columnheader">Prompt</div>'
            + "".join(f'<div role="columnheader" data-testid="grid-column">{esc(c)}</div>' for c in columns)
            + "</div>")
    body = "".join(row_html(r, columns) for r in rows)
    return (f'<div class="cz-grid-tools" data-testid="grid-tools" hidden></div>'
            f'<div class="cz-grid" role="table" data-testid="grid" style="{template}">{head}{body}</div>'
            f'<p class="cz-note" data-testid="grid-count">{len(rows):,} of {grid.get("total", len(rows)):,} rows'
            f'{esc(more)}</p>')


__all__ = ["grid_html", "outcome"]
