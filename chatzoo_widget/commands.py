"""What the browser asks the kernel to do: one table from a command's name to its handler, one answer per command.

The browser sends `{"kind": "command", "id", "name", "args"}`; the widget answers `{"kind": "answer", "id",
"name", "ok": true, "result"}` or `{"kind": "answer", "id", "name", "ok": false, "error"}`. Custom messages reach
every view of a widget, so the id (made by the view that asked) lets only that view act on the answer: its error
shows where the user acted, a download is saved once. Answers leave through the widget's one outgoing path, so the
blind filter scrubs them as it scrubs everything else.

A handler is a function `(widget, **args)`; its signature is the command's argument list. Arguments are checked
against the annotations (str, int, bool, dict, None and unions of them) before the handler runs, and a bad one is
refused with an error that names it. This module is anywidget's request/response pattern (its experimental
`command`/`invoke`) with an error channel, no binary buffers and no timeout of its own on the Python side.
"""

import inspect
import threading
import types
import typing
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from . import compare
from .manager import BusyError

# Errors a handler raises on purpose (a refused prompt, a bad setting, an unknown column): their text is the answer.
EXPECTED_ERRORS = (ValueError, BusyError, RuntimeError, KeyError, TimeoutError)
_JSON_NAMES = {str: "a string", int: "a whole number", float: "a number", bool: "true or false", dict: "an object",
               list: "a list", type(None): "null"}


@dataclass(frozen=True)
class Command:
    """A command the browser may send: its handler and the arguments it takes (name -> accepted types)."""

    name: str
    handler: Callable[..., Any]
    params: Mapping[str, tuple[type, ...]]
    required: frozenset[str]


COMMANDS: dict[str, Command] = {}


def _accepted(annotation: Any) -> tuple[type, ...]:
    """The JSON types an annotation accepts: `str | None` -> (str, NoneType); `dict[str, Any]` -> (dict,)."""
    if annotation is inspect.Parameter.empty or annotation is Any:
        return ()  # anything
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return tuple(t for arg in typing.get_args(annotation) for t in _accepted(arg))
    if annotation is None:
        return (type(None),)
    origin = typing.get_origin(annotation)
    return (origin if isinstance(origin, type) else annotation,)


