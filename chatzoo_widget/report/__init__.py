"""Share a comparison: a standalone HTML report (`w.export("comparison.html")`, the widget's report button) and
the static snapshot a saved notebook shows where the widget cannot run (snapshot.py).

The report is one self-contained file: every column's conversation (markdown rendered and sanitised as in the
widget, thinking folded, statistics under each reply), votes, leaderboard, judge verdicts, the last batch run and
its summary, and each column's manifest. It opens offline, makes no request and reads without JavaScript. A
blind arena conversation exports blind (collect.py).
"""

from __future__ import annotations

import os
import pathlib
from typing import Any

from ..compare.exports import _target, _write_atomic
from .collect import report_data
from .page import render_page

EXTENSIONS = (".html", ".htm")


def report_html(widget: Any, title: str = "ChatZoo comparison") -> str:
    """The report of `widget`'s comparison as one HTML document (a string)."""
    return render_page(report_data(widget), title=title)


def write_report(path: str | os.PathLike, widget: Any, title: str | None = None) -> pathlib.Path:
    """Write the report to `path` (.html); the same errors as `export` for a bad extension or folder, and nothing
    is written then. Returns the path written."""
    target, _ = _target(path, EXTENSIONS)
    _write_atomic(target, report_html(widget, title or "ChatZoo comparison"))
    return target


__all__ = ["EXTENSIONS", "report_data", "report_html", "write_report"]
