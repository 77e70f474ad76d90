"""Send a widget a command as one view of it would, and get the answer that view receives."""

from __future__ import annotations

import itertools
from typing import Any

_ids = itertools.count(1)


def command(widget: Any, name: str, /, **args: Any) -> dict[str, Any]:
    """Deliver `{"kind": "command", "id", "name", "args"}` to `widget` as the browser would and return its answer,
    `{"kind": "answer", "id", "name", "ok", "result" | "error"}`, as the browser gets it (through the widget's blind
    filter). Commands are answered while they are handled, so the answer is there on return."""
    request_id = f"test-{next(_ids)}"
    answers: list[dict[str, Any]] = []
    forward = widget.send_message

    def capture(msg: dict[str, Any]) -> None:
        if isinstance(msg, dict) and msg.get("kind") == "answer" and msg.get("id") == request_id:
            answers.append(msg)
        forward(msg)

    widget.send_message = capture
    try:
        widget._handle_custom_msg({"kind": "command", "id": request_id, "name": name, "args": args}, [])
    finally:
        del widget.send_message
    if len(answers) != 1:
        raise AssertionError(f"command {name!r} got {len(answers)} answers, not one")
    blind = getattr(widget, "_blind", None)
    return blind.message(answers[0]) if blind is not None else answers[0]
