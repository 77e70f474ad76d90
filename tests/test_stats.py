"""Statistics checked against scipy/statsmodels on fixed data and against seeded simulations."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from chatzoo_widget.compare.stats import (adjust, benjamini_hochberg, holm, mcnemar_exact, paired_bootstrap,
                                          prompts_needed, prompts_needed_for_rates, sign_test, summary,
                                          wilson_interval)
from chatzoo_widget.compare.stats.intervals import bootstrap_mean_interval

scipy_stats = pytest.importorskip("scipy.stats")
sm_prop = pytest.importorskip("statsmodels.stats.proportion")
sm_contingency = pytest.importorskip("statsmodels.stats.contingency_tables")
sm_multitest = pytest.importorskip("statsmodels.stats.multitest")


@pytest.mark.parametrize("k,n", [(0, 10), (3, 10), (10, 10), (47, 120), (1, 1), (512, 1000)])
def test_wilson_matches_statsmodels(k, n):
    lo, hi = sm_prop.proportion_confint(k, n, alpha=0.05, method="wilson")
    assert wilson_interval(k, n) == pytest.approx((lo, hi), abs=1e-12)


def test_wilson_rejects_impossible_counts_and_gives_nan_for_nothing():
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(5, 3)
    assert all(math.isnan(x) for x in wilson_interval(0, 0))


@pytest.mark.parametrize("b,c", [(0, 0), (1, 0), (3, 9), (9, 3), (10, 10), (25, 40), (0, 17), (300, 350)])
def test_mcnemar_exact_matches_statsmodels(b, c):
    ref = sm_contingency.mcnemar([[20, b], [c, 30]], exact=True).pvalue
    assert mcnemar_exact(b, c) == pytest.approx(ref, rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("w,l", [(7, 2), (0, 5), (30, 30), (61, 39)])
def test_sign_test_matches_scipy_binomtest(w, l):
    assert sign_test(w, l) == pytest.approx(scipy_stats.binomtest(w, w + l, 0.5).pvalue, rel=1e-9)


P = [0.01, 0.04, 0.03, 0.005, 0.2, 0.5, 0.049, 0.0001]


def test_holm_and_bh_match_statsmodels():
    assert holm(P) == pytest.approx(sm_multitest.multipletests(P, method="holm")[1], abs=1e-12)
    assert benjamini_hochberg(P) == pytest.approx(sm_multitest.multipletests(P, method="fdr_bh")[1], abs=1e-12)


def test_corrections_leave_missing_p_values_out_of_the_family():
    got = holm([0.01, float("nan"), 0.04])
    assert math.isnan(got[1])
    assert got[[0, 2]] == pytest.approx(sm_multitest.multipletests([0.01, 0.04], method="holm")[1])
    with pytest.raises(ValueError, match="'holm', 'bh', 'none'"):
        adjust(P, "bonferonni")


def test_paired_bootstrap_covers_the_known_difference_in_a_seeded_simulation():
    # 200 simulated comparisons, 40 prompts x 3 samples each, a prompt effect shared by the samples:
    # the 95% interval over prompts should cover the true difference about 95% of the time.
    rng = np.random.default_rng(1)
    true, covered = 0.3, 0
    for rep in range(200):
        prompt_effect = rng.normal(0, 1.0, size=40)
        diffs = true + np.repeat(prompt_effect, 3) + rng.normal(0, 0.3, size=120)
        _, lo, hi, _ = paired_bootstrap(diffs, np.repeat(np.arange(40), 3), rounds=500, seed=rep)
        covered += lo <= true <= hi
    assert 0.88 <= covered / 200 <= 0.99


def test_resampling_samples_instead_of_prompts_would_be_too_narrow():
    # With strongly clustered samples the prompt-level interval is much wider than a sample-level one.
    rng = np.random.default_rng(2)
    values = np.repeat(rng.normal(0, 1, 30), 5) + rng.normal(0, 0.05, 150)
    by_prompt = bootstrap_mean_interval(values, np.repeat(np.arange(30), 5), seed=0)
    by_sample = bootstrap_mean_interval(values, np.arange(150), seed=0)
    assert (by_prompt[1] - by_prompt[0]) > 1.8 * (by_sample[1] - by_sample[0])


def test_prompts_needed_matches_connors_formula_and_a_simulation():
    # Connor (1987): n = (z_a sqrt(d) + z_b sqrt(d - delta^2))^2 / delta^2 with p10 = .2, p01 = .1
    z_a, z_b = 1.959963984540054, 0.8416212335729143
    d, delta = 0.3, 0.1
    expected = math.ceil((z_a * math.sqrt(d) + z_b * math.sqrt(d - delta ** 2)) ** 2 / delta ** 2)
    a = np.array([1] * 20 + [0] * 10 + [1] * 40 + [0] * 30, bool)
    b = np.array([0] * 20 + [1] * 10 + [1] * 40 + [0] * 30, bool)
    n = prompts_needed(a, b)
    assert n == expected == 234
    # at that many prompts, McNemar's exact test detects the difference in about 80% of simulated runs
    rng = np.random.default_rng(3)
    cells = rng.multinomial(int(n), [0.2, 0.1, 0.7], size=400)
    power = np.mean([mcnemar_exact(x, y) < 0.05 for x, y, _ in cells])
    assert 0.72 <= power <= 0.88


def test_prompts_needed_for_rates_assumes_independent_failures_unless_told():
    indep = prompts_needed_for_rates(0.7, 0.6)
    assert indep == prompts_needed_for_rates(0.7, 0.6, discordance=0.7 * 0.4 + 0.6 * 0.3)
    assert prompts_needed_for_rates(0.7, 0.6, discordance=0.2) < indep
    assert prompts_needed_for_rates(0.5, 0.5) == math.inf
    with pytest.raises(ValueError, match="discordance"):
        prompts_needed_for_rates(0.9, 0.5, discordance=0.1)


def test_prompts_needed_refuses_to_plan_from_nothing():
    with pytest.raises(ValueError, match="at least two"):
        prompts_needed([True], [False])
    with pytest.raises(ValueError, match="no discordance"):
        prompts_needed([True, False], [True, False])


def frame(results, samples=1, seed=0):
    """results: {column: pass probability}; 50 prompts; score = pass + noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(50):
        for k in range(samples):
            for col, p in results.items():
                ok = bool(rng.random() < p)
                rows.append({"column": col, "id": f"q{i}", "sample": k, "pass": ok,
                             "score": float(ok) + rng.normal(0, 0.1), "reply": "r", "new_tokens": 4})
    return pd.DataFrame(rows)


