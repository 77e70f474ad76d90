"""The browser's Cross-scores panel (issue 21 item 3): every local model scoring every column's reply.

`cross_scores` answers at once with the turn it scores (or the reason it cannot: nothing answered yet, a column
still answering, a blind arena); the scoring runs in the background on the models' scheduler threads and its
record (`records.CrossScores`) arrives as a `cross_scores` message, to every view, through the blind filter.
While an arena is blind it is refused: how each reply is cut into tokens, and which model finds which reply
likely, give the models away.
"""

# No `from __future__ import annotations`: the command table reads the commands' annotations as types.
import weakref
from typing import Any

from . import commands
from .compare.cross_scores import CrossScoreRun, turn_index, cross_scores_turn

HIDDEN_WHILE_BLIND = "Cross-scores are hidden until the vote: which model finds which reply likely gives them away."
_RUNNING: "weakref.WeakKeyDictionary[Any, CrossScoreRun]" = weakref.WeakKeyDictionary()


@commands.command
def cross_scores(widget: Any, turn: int | None = None) -> dict[str, int]:
    """Start scoring `turn` (default: the latest); returns `{"turn": index}`, the record follows as a message."""
    if widget._book.is_blind():
        raise ValueError(HIDDEN_WHILE_BLIND)
    running = _RUNNING.get(widget)
    if running is not None and running.thread.is_alive():
        raise RuntimeError("the replies are being scored already: wait for the table")
    index = turn_index(widget.manager, turn)

    def done(record: Any, error: str | None) -> None:
        if getattr(widget, "comm", None) is None:  # the widget was closed meanwhile: nobody to tell
            return
        widget.send_message({"kind": "cross_scores", "turn": index, "record": record, "error": error})

    _RUNNING[widget] = CrossScoreRun(
        lambda: cross_scores_turn(widget.manager, index, presenter=widget._book.presenter), done)
    return {"turn": index}
