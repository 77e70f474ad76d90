"""ChatZooWidget: the notebook widget. Traitlets and messages in, manager calls out."""

from __future__ import annotations

import pathlib
import threading
from typing import Any, Iterable, Mapping

import anywidget
import traitlets

from .manager import BusyError, ChatManager

STATIC = pathlib.Path(__file__).parent / "static"
# Shown instead of the widget when the bundle was not built (a source checkout without `npm run build` in js/).
_UNBUILT_ESM = """export default { render({ el }) {
  el.textContent = "ChatZoo Widget: the front end is not built. Run `npm install && npm run build` in js/.";
} };"""


def _bundle(name: str, fallback: str) -> pathlib.Path | str:
    path = STATIC / name
    return path if path.exists() else fallback


class ChatZooWidget(anywidget.AnyWidget):
    """Compare chat models side by side: one column per model, one prompt for all, replies stream in.

    Args:
        models: each item is an alias or path (`"smollm2-135m"`, `"./my-model"`), an http(s) URL of an
            OpenAI-compatible server, a `ChatBOT`, or a dict `{"name": ..., "model": ..., "settings": {...}}`
            (or `{"name": ..., "url": ..., "model": ..., "api_key_env": "VAR"}` for a remote model).
            Columns of one checkpoint share one copy of the weights.
        settings: settings for every column (a column's own settings win).
        system_prompt: system prompt for every column whose model has one.

    Models load in the background; each column shows its progress. `send` returns at once unless `wait=True`.
    """

    _esm = _bundle("widget.js", _UNBUILT_ESM)
    _css = _bundle("widget.css", "")

    columns = traitlets.List(traitlets.Dict()).tag(sync=True)
    system_prompt = traitlets.Unicode("").tag(sync=True)
    busy = traitlets.Bool(False).tag(sync=True)
    notice = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self,
        models: Iterable[Any] = (),
        *,
        settings: Mapping[str, Any] | None = None,
        system_prompt: str | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self._sync_lock = threading.Lock()
        self._common_settings = dict(settings or {})
        self.manager = ChatManager(on_event=self._forward_event, on_change=self._sync)
        self.manager.system_prompt = system_prompt or ""
        self.system_prompt = self.manager.system_prompt
        self.on_msg(self._on_front_end_message)
        for model in models:
            self.add_model(model)

    # ----- Python API ---------------------------------------------------------------------------
    def add_model(self, model: Any, name: str | None = None, settings: Mapping[str, Any] | None = None) -> str:
        """Add a column (loads in the background); returns its name."""
        merged = {**self._common_settings, **(model.get("settings") or {} if isinstance(model, Mapping) else {}),
                  **(settings or {})}
        return self.manager.add(model, name=name, settings=merged).name

    def remove_model(self, name: str) -> None:
        """Remove a column by name; a reply in progress there stops, the others go on."""
        self.manager.remove(name)

    def send(self, prompt: str, wait: bool = False, timeout: float | None = None) -> dict[str, str] | None:
        """Send `prompt` to every column, as if typed. With `wait=True`, return `{column: reply}` when all finish.

        Raises ValueError for an empty prompt and BusyError while columns are still answering.
        """
        self.manager.send(prompt)
        if wait:
            self.manager.wait(timeout)
            return self.manager.replies()
        return None

    def stop(self, column: str | None = None) -> None:
        """Stop the reply in progress in `column` (a name), or in every column."""
        self.manager.stop(column)

    def clear(self) -> None:
        """Stop every reply and clear every column's conversation."""
        self.manager.clear()

    def regenerate(self, wait: bool = False, timeout: float | None = None) -> dict[str, str] | None:
        """Answer the last prompt again in every column."""
        self.manager.regenerate()
        if wait:
            self.manager.wait(timeout)
            return self.manager.replies()
        return None

    def set_settings(self, name: str, **settings: Any) -> dict[str, Any]:
        """Change a column's settings (the sliders move). Raises ValueError naming a bad setting and its range."""
        return self.manager.set_settings(name, **settings)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every column has finished answering (or loading)."""
        for column in list(self.manager.columns.values()):
            try:
                column.load.exception(timeout=timeout)
            except Exception:
                pass
        return self.manager.wait(timeout)

    @property
    def history(self) -> dict[str, list[dict[str, str]]]:
        """Each column's conversation, by column name: a list of {"role", "content"}."""
        return {c["name"]: [{"role": e["role"], "content": e["content"]} for e in c["history"]]
                for c in self.manager.snapshot()}

    @property
    def stats(self) -> dict[str, list[dict[str, Any]]]:
        """Each column's reply statistics (one dict per reply), by column name."""
        return {c["name"]: [e["stats"] for e in c["history"] if e["role"] == "BOT"] for c in self.manager.snapshot()}

    def close(self) -> None:
        self.manager.close()
        super().close()

    # ----- front end ----------------------------------------------------------------------------
    def _sync(self) -> None:
        with self._sync_lock:  # updates come from worker threads; keep them whole and in order
            self.columns = self.manager.snapshot()
            self.busy = self.manager.busy

    def _forward_event(self, msg: dict[str, Any]) -> None:
        self.send_message(msg)

    def send_message(self, msg: dict[str, Any]) -> None:
        """Send a custom message to the front end (named so as not to shadow `send`)."""
        super().send(msg)

    @traitlets.observe("system_prompt")
    def _system_prompt_changed(self, change: dict[str, Any]) -> None:
        if hasattr(self, "manager"):
            self.manager.system_prompt = change["new"]

    def _on_front_end_message(self, _widget: Any, content: Mapping[str, Any], _buffers: Any) -> None:
        kind = content.get("kind")
        try:
            self.notice = ""
            if kind == "send":
                self.send(content.get("prompt", ""))
            elif kind == "stop":
                self.manager.stop(content.get("column"))
            elif kind == "clear":
                threading.Thread(target=self.manager.clear, daemon=True).start()
            elif kind == "regenerate":
                self.manager.regenerate()
            elif kind == "add_model":
                self.add_model(content.get("model", "").strip(), name=(content.get("name") or "").strip() or None)
            elif kind == "remove_model":
                self.manager.remove(content["column"])
            elif kind == "set_settings":
                try:
                    self.manager.set_settings(content["column"], timeout=0, **content.get("settings", {}))
                except Exception:
                    self._sync()  # move the control back to the value in force
                    raise
            else:
                raise ValueError(f"unknown message kind {kind!r}")
        except (ValueError, BusyError, RuntimeError, KeyError, TimeoutError) as exc:
            # KeyError's str() adds quotes; its first argument is the message.
            text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            self.notice = str(text) or type(exc).__name__
