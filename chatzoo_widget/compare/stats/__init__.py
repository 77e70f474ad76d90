"""Statistics of a comparison: Wilson and cluster-bootstrap intervals, paired tests (McNemar exact, paired
bootstrap, sign test), Holm/Benjamini-Hochberg corrections, power, and `summary` putting them together.

    from chatzoo_widget.compare.stats import summary, prompts_needed
"""

from __future__ import annotations

from .corrections import CORRECTIONS, adjust, benjamini_hochberg, holm
from .intervals import bootstrap_mean_interval, wilson_interval
from .paired import binomial_two_sided_p, mcnemar_exact, paired_bootstrap, sign_test
from .power import prompts_for_discordance, prompts_needed, prompts_needed_for_rates
from .summary import Summary, summary

__all__ = [
    "CORRECTIONS", "Summary", "adjust", "benjamini_hochberg", "binomial_two_sided_p", "bootstrap_mean_interval",
    "holm", "mcnemar_exact", "paired_bootstrap", "prompts_for_discordance", "prompts_needed",
    "prompts_needed_for_rates", "sign_test", "summary", "wilson_interval",
]
