"""Which columns of a one-model-at-a-time batch run take turns, and in what order.

Columns served by this process (an alias or a path) are grouped by checkpoint and load options, since such columns
share one copy of the weights in the model pool: each group is loaded, answers every row, and is released before
the next one loads. Remote endpoints (a URL) and ChatBOT objects given by the user hold no weights that the run
could free, so they answer all along, concurrently with the groups.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from ..manager import UNLOADED, Column


def is_local(column: Column) -> bool:
    """Whether the run can free this column's weights: a model loaded here from an alias or a path."""
    source = column.source
    return isinstance(source, str) and not source.startswith(("http://", "https://"))


def _checkpoint(column: Column) -> tuple[Any, str]:
    return column.source, json.dumps(column.load_options, sort_keys=True, default=repr)


def take_turns(columns: Sequence[Column]) -> tuple[list[Column], list[list[Column]]]:
    """(columns that answer all along, groups of local columns sharing a checkpoint, in the order they load).

    A group whose model is loaded already goes first, so a run started right after the columns loaded reuses it."""
    concurrent = [c for c in columns if not is_local(c)]
    groups: dict[tuple, list[Column]] = {}
    for column in columns:
        if is_local(column):
            groups.setdefault(_checkpoint(column), []).append(column)
    ordered = list(groups.values())
    loaded = [g for g in ordered if all(c.status not in UNLOADED and c.status != "loading" for c in g)]
    if loaded:
        ordered.remove(loaded[0])
        ordered.insert(0, loaded[0])
    return concurrent, ordered


def group_label(group: Sequence[Column]) -> str:
    """What the progress bar names while a group runs: its columns, as the widget shows them (in blind mode the
    outgoing filter turns the names into labels)."""
    return ", ".join(c.name for c in group)
