"""Paired tests: McNemar's exact test, the paired (cluster) bootstrap and the sign test."""

from __future__ import annotations

import math

import numpy as np

from .intervals import bootstrap_means, percentile_interval


def binomial_two_sided_p(k: int, n: int) -> float:
    """Exact two-sided binomial test of k successes in n trials against p = 1/2 (doubling the smaller tail)."""
    if n == 0:
        return 1.0
    small = min(k, n - k)
    logs = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) - n * math.log(2)
            for i in range(small + 1)]
    top = max(logs)
    tail = math.exp(top) * sum(math.exp(x - top) for x in logs)
    return min(1.0, 2 * tail)


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """McNemar's exact test: the discordant pairs (A passed and B failed: `only_a`; the reverse: `only_b`)
    against an even split."""
    return binomial_two_sided_p(int(only_a), int(only_a) + int(only_b))


def sign_test(wins: int, losses: int) -> float:
    """Two-sided exact sign test of wins against losses (ties are left out before calling)."""
    return binomial_two_sided_p(int(wins), int(wins) + int(losses))


def paired_bootstrap(diffs, cluster_ids, level: float = 0.95, rounds: int = 2000,
                     seed: int | None = 0) -> tuple[float, float, float, float]:
    """Mean paired difference with a percentile interval and a two-sided p-value, resampling clusters.

    The p-value centres the bootstrap draws on zero (their spread stands in for the null distribution):
    p = (1 + #|d* - d| >= |d|) / (rounds + 1). Returns (mean, lo, hi, p).
    """
    diffs = np.asarray(diffs, dtype=float)
    mean = float(diffs.mean())
    draws = bootstrap_means(diffs, np.asarray(cluster_ids), rounds, seed)
    lo, hi = percentile_interval(draws, level)
    extreme = np.sum(np.abs(draws - mean) >= abs(mean) - 1e-12)
    p = float((1 + extreme) / (rounds + 1)) if mean != 0 else 1.0
    return mean, lo, hi, p
