"""How columns are shown: their names, or their arena labels while a conversation is blind.

One `Presenter` per comparison answers every "what does the user see for this column?" question: the vote
book's choices and errors, the judges' verdicts, the widget's columns and what its blind filter must hide. The
arena keeps the rounds (order, labels, revealed); the presenter reads them and never decides them. The widget's
`BlindFilter` stays the last line at the comm: whatever the presenter missed, it scrubs.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

if TYPE_CHECKING:  # pragma: no cover
    from ..manager import ChatManager
    from .arena import Arena, ArenaRound

TIE = "tie"
SHARED = "a model"  # stands for a name the user may not see


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of a name or model in `text` by "a model"."""
    for secret in secrets:
        text = re.sub(re.escape(secret), SHARED, text)
    return text


def show_round(rnd: "ArenaRound", snapshot: Sequence[Mapping[str, Any]], *,
               scrub_texts: bool = True) -> list[dict[str, Any]]:
    """`snapshot` (the manager's columns) as the arena round `rnd` shows it: in its order, each column with its
    "label", "blind" and "real_name" (None while blind); while blind no names, models, families or settings, and
    (with `scrub_texts`) errors and loading messages scrubbed of them. Column ids stay the real ones."""
    by_id = {c["id"]: c for c in snapshot}
    blind = not rnd.revealed
    secrets = sorted({str(c.get(k) or "") for c in snapshot for k in ("name", "model")} - {""}, key=len, reverse=True)
    out = []
    for cid in rnd.order:
        col = dict(by_id[cid])
        rnd.names[cid] = col["name"]
        col.update(label=rnd.labels[cid], blind=blind, real_name=None if blind else col["name"])
        if blind:
            col.update(name=rnd.labels[cid], model="", family="", settings={}, spec=[])
            if scrub_texts and col.get("progress"):
                col["progress"] = "Loading…"
            if scrub_texts and col.get("error"):
                col["error"] = scrub(col["error"], secrets)
        out.append(col)
    return out


class Presenter:
    """The names the user sees for the columns of `manager` (arena labels while `arena`'s conversation is blind)."""

    def __init__(self, manager: "ChatManager", arena: "Arena | None" = None):
        self.manager = manager
        self.arena = arena

    @property
    def conversation_id(self) -> str:
        return self.manager.conversation_id

    def blind(self, conversation: str | None = None) -> bool:
        """True while the names of `conversation` (default: the current one) are hidden."""
        return self.arena is not None and self.arena.blind(conversation or self.conversation_id)

    def label(self, column_id: str, conversation: str | None = None) -> str | None:
        """The column's arena label in `conversation` (default: the current one); None outside an arena."""
        if self.arena is None:
            return None
        try:
            return self.arena.label(column_id, conversation or self.conversation_id)
        except KeyError:
            return None

    def order(self) -> list[str]:
        """The column ids left to right as shown (the arena's shuffled order, else the order they were added)."""
        ids = list(self.manager.columns)
        if self.arena is None:
            return ids
        try:
            shown = self.arena.round(self.conversation_id).order
        except KeyError:
            return ids
        return [cid for cid in shown if cid in ids] + [cid for cid in ids if cid not in shown]

    def sort(self, items: list[Any], key=lambda item: item["id"]) -> list[Any]:
        """`items` (holding column ids) in display order; unknown ids go last."""
        order = self.order()
        return sorted(items, key=lambda item: order.index(key(item)) if key(item) in order else len(order))

    def shown_name(self, column: Mapping[str, Any]) -> str:
        """A column (a snapshot entry or a record with "id" and "name") as the user sees it: its label while
        blind, else its name."""
        if self.blind():
            return self.label(column["id"]) or column["name"]
        return column["name"]

    def secrets(self) -> list[str]:
        """The columns' names and models, longest first (what must not show while blind)."""
        columns = list(self.manager.columns.values())
        return sorted({s for c in columns for s in (c.name, c.model) if s}, key=len, reverse=True)

    def scrub(self, text: str | None) -> str | None:
        """`text` with the columns' names and models replaced while blind (as is otherwise)."""
        return scrub(text, self.secrets()) if text and self.blind() else text

    def record_name(self, name: str | None, labels: Mapping[str, str | None] | None = None) -> str | None:
        """A column name stored in a record (a vote, a judgment) as the user sees it now: while blind the label
        the record kept, else the label of the column of that name, else "a model"; "tie" and None stay."""
        if name is None or name == TIE or not self.blind():
            return name
        label = (labels or {}).get(name)
        if label:
            return label
        column = next((c for c in self.manager.columns.values() if c.name == name), None)
        return (self.label(column.id) if column else None) or scrub(name, self.secrets())

    def display(self, snapshot: Sequence[Mapping[str, Any]], *, scrub_texts: bool = True) -> list[dict[str, Any]]:
        """The manager's snapshot as the front end draws it (see `show_round`); as is outside an arena."""
        if self.arena is None:
            return [dict(c) for c in snapshot]
        return self.arena.display(snapshot, self.conversation_id, scrub_texts=scrub_texts)

    def blind_columns(self, snapshot: Sequence[Mapping[str, Any]],
                      secrets_of: Any = None) -> list[dict[str, Any]]:
        """The shown columns for the blind filter, left to right: id, name, label and (with `secrets_of(entry,
        column)`) every string that gives the column away."""
        if self.arena is None:
            return []
        rnd = self.arena.round(self.conversation_id)
        by_id = {c["id"]: c for c in snapshot}
        return [{"id": cid, "name": by_id[cid]["name"], "label": rnd.labels[cid],
                 **({"secrets": secrets_of(by_id[cid], self.manager.columns.get(cid))} if secrets_of else {})}
                for cid in rnd.order if cid in by_id and cid in rnd.labels]
