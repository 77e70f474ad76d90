"""Compare and judge (issue #5): blind arena, votes and thumbs, leaderboard, batch runs, export and reload.

Everything here works on a `ChatManager` and plain data, headless; `ChatZooWidget` delegates to it.

    from chatzoo_widget.compare import VoteBook, leaderboard, run_batch, export, load, preference_pairs, sweep
"""

from __future__ import annotations

from .arena import Arena, ArenaRound
from .batch import BatchRun, run_batch, sweep
from .leaderboard import battles, bradley_terry, elo_ratings, leaderboard, leaderboard_json
from .records import (FORMAT, VERSION, comparison_document, export, export_preference_pairs, load,
                      preference_pairs, restore, to_dataframe, validate)
from .votes import BAD, TIE, VoteBook

__all__ = [
    "Arena", "ArenaRound", "BAD", "BatchRun", "FORMAT", "TIE", "VERSION", "VoteBook", "battles", "bradley_terry",
    "comparison_document", "elo_ratings", "export", "export_preference_pairs", "leaderboard", "leaderboard_json",
    "load", "preference_pairs", "restore", "run_batch", "sweep", "to_dataframe", "validate",
]
