"""Intervals on rates and means: Wilson's score interval and the cluster (prompt-level) bootstrap.

k samples per prompt are not k independent observations: every bootstrap here resamples whole prompts
(clusters) with replacement and takes the ratio of the resampled sums, so the interval widens when a
prompt's samples agree with each other.
"""

from __future__ import annotations

import math
from functools import lru_cache
from statistics import NormalDist

import numpy as np


def z_value(level: float) -> float:
    """The two-sided normal quantile for a confidence `level` (0.95 -> 1.96)."""
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level!r}")
    return NormalDist().inv_cdf(0.5 + level / 2)


def wilson_interval(successes: float, n: float, level: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval for a binomial rate; (nan, nan) when n is 0."""
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got successes={successes!r}, n={n!r}")
    if n == 0:
        return math.nan, math.nan
    z = z_value(level)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def cluster_weights(clusters: int, rounds: int, seed: int | None) -> np.ndarray:
    """(rounds, clusters) counts: how often each cluster is drawn in each resample (read-only; a seeded draw
    is reused, so every column and pair of one summary sees the same resamples)."""
    if seed is None:
        return _draw_weights(clusters, rounds, None)
    return _cached_weights(clusters, rounds, seed)


@lru_cache(maxsize=4)
def _cached_weights(clusters: int, rounds: int, seed: int) -> np.ndarray:
    weights = _draw_weights(clusters, rounds, seed)
    weights.flags.writeable = False
    return weights


def _draw_weights(clusters: int, rounds: int, seed: int | None) -> np.ndarray:
    draws = np.random.default_rng(seed).integers(0, clusters, size=(rounds, clusters))
    flat = (draws + np.arange(rounds)[:, None] * clusters).ravel()  # one bincount for every resample at once
    return np.bincount(flat, minlength=rounds * clusters).reshape(rounds, clusters).astype(float)


def cluster_sums(values: np.ndarray, cluster_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-cluster sum of values and count of values, clusters in order of first appearance."""
    _, inverse = np.unique(np.asarray(cluster_ids, dtype=object).astype(str), return_inverse=True)
    sums = np.bincount(inverse, weights=np.asarray(values, dtype=float))
    counts = np.bincount(inverse).astype(float)
    return sums, counts


def bootstrap_means(values: np.ndarray, cluster_ids: np.ndarray, rounds: int, seed: int | None) -> np.ndarray:
    """The mean of `values` in each of `rounds` resamples of whole clusters."""
    sums, counts = cluster_sums(values, cluster_ids)
    w = cluster_weights(len(sums), rounds, seed)
    return (w @ sums) / (w @ counts)


def percentile_interval(draws: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The central `level` share of bootstrap draws."""
    lo, hi = np.percentile(draws, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)


def bootstrap_mean_interval(values, cluster_ids, level: float = 0.95, rounds: int = 2000,
                            seed: int | None = 0) -> tuple[float, float]:
    """Percentile interval of the mean, resampling clusters (prompts), not single values."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return math.nan, math.nan
    return percentile_interval(bootstrap_means(values, np.asarray(cluster_ids), rounds, seed), level)
