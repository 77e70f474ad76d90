"""The checks of the live conversation (`w.check(...)`), kept per reply for the badges under it.

`TurnChecks.state()` is the widget's `turn_checks` trait: {column id: {turn: records.TurnCheck}}. Column ids name
no model, and the results' texts pass the widget's outgoing filter, so blind mode holds. A reply answered again
(regenerate, an edit, a new conversation) loses its badges: they were about the old text.
"""

from __future__ import annotations

import threading
from typing import Any, Mapping

_FIELDS = ("pass", "score", "reason", "checks")


class TurnChecks:
    def __init__(self) -> None:
        self._by_column: dict[str, dict[str, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def record(self, manager: Any, results: Mapping[str, Mapping[str, Any]]) -> None:
        """`check_turn`'s results ({column name: result}) on each column's last reply."""
        with self._lock:
            for column in list(manager.columns.values()):
                result = results.get(column.name)
                history = column.history
                if result is None or not history or history[-1]["role"] != "BOT":
                    continue
                turn = str(history[-1]["turn"])
                self._by_column.setdefault(column.id, {})[turn] = {k: result.get(k) for k in _FIELDS}

    def forget(self, column_id: str, turn: Any) -> bool:
        """A reply of `turn` starts again in that column: its old badges go. True when there were some."""
        with self._lock:
            return self._by_column.get(column_id, {}).pop(str(turn), None) is not None

    def clear(self) -> bool:
        with self._lock:
            had = bool(self._by_column)
            self._by_column = {}
            return had

    def state(self) -> dict[str, dict[str, dict[str, Any]]]:
        with self._lock:
            return {cid: dict(turns) for cid, turns in self._by_column.items() if turns}
