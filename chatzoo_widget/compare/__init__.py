"""Compare and judge: blind arena, votes and thumbs, LLM judges, leaderboard, batch runs, export and reload.

Everything here works on a `ChatManager` and plain data, headless; `ChatZooWidget` delegates to it.

    from chatzoo_widget.compare import VoteBook, JudgeBook, leaderboard, agreement, run_batch, export, load
"""

from __future__ import annotations

from .agreement import agreement, agreement_json, cohen_kappa
from .arena import Arena, ArenaRound
from .batch import BatchRun, run_batch, sweep
from .batch_checks import BatchPlan, check_turn, plan_batch
from .checks import KNOWN_TYPES as CHECK_TYPES
from .checks import CheckContext, evaluate, parse_checks
from .datasets import DataRow, load_rows
from .promptfoo import load_promptfoo
from .judge import (MT_BENCH_SYSTEM, MT_BENCH_TEMPLATE, JudgeBook, JudgeRun, PairJob, PairJudge, check_template,
                    judge_pairs, judge_source, parse_verdict, turn_jobs)
from .hidden_prompts import hide_prompts
from .leaderboard import (SOURCES, battle_records, battles, bradley_terry, elo_ratings, judgment_votes, leaderboard,
                          leaderboard_json)
from .manifest import hub_revision, manifest, manifests, versions
from .exports import (FORMAT, VERSION, comparison_document, export, export_preference_pairs, load,
                      preference_pairs, restore, to_dataframe, validate)
from .result_exports import export_results, to_llm_comparator
from .votes import BAD, TIE, VoteBook
from .grid import ResultsGrid
from .turn_checks import TurnChecks
from . import stats  # summary, prompts_needed: see chatzoo_widget.compare.stats

__all__ = [
    "Arena", "ArenaRound", "ResultsGrid", "TurnChecks", "BAD", "BatchPlan", "BatchRun", "CHECK_TYPES", "CheckContext", "DataRow", "FORMAT",
    "JudgeBook", "JudgeRun", "MT_BENCH_SYSTEM",
    "MT_BENCH_TEMPLATE", "PairJob", "PairJudge", "SOURCES", "TIE", "VERSION", "VoteBook", "agreement",
    "agreement_json", "battle_records", "check_turn", "evaluate", "load_promptfoo", "load_rows",
    "parse_checks", "plan_batch", "battles", "bradley_terry", "check_template", "cohen_kappa",
    "comparison_document", "elo_ratings", "export", "export_preference_pairs", "hide_prompts", "hub_revision",
    "judge_pairs", "judge_source", "judgment_votes", "leaderboard", "leaderboard_json", "load", "manifest",
    "manifests", "versions", "parse_verdict", "preference_pairs", "restore",
    "run_batch", "sweep", "to_dataframe", "turn_jobs", "validate", "export_results", "to_llm_comparator",
]