def test_summary_gives_a_verdict_per_pair_with_the_method_named():
    cols, pairs = summary(frame({"strong": 0.95, "weak": 0.3, "weak2": 0.3}))
    assert set(cols["method"]) == {"pass rate, Wilson 95% interval",
                                   "mean score, 95% percentile bootstrap over prompts (2000 resamples, seed 0)"}
    row = pairs[(pairs["measure"] == "pass") & (pairs["a"] == "strong") & (pairs["b"] == "weak")].iloc[0]
    assert row["verdict"] == "strong > weak" and row["test"].startswith("McNemar exact")
    assert row["p_adjusted"] >= row["p_value"] and row["correction"] == "holm"
    same = pairs[(pairs["a"] == "weak") & (pairs["b"] == "weak2")]
    assert set(same["verdict"]) == {"no detectable difference"}
    # the Wilson bounds are those of the counts
    strong = cols[(cols["column"] == "strong") & (cols["measure"] == "pass")].iloc[0]
    assert (strong["lo"], strong["hi"]) == pytest.approx(
        sm_prop.proportion_confint(round(strong["estimate"] * 50), 50, method="wilson"))


def test_summary_with_k_samples_resamples_prompts_not_samples():
    cols, pairs = summary(frame({"a": 0.8, "b": 0.4}, samples=3))
    assert (cols["prompts"] == 50).all() and (cols["n"] == 150).all()
    assert cols["method"].str.contains("bootstrap over prompts").all()
    assert pairs["test"].str.startswith("paired bootstrap").all()


def test_summary_reads_a_batch_frame_with_script_instead_of_id():
    df = frame({"a": 0.8, "b": 0.4}).rename(columns={"id": "script"})
    assert len(summary(df).pairs) == 2


