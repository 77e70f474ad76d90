"""Leaderboard additions: Bradley-Terry with style control (Chatbot Arena's covariates) and separability."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from chatzoo_widget.compare import leaderboard, leaderboard_json
from chatzoo_widget.compare.leaderboard import separability
from chatzoo_widget.compare.stats.style import fit_logistic_bt, style_counts


def test_logistic_bt_recovers_planted_strengths_and_style_coefficients():
    rng = np.random.default_rng(0)
    theta = np.array([0.8, 0.2, -0.3, -0.7])
    beta = np.array([0.6, -0.4])
    m = 6000
    a = rng.integers(0, 4, m)
    b = (a + rng.integers(1, 4, m)) % 4
    x = rng.normal(size=(m, 2))
    p = 1 / (1 + np.exp(-(theta[a] - theta[b] + x @ beta)))
    s = (rng.random(m) < p).astype(float)
    got_theta, got_beta = fit_logistic_bt(4, a, b, s, x, np.ones((1, m)), prior=0)
    assert got_theta[0] == pytest.approx(theta, abs=0.1)
    assert got_beta[0] == pytest.approx(beta, abs=0.08)


def test_style_counts_reads_words_headers_list_items_and_bold():
    text = "# Title\nSome **bold** words\n- one\n- two\n1. three\n__also bold__"
    assert list(style_counts(text)) == [13, 1, 3, 2]  # words split on whitespace, markers included
    assert list(style_counts(None)) == [0, 0, 0, 0]


def verbose_votes(seed=1, n=600):
    """A and B are equally good, but A writes longer replies and judges like length: A wins on style alone."""
    rng = np.random.default_rng(seed)
    votes = []
    for _ in range(n):
        la, lb = rng.integers(100, 300), rng.integers(10, 200)
        p_a = 1 / (1 + np.exp(-3.0 * (la - lb) / (la + lb)))
        winner = "A" if rng.random() < p_a else "B"
        votes.append({"conversation": "c", "turn": 0, "choice": winner, "outcome": "best", "winner": winner,
                      "columns": [{"name": "A", "model": "a", "reply": "w " * int(la)},
                                  {"name": "B", "model": "b", "reply": "w " * int(lb)}]})
    return votes


def test_style_control_takes_the_length_advantage_out_of_the_ranking():
    votes = verbose_votes()
    plain = leaderboard(votes, rounds=200, seed=0).set_index("contestant")
    styled = leaderboard(votes, rounds=200, seed=0, style_control=True).set_index("contestant")
    assert plain.loc["A", "bt_lo"] > plain.loc["B", "bt_hi"]  # without it, A looks clearly stronger
    assert abs(styled.loc["A", "bt"] - styled.loc["B", "bt"]) < 40  # Elo-like points; the plain gap is ~140
    assert styled.loc["A", "bt_lo"] < styled.loc["B", "bt_hi"]  # the intervals overlap again
    length = styled.attrs["style"]["length"]
    assert length["lo"] > 0 and "style" not in plain.attrs  # judges liked length; only asked-for fits say so
    assert "style_control" in styled.attrs["method"]["bt"]
    assert list(styled.reset_index().columns) == list(plain.reset_index().columns)  # same table as ever
    assert leaderboard_json(styled.reset_index())["method"]["style"]["length"]["coef"] == length["coef"]


def test_style_control_without_reply_text_says_what_is_missing():
    votes = [{"choice": "A", "outcome": "best", "winner": "A", "columns": [{"name": "A"}, {"name": "B"}]}] * 3
    with pytest.raises(ValueError, match="style_control needs the replies' text"):
        leaderboard(votes, style_control=True)


def test_separability_is_the_share_of_pairs_whose_intervals_do_not_overlap():
    board = pd.DataFrame({"bt_lo": [1100, 1000, 990, np.nan], "bt_hi": [1200, 1050, 1020, np.nan]})
    assert separability(board) == pytest.approx(2 / 3)  # 1-2 and 1-3 apart, 2-3 overlap; 4 has no interval
    assert separability(board.iloc[:1]) is None
    votes = verbose_votes(n=200)
    board = leaderboard(votes, rounds=100, seed=0)
    assert board.attrs["separability"] == separability(board) == board.attrs["method"]["separability"]


def test_style_control_ranks_judge_verdicts_too():
    votes = verbose_votes(n=300)
    judgments = [{"a": "A", "b": "B", "verdict": v["winner"], "judge": "j", "columns": v["columns"]} for v in votes]
    styled = leaderboard(judgments=judgments, source="judge", rounds=50, seed=0, style_control=True)
    assert styled.attrs["method"]["judgments"] == 300
    assert styled.attrs["style"]["length"]["coef"] > 0.5
