"""The report page: report data (collect.py) -> one self-contained HTML document.

Everything is inline (style, a small script, no font, image or link to elsewhere) and a Content-Security-Policy
in the page itself forbids every fetch and every script but the report's own (allowed by its hash): even a reply
that got past the sanitiser could neither run nor load anything. Without JavaScript the page reads the same; the
script only adds a column filter, "expand/collapse all" and the batch grid's filters (grid.py). The work is linear in the size of the comparison:
one pass over the data into a list of strings, joined once.
"""

from __future__ import annotations

import base64
import hashlib
import json
import pathlib
from typing import Any, Iterable, Mapping, Sequence

from .grid import esc, grid_html
from .markdown import markdown_to_html

HERE = pathlib.Path(__file__).parent
CSS = (HERE / "report.css").read_text(encoding="utf-8")
SCRIPT = (HERE / "report.js").read_text(encoding="utf-8")
# Past this many characters a reply shows as the plain text it is: markdown-it is linear but slow on pathological
# input (300 k "[" take seconds), and nobody reads a reply that long as formatted text.
MARKDOWN_LIMIT = 256_000


def _csp() -> str:
    digest = base64.b64encode(hashlib.sha256(SCRIPT.encode("utf-8")).digest()).decode("ascii")
    return ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
            f"script-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'")


def _number(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value).lower()
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def cell(value: Any) -> str:
    """A table cell's content: numbers shortened, objects as JSON, long text scrollable; always escaped."""
    if isinstance(value, (dict, list, tuple)):
        value = json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, str):
        return f'<div class="cz-long">{esc(value)}</div>' if len(value) > 160 else esc(value)
    return esc(_number(value))