def command(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Register `handler(widget, **args)` as the command of its name (its signature lists the arguments)."""
    params = list(inspect.signature(handler).parameters.values())[1:]  # the first is the widget
    hints = typing.get_type_hints(handler)  # annotations as types, also where they are strings (PEP 563)
    COMMANDS[handler.__name__] = Command(
        name=handler.__name__, handler=handler,
        params={p.name: _accepted(hints.get(p.name, p.annotation)) for p in params},
        required=frozenset(p.name for p in params if p.default is inspect.Parameter.empty),
    )
    return handler


def _type_ok(value: Any, accepted: tuple[type, ...]) -> bool:
    if not accepted:
        return True
    if isinstance(value, bool):  # JSON true is not a number
        return bool in accepted
    return isinstance(value, accepted)


def check_args(cmd: Command, args: Any) -> dict[str, Any]:
    """`args` as the handler's keyword arguments; ValueError naming the command and the argument when bad."""
    if args is None:
        args = {}
    if not isinstance(args, Mapping):
        raise ValueError(f"command {cmd.name!r}: args must be an object, not {type(args).__name__}")
    takes = ", ".join(cmd.params) or "no arguments"
    for key in args:
        if key not in cmd.params:
            raise ValueError(f"command {cmd.name!r} got an unknown argument {key!r} (it takes {takes})")
    for key in sorted(cmd.required - set(args)):
        raise ValueError(f"command {cmd.name!r} needs the argument {key!r} (it takes {takes})")
    for key, value in args.items():
        accepted = cmd.params[key]
        if not _type_ok(value, accepted):
            wanted = " or ".join(dict.fromkeys(_JSON_NAMES.get(t, t.__name__) for t in accepted))
            got = _JSON_NAMES.get(type(value), type(value).__name__)
            raise ValueError(f"command {cmd.name!r}: {key!r} must be {wanted}, not {got}")
    return dict(args)


def is_command(content: Any) -> bool:
    return isinstance(content, Mapping) and content.get("kind") == "command"


def error_text(exc: BaseException) -> str:
    """What the user reads: the message of an expected error, the type too for anything else."""
    if isinstance(exc, KeyError) and exc.args:  # KeyError's str() adds quotes; its first argument is the message
        text = str(exc.args[0])
    else:
        text = str(exc)
    if not isinstance(exc, EXPECTED_ERRORS):
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text or type(exc).__name__


def run(widget: Any, content: Mapping[str, Any]) -> dict[str, Any]:
    """Run one command message on `widget` and return its answer (never raises for a bad command or handler)."""
    name = content.get("name")
    answer: dict[str, Any] = {"kind": "answer", "id": content.get("id"), "name": name}
    try:
        cmd = COMMANDS.get(name) if isinstance(name, str) else None
        if cmd is None:
            known = ", ".join(sorted(COMMANDS))
            raise ValueError(f"unknown command {name!r} (known: {known})")
        result = cmd.handler(widget, **check_args(cmd, content.get("args")))
    except Exception as exc:  # every command gets an answer, or its view would wait until its timeout
        return {**answer, "ok": False, "error": error_text(exc)}
    return {**answer, "ok": True, "result": result}


# ----- the commands -----------------------------------------------------------------------------------------
@command
def send(widget: Any, prompt: str) -> None:
    """The prompt box: accepted (the box clears) or refused (empty, busy: the prompt stays in the box)."""
    widget.send(prompt)


@command
def stop(widget: Any, column: str | None = None) -> None:
    widget.stop(column)  # Stop (all) also stops a batch run and a judge at work


@command
def clear(widget: Any) -> None:
    # Clearing waits for the replies to stop: off the kernel's message loop, so the next command is not held.
    threading.Thread(target=widget.manager.clear, daemon=True, name="chatzoo-clear").start()


@command
def regenerate(widget: Any) -> None:
    widget.manager.regenerate()


@command
def add_model(widget: Any, model: str, name: str = "") -> dict[str, str]:
    """Returns the new column's name (it loads in the background; a failed load shows in the column)."""
    return {"name": widget.add_model(model.strip(), name=name.strip() or None)}


@command
def remove_model(widget: Any, column: str) -> None:
    widget.manager.remove(column)


@command
def set_settings(widget: Any, column: str, settings: dict) -> None:
    try:
        widget.manager.set_settings(column, timeout=0, **settings)
    except Exception:
        widget._sync()  # the controls go back to the values in force
        raise


@command
def vote(widget: Any, choice: str) -> None:
    widget.vote(choice)


@command
def continue_with(widget: Any, column: str) -> None:
    widget.manager.continue_with(column)  # a column id, never a label: ids name no model


@command
def edit_last(widget: Any, prompt: str) -> None:
    widget.edit_last(prompt)


@command
def thumb(widget: Any, column: str, value: int | None, turn: int | None = None) -> None:
    widget.thumb(column, value, turn)


@command
def stop_batch(widget: Any) -> None:
    widget.stop_batch()


@command
def export(widget: Any) -> dict[str, Any]:
    """The download button: the same JSON document as `export("x.json")`, for the view that asked to save."""
    document = compare.comparison_document(widget.manager, widget._book, widget._arena,
                                           judgments=widget._judges.judgments)
    if widget._book.is_blind():  # the rendered prompts' format names the models
        document = compare.hide_prompts(document)
    return {"kind": "export_data", "filename": "chatzoo-comparison.json", "document": document}


@command
def export_report(widget: Any) -> dict[str, Any]:
    """The report button: the standalone HTML report, as `export("x.html")` writes it (blind while the arena is)."""
    from .report import report_html

    return {"kind": "export_report", "filename": "chatzoo-comparison.html", "html": report_html(widget)}


@command
def judge(widget: Any, judge: str, turn: int | None = None) -> None:
    widget.judge(judge, turn=turn, wait=False)  # progress and a failed load show in judge_state


@command
def stop_judge(widget: Any) -> None:
    widget.stop_judge()


@command
def leaderboard_source(widget: Any, source: str) -> None:
    if source not in compare.SOURCES:
        raise ValueError(f"unknown leaderboard source {source!r}: choose votes, judge or both")
    widget._leaderboard_source = source
    widget._refresh_leaderboard()


@command
def grid_rows(widget: Any, run: str, start: int = 0) -> dict[str, Any]:
    """The results grid's rows from `start` (compare/grid.py): for a view that opened late or missed messages."""
    grid = widget._grid
    if grid is None or grid.run != run:
        raise ValueError(f"batch run {run!r} is not the latest: the grid shows the latest run only")
    return grid.rows_from(start)