def test_fewer_than_two_paired_rows_says_so_instead_of_a_number():
    df = pd.DataFrame([{"column": "a", "id": 1, "pass": True, "score": 1.0},
                       {"column": "b", "id": 1, "pass": False, "score": 0.0},
                       {"column": "a", "id": 2, "pass": None, "score": None},
                       {"column": "b", "id": 2, "pass": True, "score": 1.0}])
    pairs = summary(df).pairs
    assert pairs["estimate"].isna().all() and pairs["p_value"].isna().all()
    assert pairs["note"].str.contains("fewer than two paired rows").all()
    assert set(pairs["verdict"]) == {"too few paired rows"}


def test_summary_names_what_is_wrong_with_bad_input():
    with pytest.raises(ValueError, match="'id'"):
        summary(pd.DataFrame([{"column": "a", "pass": True}]))
    with pytest.raises(ValueError, match="correction"):
        summary(frame({"a": 0.5}), correction="fdr")
    with pytest.raises(TypeError, match="DataFrame"):
        summary([{"column": "a"}])


def vote(winner, *names):
    cols = [{"name": n, "model": n, "reply": f"{n} says"} for n in names]
    tie = winner in ("tie", "bad")
    return {"conversation": "c", "turn": 0, "choice": winner, "outcome": winner if tie else "best",
            "winner": None if tie else winner, "columns": cols}


def test_votes_and_judge_verdicts_get_a_sign_test_with_ties_reported():
    votes = [vote("A", "A", "B")] * 14 + [vote("B", "A", "B")] * 3 + [vote("tie", "A", "B")] * 5
    judgments = [{"a": "A", "b": "B", "verdict": "B", "columns": [{"name": "A"}, {"name": "B"}]}] * 2
    pairs = summary(votes=votes, judgments=judgments).pairs
    v = pairs[pairs["measure"] == "votes"].iloc[0]
    assert (v["a_only"], v["b_only"], v["ties"]) == (14, 3, 5)
    assert v["p_value"] == pytest.approx(scipy_stats.binomtest(14, 17).pvalue)
    assert (v["lo"], v["hi"]) == pytest.approx(sm_prop.proportion_confint(14, 17, method="wilson"))
    assert v["verdict"] == "A > B" and "ties left out" in v["note"]
    j = pairs[pairs["measure"] == "judge"].iloc[0]
    assert j["n"] == 2 and j["verdict"] == "no detectable difference"


def test_summary_corrects_each_measure_across_all_pairs_holm_or_bh():
    df = frame({"a": 0.9, "b": 0.6, "c": 0.5, "d": 0.3})
    for correction, ref in (("holm", "holm"), ("bh", "fdr_bh")):
        pairs = summary(df, correction=correction).pairs
        for _, part in pairs.groupby("measure"):
            assert len(part) == 6
            expected = sm_multitest.multipletests(part["p_value"], method=ref)[1]
            assert part["p_adjusted"].to_numpy() == pytest.approx(expected)


def test_multi_turn_scripts_pair_turn_by_turn_and_cluster_by_script():
    rows = [{"column": c, "script": s, "turn": t, "pass": (c == "a") or (s + t) % 3 == 0}
            for s in range(20) for t in range(2) for c in ("a", "b")]
    cols, pairs = summary(pd.DataFrame(rows))
    assert (pairs["n"] == 40).all() and (pairs["prompts"] == 20).all()
    assert pairs.iloc[0]["test"].startswith("paired bootstrap") and pairs.iloc[0]["verdict"] == "a > b"
    assert "<h4>Per pair</h4>" in summary(pd.DataFrame(rows))._repr_html_()


def test_unchecked_replies_are_left_out_whatever_pandas_calls_missing():
    df = frame({"a": 0.9, "b": 0.2})
    df["pass"] = df["pass"].astype("boolean")
    df.loc[df.index[:10], "pass"] = pd.NA  # e.g. a column whose replies failed: no check ran
    n = summary(df).columns.groupby("measure")["n"].sum()
    assert (n["pass"], n["score"]) == (90, 100)  # 50 prompts x 2 columns, 10 passes missing; scores all there
