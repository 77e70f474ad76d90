"""Reading a results frame (one row per reply) into what the statistics need: the prompt a reply belongs to,
the unit it pairs on, and its pass/score values."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

MEASURES = ("pass", "score")


def prompt_ids(df: pd.DataFrame) -> pd.Series:
    """The prompt (cluster) of each reply: the dataset row's `id`, or a batch run's `script` index."""
    for name in ("id", "script"):
        if name in df.columns:
            return df[name].astype(str)
    raise ValueError(f"the results need an 'id' (or 'script') column naming each reply's prompt; "
                     f"got columns {list(df.columns)}")


def tidy(df: pd.DataFrame) -> pd.DataFrame:
    """column, prompt, unit (prompt, turn, sample), pass (float 0/1 or NaN), score (float or NaN)."""
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"summary needs a pandas DataFrame of results, got {type(df).__name__}")
    if "column" not in df.columns:
        raise ValueError(f"the results need a 'column' column; got columns {list(df.columns)}")
    out = pd.DataFrame({"column": df["column"].astype(str), "prompt": prompt_ids(df)}, index=df.index)
    unit = out["prompt"]
    for extra in ("turn", "sample"):
        if extra in df.columns:
            unit = unit + "|" + df[extra].astype(str)
    out["unit"] = unit
    out["pass"] = df["pass"].map(_as_pass) if "pass" in df.columns else np.nan
    out["score"] = pd.to_numeric(df["score"], errors="coerce") if "score" in df.columns else np.nan
    return out


def _as_pass(value: Any) -> float:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return np.nan
    return float(bool(value))


def paired(tidy_df: pd.DataFrame, a: str, b: str, measure: str) -> pd.DataFrame:
    """The units where both columns have a value of `measure`: unit, prompt, a, b."""
    left = tidy_df[tidy_df["column"] == a][["unit", "prompt", measure]].dropna()
    right = tidy_df[tidy_df["column"] == b][["unit", measure]].dropna()
    left = left.drop_duplicates("unit")
    right = right.drop_duplicates("unit")
    both = left.merge(right, on="unit", suffixes=("_a", "_b"))
    return both.rename(columns={f"{measure}_a": "a", f"{measure}_b": "b"})[["unit", "prompt", "a", "b"]]
