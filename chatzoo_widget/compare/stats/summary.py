"""`summary`: per-column rates and means, and per-pair paired tests with a corrected verdict, each number
next to the method that made it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from ..leaderboard import battle_records, battles
from .corrections import adjust
from .frames import MEASURES, paired, tidy
from .intervals import bootstrap_mean_interval, wilson_interval
from .paired import mcnemar_exact, paired_bootstrap, sign_test
from .power import prompts_for_discordance

COLUMN_FIELDS = ["column", "measure", "n", "prompts", "estimate", "lo", "hi", "method", "note"]
PAIR_FIELDS = ["measure", "a", "b", "n", "prompts", "estimate", "estimate_of", "lo", "hi", "interval_method",
               "p_value", "test", "p_adjusted", "correction", "verdict", "a_only", "b_only", "ties",
               "prompts_needed", "note"]
NO_DIFFERENCE = "no detectable difference"
TIES = "ties left out of the test and of the win rate (counted in `ties`)"


@dataclass
class Summary:
    """The statistics of a comparison: `columns` (one row per column and measure) and `pairs` (one row per pair
    of columns and measure). Unpacks as `columns, pairs = w.summary()`."""

    columns: pd.DataFrame
    pairs: pd.DataFrame
    method: dict[str, Any] = field(default_factory=dict)

    def __iter__(self):
        return iter((self.columns, self.pairs))

    def to_record(self) -> dict[str, Any]:
        """The statistics as JSON (`records.SummaryRecord`: NaN as null, counts as ints): what the widget's
        summary table draws."""
        return {"columns": [_json_row(r) for r in self.columns.to_dict("records")],
                "pairs": [_json_row(r) for r in self.pairs.to_dict("records")],
                "method": {k: _json_value(v) for k, v in self.method.items()}}

    def _repr_html_(self) -> str:
        return ("<h4>Per column</h4>" + self.columns.to_html(index=False, na_rep="—")
                + "<h4>Per pair</h4>" + self.pairs.to_html(index=False, na_rep="—"))


def summary(df: pd.DataFrame | None = None, *, votes: Any = (), judgments: Iterable[Mapping[str, Any]] = (),
            correction: str = "holm", alpha: float = 0.05, level: float = 0.95, rounds: int = 2000,
            seed: int | None = 0, power: float = 0.8) -> Summary:
    """Statistics of a results frame (one row per reply, as `run_batch` returns) and of votes/judge verdicts.

    df: columns `column`, `id` (or `script`), optionally `turn`, `sample`, `pass` (bool/None), `score`.
        k samples of a prompt are clustered: every bootstrap resamples prompts, never single samples.
    votes, judgments: vote and judgment records (sign tests per pair of columns).
    correction: "holm" (default), "bh" (Benjamini-Hochberg) or "none", within each measure across all pairs.
    Fewer than two paired rows give NaN with a note, never a number.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}")
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds!r}")
    adjust([], correction)  # names a bad correction before any work
    col_rows: list[dict[str, Any]] = []
    pair_rows: list[dict[str, Any]] = []
    boot = f"percentile bootstrap over prompts ({rounds} resamples, seed {seed})"
    if df is not None and len(df):
        t = tidy(df)
        names = list(dict.fromkeys(t["column"]))
        for measure in MEASURES:
            if t[measure].notna().any():
                col_rows += [_column_row(t, name, measure, level, rounds, seed, boot) for name in names]
                pair_rows += [_pair_row(t, a, b, measure, level, rounds, seed, boot, power, alpha)
                              for a, b in combinations(names, 2)]
    for source in ("votes", "judge"):
        records = battle_records(votes or (), judgments or (), source)
        if records:
            pair_rows += _sign_rows(battles(records), source, level)
    columns = pd.DataFrame(col_rows, columns=COLUMN_FIELDS)
    pairs = pd.DataFrame(pair_rows, columns=PAIR_FIELDS)
    _correct(pairs, correction, alpha)
    return Summary(columns, pairs, {"alpha": alpha, "level": level, "correction": correction,
                                    "family": "each measure's pairs", "rounds": rounds, "seed": seed,
                                    "ties": TIES})


def _clustered(t: pd.DataFrame) -> bool:
    return bool(t["prompt"].duplicated().any())


def _column_row(t, name, measure, level, rounds, seed, boot) -> dict[str, Any]:
    mine = t[(t["column"] == name)].dropna(subset=[measure])
    row = {"column": name, "measure": measure, "n": len(mine), "prompts": mine["prompt"].nunique(),
           "estimate": math.nan, "lo": math.nan, "hi": math.nan, "method": "", "note": ""}
    if mine.empty:
        row["note"] = f"no {measure} values for this column"
        return row
    values = mine[measure].to_numpy(dtype=float)
    row["estimate"] = float(values.mean())
    if measure == "pass" and not _clustered(mine):
        row["lo"], row["hi"] = wilson_interval(values.sum(), len(values), level)
        row["method"] = f"pass rate, Wilson {level:.0%} interval"
    else:
        row["lo"], row["hi"] = bootstrap_mean_interval(values, mine["prompt"].to_numpy(), level, rounds, seed)
        row["method"] = f"{'pass rate' if measure == 'pass' else 'mean score'}, {level:.0%} {boot}"
    if len(values) < 2:
        row["note"] = "one value: the interval is of little use"
    return row


