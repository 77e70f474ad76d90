"""One child widget model per column: what the browser draws of a column, and nothing it can fetch when asked.

The widget's `columns` trait lists these models (lonboard's child models: `widget_serialization`, the browser gets
each through `model.widget_manager.get_model(id)`), so a change to one column's status or settings sends that
column's trait alone. A column model has four synced traits:

    info      {id, name, model, family, status, error, progress} (and label, blind, real_name in an arena)
    settings  the settings in force
    spec      the typed settings (sliders)
    history   {"version": n, "entries": [...]}: the conversation, with each reply slimmed (`slim_entry`)

The history is never sent as a trait update. Each change goes as one custom message on the widget,
`{"kind": "entries", "column", "version", "keep", "entries"}`: keep the first `keep` entries, append `entries`
(a new prompt or reply: keep = the length so far; Regenerate, continue-with, an edit: fewer; Clear: 0). Python
applies it to the trait's value in place, which traitlets does not see, so nothing is echoed; the browser applies
it to its copy with `model.set` and no `save_changes`. So the browser's state (what JupyterLab saves into the
notebook) holds the whole conversation, a page that connects later gets it from `get_state`, and a reply crosses
the wire once as deltas and once as its entry: bytes per turn depend on that turn alone.

Bulky details stay in the kernel until asked for: a reply's `rendered_prompt` and `reasoning` are replaced by
`has_prompt` / `has_reasoning`, and the `entry_detail` command answers them for one reply; its `tokens` (logprobs
on) by `has_tokens`, answered by `entry_tokens` (token_commands.py).
"""

# No `from __future__ import annotations`: the command table reads the commands' annotations as types.
import threading
from typing import Any, Callable, Mapping

import ipywidgets
import traitlets

from . import commands
from .compare.hidden_prompts import hide_prompts

INFO_KEYS = ("id", "name", "model", "family", "status", "error", "progress", "note", "label", "blind", "real_name")
BULKY_KEYS = ("rendered_prompt", "reasoning", "tokens")  # fetched with `entry_detail` / `entry_tokens`, never synced


def slim_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A history entry as synced: its rendered prompt, thinking and tokens replaced by flags (also in
    `alternatives` and the replies of `edited` turns)."""
    out = {k: v for k, v in entry.items() if k not in BULKY_KEYS}
    if isinstance(entry.get("rendered_prompt"), str):
        out["has_prompt"] = True
    if entry.get("reasoning"):
        out["has_reasoning"] = True
    if entry.get("tokens"):
        out["has_tokens"] = True
    if isinstance(entry.get("alternatives"), list):
        out["alternatives"] = [slim_entry(a) if isinstance(a, Mapping) else a for a in entry["alternatives"]]
    if isinstance(entry.get("edited"), list):
        out["edited"] = [{**e, "reply": slim_entry(e["reply"]) if isinstance(e.get("reply"), Mapping) else None}
                         if isinstance(e, Mapping) else e for e in entry["edited"]]
    return out


def _common_prefix(old: list[Any], new: list[Any]) -> int:
    n = 0
    for a, b in zip(old, new):
        if a != b:
            break
        n += 1
    return n


class ColumnModel(ipywidgets.Widget):
    """A column as the browser draws it (a child model of `ChatZooWidget`; see the module docstring).

    Reads like the column dict it shows: `column["name"]`, `column["status"]`, `column["history"]`; `shown` is
    that dict whole. The browser never writes it.
    """

    info = traitlets.Dict().tag(sync=True)
    settings = traitlets.Dict().tag(sync=True)
    spec = traitlets.List().tag(sync=True)
    history = traitlets.Dict().tag(sync=True)

    def __init__(self, column: Mapping[str, Any], *, state_filter: Callable[[dict[str, Any]], dict[str, Any]],
                 lock: threading.RLock, **kwargs: Any):
        # Set before the comm opens (ipywidgets sends the first state from inside __init__).
        self._state_filter = state_filter
        self._lock = lock
        super().__init__(info={k: column[k] for k in INFO_KEYS if k in column},
                         settings=dict(column.get("settings") or {}), spec=list(column.get("spec") or []),
                         history={"version": 0, "entries": [slim_entry(e) for e in column.get("history") or []]},
                         **kwargs)

    @property
    def column_id(self) -> str:
        return self.info.get("id", "")

    @property
    def shown(self) -> dict[str, Any]:
        """The column as the browser composes it: info, settings, spec and the history's entries."""
        with self._lock:
            return {**self.info, "settings": self.settings, "spec": self.spec,
                    "history": list(self.history.get("entries") or [])}

    def __getitem__(self, key: str) -> Any:
        return self.shown[key]

    def show(self, column: Mapping[str, Any], *, resend: bool = False) -> dict[str, Any] | None:
        """Take `column` (a shown column dict): info, settings and spec sync if they changed; returns the history
        message for the browser (None when the history did not change). `resend`: the whole history goes again
        (the blind filter now scrubs it differently)."""
        with self._lock:
            self.info = {k: column[k] for k in INFO_KEYS if k in column}
            self.settings = dict(column.get("settings") or {})
            self.spec = list(column.get("spec") or [])
            entries = [slim_entry(e) for e in column.get("history") or []]
            held = self.history.setdefault("entries", [])
            keep = 0 if resend else _common_prefix(held, entries)
            if keep == len(held) == len(entries) and not resend:
                return None
            held[keep:] = entries[keep:]  # in place: traitlets sees no change, so no echo of the whole history
            self.history["version"] = self.history.get("version", 0) + 1
            return {"kind": "entries", "column": self.column_id, "version": self.history["version"], "keep": keep,
                    "entries": entries[keep:]}

    # ----- the boundary: the browser gets what the widget's blind filter lets through ------------------------
    def get_state(self, key: Any = None, drop_defaults: bool = False) -> dict[str, Any]:
        lock = getattr(self, "_lock", None)
        if lock is None:  # not set up yet
            return super().get_state(key=key, drop_defaults=drop_defaults)
        with lock:  # worker threads change the history in place: read it whole
            return self._state_filter(super().get_state(key=key, drop_defaults=drop_defaults))

    def set_state(self, sync_data: Any) -> None:
        """The browser never writes a column (its history copy may be scrubbed while blind): ignored."""


