"""How many prompts a paired pass/fail comparison needs: McNemar's test power (Connor, 1987).

With p10 = P(A passes, B fails), p01 = P(A fails, B passes), discordance d = p10 + p01 and effect
delta = p10 - p01, the prompts needed for a two-sided test at `alpha` with `power` are
    n = (z_{1-alpha/2} sqrt(d) + z_{power} sqrt(d - delta^2))^2 / delta^2.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np


def prompts_for_discordance(p10: float, p01: float, power: float = 0.8, alpha: float = 0.05) -> float:
    """Connor's sample size from the two discordant-pair probabilities; inf when they are equal."""
    if not 0 < power < 1 or not 0 < alpha < 1:
        raise ValueError(f"power and alpha must be between 0 and 1, got power={power!r}, alpha={alpha!r}")
    if p10 < 0 or p01 < 0 or p10 + p01 > 1:
        raise ValueError(f"discordant probabilities must be >= 0 and sum to <= 1, got {p10!r} and {p01!r}")
    d, delta = p10 + p01, p10 - p01
    if delta == 0:
        return math.inf  # no number of prompts detects a difference of zero
    z_a, z_b = NormalDist().inv_cdf(1 - alpha / 2), NormalDist().inv_cdf(power)
    return float(math.ceil((z_a * math.sqrt(d) + z_b * math.sqrt(max(d - delta * delta, 0.0))) ** 2 / delta ** 2))


def prompts_needed(a, b, power: float = 0.8, alpha: float = 0.05) -> float:
    """Prompts needed to tell A from B, planned from the discordance observed so far.

    a, b: pass/fail (bool) of columns A and B on the same prompts, in the same order. Returns a whole number
    of prompts (as float), or inf when A and B won and lost the same number of discordant prompts.
    Raises ValueError for fewer than two paired prompts or no discordant prompt at all (nothing to plan from).
    """
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"a and b must pair up prompt for prompt, got {a.size} and {b.size} results")
    if a.size < 2:
        raise ValueError(f"prompts_needed needs at least two paired prompts, got {a.size}")
    p10, p01 = float(np.mean(a & ~b)), float(np.mean(~a & b))
    if p10 + p01 == 0:
        raise ValueError("A and B agree on every prompt so far: no discordance to plan from "
                         "(use prompts_needed_for_rates with assumed rates)")
    return prompts_for_discordance(p10, p01, power, alpha)


def prompts_needed_for_rates(rate_a: float, rate_b: float, power: float = 0.8, alpha: float = 0.05,
                             discordance: float | None = None) -> float:
    """Prompts needed for assumed pass rates of A and B.

    discordance: the assumed share of prompts where exactly one of them passes. Default: A and B fail
    independently, p10 = rate_a (1 - rate_b), p01 = rate_b (1 - rate_a); correlated models (the usual case)
    disagree less and need fewer prompts.
    """
    for name, r in (("rate_a", rate_a), ("rate_b", rate_b)):
        if not 0 <= r <= 1:
            raise ValueError(f"{name} must be between 0 and 1, got {r!r}")
    delta = rate_a - rate_b
    d = rate_a * (1 - rate_b) + rate_b * (1 - rate_a) if discordance is None else discordance
    if not abs(delta) <= d <= 1:
        raise ValueError(f"discordance must be between |rate_a - rate_b| = {abs(delta):.3g} and 1, got {d!r}")
    return prompts_for_discordance((d + delta) / 2, (d - delta) / 2, power, alpha)