def _pair_row(t, a, b, measure, level, rounds, seed, boot, power, alpha) -> dict[str, Any]:
    both = paired(t, a, b, measure)
    what = "pass rate" if measure == "pass" else "mean score"
    row = dict.fromkeys(PAIR_FIELDS, math.nan)
    row.update(measure=measure, a=a, b=b, n=len(both), prompts=both["prompt"].nunique(),
               estimate_of=f"{what} of a minus b", interval_method="", test="", note="")
    if len(both) < 2:
        row["note"] = f"fewer than two paired rows ({len(both)}): no statistics"
        return row
    diffs = (both["a"] - both["b"]).to_numpy(dtype=float)
    mean, lo, hi, p = paired_bootstrap(diffs, both["prompt"].to_numpy(), level, rounds, seed)
    row.update(estimate=mean, lo=lo, hi=hi, interval_method=f"{level:.0%} paired {boot}")
    if measure == "pass":
        a_only = int(((both["a"] == 1) & (both["b"] == 0)).sum())
        b_only = int(((both["a"] == 0) & (both["b"] == 1)).sum())
        row.update(a_only=a_only, b_only=b_only)
        if not _clustered(both):
            row.update(p_value=mcnemar_exact(a_only, b_only), test="McNemar exact (binomial on discordant pairs)")
            if a_only + b_only:
                row["prompts_needed"] = prompts_for_discordance(a_only / len(both), b_only / len(both), power,
                                                                alpha)
            return row
    row.update(p_value=p, test="paired bootstrap over prompts, two-sided (centred draws)")
    return row


def _sign_rows(table: pd.DataFrame, source: str, level: float) -> list[dict[str, Any]]:
    measure = "votes" if source == "votes" else "judge"
    names = list(dict.fromkeys(list(table["a"]) + list(table["b"])))
    rows = []
    for a, b in combinations(names, 2):
        fwd = table[(table["a"] == a) & (table["b"] == b)]["score_a"]
        rev = table[(table["a"] == b) & (table["b"] == a)]["score_a"]
        wins = int((fwd == 1).sum() + (rev == 0).sum())
        losses = int((fwd == 0).sum() + (rev == 1).sum())
        ties = int((fwd == 0.5).sum() + (rev == 0.5).sum())
        if wins + losses + ties == 0:
            continue
        row = dict.fromkeys(PAIR_FIELDS, math.nan)
        row.update(measure=measure, a=a, b=b, n=wins + losses, a_only=wins, b_only=losses, ties=ties,
                   estimate_of="win rate of a over b", interval_method="", test="", note=TIES)
        if wins + losses < 2:
            row["note"] = f"fewer than two decided battles ({wins + losses}, {ties} ties): no statistics"
        else:
            lo, hi = wilson_interval(wins, wins + losses, level)
            row.update(estimate=wins / (wins + losses), lo=lo, hi=hi,
                       interval_method=f"Wilson {level:.0%} interval on the win rate",
                       p_value=sign_test(wins, losses), test="exact sign test (binomial, ties left out)")
        rows.append(row)
    return rows


def _correct(pairs: pd.DataFrame, correction: str, alpha: float) -> None:
    pairs["correction"] = correction
    for measure, part in pairs.groupby("measure", sort=False):
        pairs.loc[part.index, "p_adjusted"] = adjust(part["p_value"].to_numpy(dtype=float), correction)
    centre = np.where(pairs["measure"].isin(["votes", "judge"]), 0.5, 0.0)
    verdicts = []
    for (_, r), c in zip(pairs.iterrows(), centre):
        if pd.isna(r["p_adjusted"]):
            verdicts.append("too few paired rows")
        elif r["p_adjusted"] < alpha and r["estimate"] != c:
            verdicts.append(f"{r['a']} > {r['b']}" if r["estimate"] > c else f"{r['b']} > {r['a']}")
        else:
            verdicts.append(NO_DIFFERENCE)
    pairs["verdict"] = verdicts


_COUNTS = {"n", "prompts", "a_only", "b_only", "ties", "prompts_needed"}


def _json_value(value: Any) -> Any:
    if isinstance(value, (np.floating, float)):  # JSON has no NaN or infinity (prompts_needed when a = b)
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if value is None or value is pd.NA:
        return None
    return value


def _json_row(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: _json_value(v) for k, v in row.items()}
    for key in _COUNTS & out.keys():
        if isinstance(out[key], float):
            out[key] = int(out[key])
    for key in ("method", "note", "estimate_of", "interval_method", "test", "correction", "verdict"):
        if key in out and out[key] is None:
            out[key] = ""
    return out