def table_html(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, testid: str) -> str:
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return (f'<div class="cz-table-wrap"><table class="cz-table" data-testid="{esc(testid)}">'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>")


def reply_body(text: str) -> str:
    if len(text) > MARKDOWN_LIMIT:
        return (f'<p class="cz-note">A reply of {len(text):,} characters, shown as plain text.</p>'
                f'<div class="cz-plain">{esc(text)}</div>')
    return markdown_to_html(text)


def stats_line(stats: Mapping[str, Any] | None) -> str:
    """Under each reply, as in the widget: tokens, time to first token, speed, why it ended."""
    if not stats:
        return ""
    parts = []
    if stats.get("new_tokens") is not None:
        parts.append(f"{stats['new_tokens']} tokens")
    if stats.get("reasoning_tokens"):
        parts.append(f"{stats['reasoning_tokens']} thinking")
    if stats.get("time_to_first_token") is not None:
        parts.append(f"first token {stats['time_to_first_token']:.2f} s")
    if stats.get("tokens_per_second") is not None:
        parts.append(f"{stats['tokens_per_second']:.1f} tok/s")
    if stats.get("finish_reason"):
        parts.append(f"ended: {stats['finish_reason']}")
    if stats.get("dropped_turns"):
        parts.append(f"{stats['dropped_turns']} oldest turns dropped")
    return f'<div class="cz-stats" data-testid="reply-stats">{esc(" · ".join(parts))}</div>'


def entry_html(entry: Mapping[str, Any]) -> str:
    if entry.get("role") == "HUMAN":
        return f'<div class="cz-human" data-testid="human-message">{esc(entry.get("content"))}</div>'
    out = ['<div class="cz-bot" data-testid="bot-message">']
    reasoning = entry.get("reasoning")
    if reasoning or entry.get("reasoning_unfinished"):
        title = "Thinking (unfinished)" if entry.get("reasoning_unfinished") else "Thinking"
        out.append(f'<details class="cz-thinking"><summary>{title}</summary>'
                   f'<div class="cz-md">{reply_body(reasoning or "")}</div></details>')
    stats = entry.get("stats") or {}
    out.append(f'<div class="cz-md" data-testid="reply">{reply_body(entry.get("content") or "")}</div>')
    if stats.get("error"):
        out.append(f'<div class="cz-error">{esc(stats["error"])}</div>')
    if entry.get("continued_with"):
        out.append(f'<div class="cz-note">The conversation continued with {esc(entry["continued_with"])}\'s '
                   "reply.</div>")
    out.append(stats_line(stats))
    if entry.get("rendered_prompt"):
        out.append(f'<details class="cz-prompt"><summary>Prompt ({esc(entry.get("prompt_tokens"))} tokens)</summary>'
                   f'<pre>{esc(entry["rendered_prompt"])}</pre></details>')
    out.append("</div>")
    return "".join(out)


def column_html(column: Mapping[str, Any]) -> str:
    name = column.get("name") or ""
    out = [f'<section class="cz-column" data-testid="column" data-name="{esc(name.lower())}">',
           f'<h3 class="cz-column-name" data-testid="column-name">{esc(name)}</h3>']
    if column.get("model") and column.get("model") != name:
        out.append(f'<div class="cz-model">{esc(column["model"])}</div>')
    if column.get("settings"):
        shown = ", ".join(f"{k}={_number(v)}" for k, v in column["settings"].items() if k != "system_prompt")
        out.append(f'<div class="cz-settings">{esc(shown)}</div>')
    if column.get("error"):
        out.append(f'<div class="cz-error">{esc(column["error"])}</div>')
    out.extend(entry_html(e) for e in column.get("history") or ())
    if not column.get("history"):
        out.append('<p class="cz-note">No conversation yet.</p>')
    out.append("</section>")
    return "".join(out)


def columns_html(columns: Sequence[Mapping[str, Any]]) -> str:
    return f'<div class="cz-columns">{"".join(column_html(c) for c in columns)}</div>'


def _votes_html(votes: Sequence[Mapping[str, Any]]) -> str:
    rows = [[v.get("conversation"), v.get("turn"), v.get("prompt"), v.get("choice"), v.get("timestamp")] for v in votes]
    return table_html(["conversation", "turn", "prompt", "choice", "when"], rows, testid="votes")


def _leaderboard_html(board: Mapping[str, Any]) -> str:
    columns = board.get("columns") or (list(board["rows"][0]) if board.get("rows") else [])
    rows = [[r.get(c) for c in columns] for r in board.get("rows") or ()]
    source = board.get("source")
    note = f'<p class="cz-note">From {esc(source)}.</p>' if source else ""
    return note + table_html(columns, rows, testid="leaderboard")


def _judgments_html(judgments: Sequence[Mapping[str, Any]]) -> str:
    rows = [[j.get("turn"), j.get("a"), j.get("b"), j.get("verdict"), j.get("judge"), j.get("orders"),
             j.get("error"), j.get("rationales")] for j in judgments]
    return table_html(["turn", "a", "b", "verdict", "judge", "orders", "error", "rationales"], rows,
                      testid="judgments")


def _manifests_html(manifests: Mapping[str, Any]) -> str:
    out = []
    for name, manifest in manifests.items():
        rows = [[k, v] for k, v in (manifest or {}).items()]
        out.append(f'<details class="cz-manifest" data-testid="manifest"><summary>{esc(name)}</summary>'
                   f'{table_html(["field", "value"], rows, testid="manifest-table")}</details>')
    return "".join(out)


def section(title: str, body: str, testid: str) -> str:
    return f'<section class="cz-section" data-testid="{esc(testid)}"><h2>{esc(title)}</h2>{body}</section>'


def render_page(data: Mapping[str, Any], title: str = "ChatZoo comparison") -> str:
    """The whole report as one HTML document (a string)."""
    doc = data["document"]
    parts = [
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{esc(_csp())}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>{esc(title)}</title><style>{CSS}</style></head>",
        '<body><main class="cz-report" data-testid="report">',
        f"<header><h1>{esc(title)}</h1>",
        f'<p class="cz-meta">Exported {esc(doc.get("exported_at"))} by ChatZoo Widget · '
        f'{len(doc.get("columns") or ())} columns</p>',
    ]
    if data.get("blind"):
        parts.append('<p class="cz-blind" data-testid="blind-note">Blind comparison: the models are shown as '
                     "their arena labels until the vote reveals them.</p>")
    if doc.get("system_prompt"):
        parts.append(f'<p class="cz-system"><strong>System prompt:</strong> {esc(doc["system_prompt"])}</p>')
    parts.append('<div class="cz-tools" data-testid="report-tools" hidden></div></header>')
    parts.append(section("Conversation", columns_html(doc.get("columns") or ()), "conversation"))
    if doc.get("votes"):
        parts.append(section("Votes", _votes_html(doc["votes"]), "votes-section"))
    if data.get("leaderboard") and data["leaderboard"].get("rows"):
        parts.append(section("Leaderboard", _leaderboard_html(data["leaderboard"]), "leaderboard-section"))
    if doc.get("judgments"):
        parts.append(section("Judge verdicts", _judgments_html(doc["judgments"]), "judgments-section"))
    for part in data.get("summary") or ():  # the batch's statistics, above its grid
        summary = part["table"]
        parts.append(section(part["title"], table_html(summary["columns"], summary["rows"], testid="summary"),
                             "summary-section"))
    if data.get("summary_error"):
        parts.append(section("Batch summary", f'<p class="cz-error">{esc(data["summary_error"])}</p>',
                             "summary-section"))
    if data.get("grid"):
        parts.append(section("Batch results", grid_html(data["grid"]), "batch-section"))
    if doc.get("manifests"):
        parts.append(section("Manifests", _manifests_html(doc["manifests"]), "manifests-section"))
    parts.append(f"</main><script>{SCRIPT}</script></body></html>\n")
    return "".join(parts)


__all__ = ["columns_html", "markdown_to_html", "render_page", "stats_line"]