class ColumnSet:
    """The widget's column models by column id: `update(shown)` syncs each column and returns the history
    messages to send."""

    def __init__(self, state_filter: Callable[[dict[str, Any]], dict[str, Any]], lock: threading.RLock):
        self._filter = state_filter
        self._lock = lock
        self.models: dict[str, ColumnModel] = {}

    def update(self, shown: list[Mapping[str, Any]], *, resend: bool = False) -> tuple[list[ColumnModel],
                                                                                      list[dict[str, Any]],
                                                                                      list[ColumnModel]]:
        """(the models in display order, the history messages, the models of columns gone: close them once the
        widget's `columns` no longer lists them)."""
        ordered, messages = [], []
        for column in shown:
            model = self.models.get(column["id"])
            if model is None:
                model = self.models[column["id"]] = ColumnModel(column, state_filter=self._filter, lock=self._lock)
            else:
                message = model.show(column, resend=resend)
                if resend:  # unchanged values too: the blind filter now lets through what it hid, or hides it
                    model.send_state(["info", "settings", "spec"])
                if message is not None:
                    messages.append(message)
            ordered.append(model)
        ids = {c["id"] for c in shown}
        gone = [self.models.pop(cid) for cid in list(self.models) if cid not in ids]
        return ordered, messages, gone

    def history(self, column_id: str) -> dict[str, Any]:
        """A column's synced history whole ({"version", "entries"}): for a browser that missed a message."""
        model = self.models.get(column_id)
        if model is None:
            raise KeyError(f"no column with id {column_id!r}")
        with self._lock:
            return {"version": model.history.get("version", 0), "entries": list(model.history.get("entries") or [])}

    def close(self) -> None:
        for model in self.models.values():
            model.close()
        self.models.clear()


# ----- commands: the details a reply keeps in the kernel ---------------------------------------------------------
@commands.command
def entry_detail(widget: Any, column: str, turn: int) -> dict[str, Any]:
    """The rendered prompt and the thinking of `column`'s reply to `turn` (a column id), for the Prompt and
    Thinking blocks. While an arena is blind the prompt stays hidden (its format names the model)."""
    history = widget.manager.histories().get(column)
    if history is None:
        raise KeyError(f"no column with id {column!r}")
    entry = next((e for e in reversed(history) if e["role"] == "BOT" and e.get("turn") == turn), None)
    if entry is None:
        raise KeyError(f"the column has no reply to turn {turn}")
    detail = {"rendered_prompt": entry.get("rendered_prompt"), "prompt_tokens": entry.get("prompt_tokens"),
              "reasoning": entry.get("reasoning"), "reasoning_unfinished": bool(entry.get("reasoning_unfinished"))}
    return hide_prompts(detail) if widget._book.is_blind() else detail


@commands.command
def column_history(widget: Any, column: str) -> dict[str, Any]:
    """A column's synced history whole, `{"version", "entries"}` (the browser asks when it missed a message)."""
    return widget._column_set.history(column)
