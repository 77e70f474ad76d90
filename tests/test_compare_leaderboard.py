"""Leaderboard maths: battles, sequential Elo, Bradley–Terry and the bootstrap, checked against numbers worked
out independently (by hand or in closed form) and against properties that must hold."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from chatzoo_widget.compare import battles, bradley_terry, elo_ratings, leaderboard, leaderboard_json


def vote(choice, *names, conversation="c1", turn=0):
    cols = [{"name": n, "model": f"m-{n}", "settings": {}, "reply": f"{n} reply"} for n in names]
    outcome = choice if choice in ("tie", "bad") else "best"
    return {"conversation": conversation, "turn": turn, "choice": choice, "outcome": outcome,
            "winner": choice if outcome == "best" else None, "prompt": "p", "columns": cols}


def table(*results):
    """results: (a, b, score_a, times)"""
    return pd.DataFrame([{"a": a, "b": b, "score_a": s, "model_a": "", "model_b": ""}
                         for a, b, s, n in results for _ in range(n)])


def test_battles_best_beats_each_other_column_and_ties_pair_everyone():
    t = battles([vote("B", "A", "B", "C"), vote("tie", "A", "B", "C"), vote("bad", "A", "C")])
    assert list(zip(t["a"], t["b"], t["score_a"])) == [
        ("B", "A", 1.0), ("B", "C", 1.0),
        ("A", "B", 0.5), ("A", "C", 0.5), ("B", "C", 0.5),
        ("A", "C", 0.5)]
    assert list(t["vote"]) == [0, 0, 1, 1, 1, 2]


def test_elo_matches_hand_computed_updates():
    # K=4, start 1000. Worked out by hand, one battle at a time, E_a = 1/(1+10^((Rb-Ra)/400)):
    # v1 A best of A,B,C: A>B: E=.5, A 1002, B 998; A>C: E_A=.502878, +1.988487 -> A 1003.988487, C 998.011513
    # v2 C best of A,B,C: C>A: E_C=.491399, +2.034403 -> C 1000.045916, A 1001.954084
    #                     C>B: E_C=.502944, +1.988223 -> C 1002.034139, B 996.011777
    # v3 tie of A,B:      E_A=.508551, 4*(.5-.508551)=-.034203 -> A 1001.919881, B 996.045980
    votes = [vote("A", "A", "B", "C"), vote("C", "A", "B", "C", turn=1), vote("tie", "A", "B", turn=2)]
    elo = elo_ratings(battles(votes))
    assert elo == pytest.approx({"A": 1001.919881, "B": 996.045980, "C": 1002.034139}, abs=1e-5)
    board = leaderboard(votes, rounds=0)
    assert dict(zip(board["contestant"], board["elo"])) == pytest.approx(elo)
    assert board.attrs["method"]["elo"] == {"k": 4.0, "start": 1000.0, "order": "sequential, in vote order"}


def test_elo_k_and_start_are_parameters():
    elo = elo_ratings(battles([vote("A", "A", "B")]), k=32, start=1500)
    assert elo == {"A": 1516.0, "B": 1484.0}


def test_bt_three_wins_in_four_is_a_strength_ratio_of_exactly_three():
    bt = bradley_terry(table(("A", "B", 1.0, 3), ("B", "A", 1.0, 1)), prior=0)
    # 1000 + 400 log10(p): the difference is 400 log10(3); the plain MLE is anchored on mean 1000.
    assert bt["A"] - bt["B"] == pytest.approx(400 * math.log10(3), abs=1e-6)
    assert (bt["A"] + bt["B"]) / 2 == pytest.approx(1000, abs=1e-6)


def test_bt_ties_count_half_a_win_each_way():
    # A beats B once and they tie twice: A has 1 + 2*0.5 = 2 "wins", B has 1 -> ratio 2.
    bt = bradley_terry(table(("A", "B", 1.0, 1), ("A", "B", 0.5, 2)), prior=0)
    assert bt["A"] - bt["B"] == pytest.approx(400 * math.log10(2), abs=1e-6)


def test_bt_closed_form_three_contestants():
    # A-B 2:1, B-C 2:1, A-C 4:1: p = (4, 2, 1) solves every likelihood equation W_i = sum_j n_ij p_i/(p_i+p_j)
    # (A: 3*4/6 + 5*4/5 = 6 = W_A; B: 3*2/6 + 3*2/3 = 3 = W_B; C: 5/5 + 3/3 = 2 = W_C).
    t = table(("A", "B", 1.0, 2), ("B", "A", 1.0, 1), ("B", "C", 1.0, 2), ("C", "B", 1.0, 1),
              ("A", "C", 1.0, 4), ("C", "A", 1.0, 1))
    bt = bradley_terry(t, prior=0)
    scale = 400 * math.log10(2)  # geometric mean of (4, 2, 1) is 2 -> B sits on the 1000 anchor
    assert bt == pytest.approx({"A": 1000 + scale, "B": 1000.0, "C": 1000 - scale}, abs=1e-6)


def test_bt_symmetric_cycle_gives_equal_strengths():
    t = table(("A", "B", 1.0, 2), ("B", "C", 1.0, 2), ("C", "A", 1.0, 2),
              ("B", "A", 1.0, 1), ("C", "B", 1.0, 1), ("A", "C", 1.0, 1))
    for prior in (0, 1):
        assert bradley_terry(t, prior=prior) == pytest.approx({"A": 1000, "B": 1000, "C": 1000}, abs=1e-6)


def test_bt_is_order_invariant_but_elo_is_not():
    rng = np.random.default_rng(3)
    t = table(("A", "B", 1.0, 5), ("B", "A", 1.0, 3), ("B", "C", 1.0, 4), ("C", "B", 1.0, 2),
              ("A", "C", 0.5, 3), ("C", "A", 1.0, 1))
    shuffled = t.iloc[rng.permutation(len(t))].reset_index(drop=True)
    for prior in (0, 1):
        assert bradley_terry(shuffled, prior=prior) == pytest.approx(bradley_terry(t, prior=prior), abs=1e-8)
    assert elo_ratings(shuffled) != pytest.approx(elo_ratings(t), abs=1e-8)


def test_bt_without_prior_does_not_exist_for_a_clean_sweep_and_the_prior_keeps_it_finite():
    t = table(("A", "B", 1.0, 3))
    assert all(math.isnan(v) for v in bradley_terry(t, prior=0).values())
    bt = bradley_terry(t, prior=1)
    assert bt["A"] > 1000 > bt["B"] and all(math.isfinite(v) for v in bt.values())
    # More evidence moves further from the reference; the prior only shrinks.
    assert bradley_terry(table(("A", "B", 1.0, 30)))["A"] > bt["A"]
    ab = table(("A", "B", 1.0, 3), ("B", "A", 1.0, 1))
    assert 1000 < bradley_terry(ab, prior=1)["A"] < bradley_terry(ab, prior=0)["A"]


def random_votes(seed, n=60):
    rng = np.random.default_rng(seed)
    strength = {"A": 3.0, "B": 2.0, "C": 1.0, "D": 1.0}
    out = []
    for i in range(n):
        names = list(rng.choice(list(strength), size=rng.integers(2, 5), replace=False))
        if rng.random() < 0.15:
            out.append(vote("tie", *names, turn=i))
            continue
        p = np.array([strength[x] for x in names])
        out.append(vote(names[rng.choice(len(names), p=p / p.sum())], *names, turn=i))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_intervals_contain_the_estimate_and_are_reproducible(seed):
    votes = random_votes(seed)
    board = leaderboard(votes, seed=seed, rounds=400)
    for r in board.to_dict("records"):
        assert r["elo_lo"] <= r["elo"] <= r["elo_hi"]
        assert r["bt_lo"] <= r["bt"] <= r["bt_hi"]
        assert r["elo_hi"] > r["elo_lo"] and r["bt_hi"] > r["bt_lo"]
    again = leaderboard(votes, seed=seed, rounds=400)
    pd.testing.assert_frame_equal(board, again)
    assert list(board["bt"]) == sorted(board["bt"], reverse=True)  # best first
    assert board.attrs["method"]["ci"]["level"] == 0.95


def test_leaderboard_counts_and_columns():
    votes = [vote("A", "A", "B", "C"), vote("tie", "A", "B"), vote("bad", "B", "C"), vote("solo", "solo")]
    board = leaderboard(votes, seed=0, rounds=50)
    assert list(board.columns) == ["contestant", "model", "elo", "elo_lo", "elo_hi", "bt", "bt_lo", "bt_hi",
                                   "wins", "losses", "ties", "battles"]
    rows = board.set_index("contestant")
    assert "solo" not in rows.index  # a one-column vote has no battles
    assert rows.loc["A", ["wins", "losses", "ties", "battles"]].tolist() == [2, 0, 1, 3]
    assert rows.loc["B", ["wins", "losses", "ties", "battles"]].tolist() == [0, 1, 2, 3]
    assert rows.loc["C", ["wins", "losses", "ties", "battles"]].tolist() == [0, 1, 1, 2]
    assert rows.loc["A", "model"] == "m-A"
    assert board["contestant"].iloc[0] == "A"


def test_empty_leaderboard_and_bad_arguments():
    assert leaderboard([]).empty and list(leaderboard([]).columns)[0] == "contestant"
    with pytest.raises(ValueError, match="sort_by"):
        leaderboard([], sort_by="wins")
    with pytest.raises(ValueError, match="ci must be"):
        leaderboard([], ci=95)


def test_leaderboard_json_is_plain_json_for_the_table_and_chart():
    data = leaderboard_json(random_votes(4, 20), seed=1, rounds=100)
    text = json.dumps(data, allow_nan=False)  # no NaN, numpy types or pandas objects
    assert json.loads(text)["chart"]["metric"] == "bt"
    bars = data["chart"]["bars"]
    assert [b["label"] for b in bars] == [r["contestant"] for r in data["rows"]]
    assert all(data["chart"]["min"] <= b["lo"] <= b["value"] <= b["hi"] <= data["chart"]["max"] for b in bars)
    assert "anchor" in data["method"]["bt"] and data["method"]["ci"]["rounds"] == 100
    # an MLE that does not exist shows as null, not NaN
    none = leaderboard_json([vote("A", "A", "B")], bt_prior=0, rounds=10, seed=0)
    json.dumps(none, allow_nan=False)
    assert none["rows"][0]["bt"] is None
