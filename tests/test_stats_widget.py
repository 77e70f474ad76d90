"""`ChatZooWidget.summary()`: the last batch run's replies and the votes, as the user sees them."""

from __future__ import annotations

from chatzoo_widget import ChatZooWidget
from chatzoo_widget.testing import ScriptedBOT


def widget():
    w = ChatZooWidget([ScriptedBOT("right", reply="yes indeed"), ScriptedBOT("wrong", reply="no way")])
    w.send_message = lambda msg: None
    return w


def test_summary_of_the_last_batch_run_gives_rates_and_a_pairwise_verdict():
    w = widget()
    run = w.run_batch([f"question {i}" for i in range(12)], wait=False)
    frame = run.wait(30)
    frame["pass"] = frame["reply"].str.startswith("yes")  # a check, as run_batch(checks=...) records it
    columns, pairs = w.summary()
    rates = dict(zip(columns["column"], columns["estimate"]))
    assert rates == {"right": 1.0, "wrong": 0.0}
    row = pairs.iloc[0]
    assert (row["a"], row["b"], row["a_only"], row["b_only"]) == ("right", "wrong", 12, 0)
    assert row["verdict"] == "right > wrong" and row["test"].startswith("McNemar exact")


def test_summary_counts_votes_with_a_sign_test_and_says_when_there_are_too_few():
    w = widget()
    w.send("hello", wait=True, timeout=10)
    w.vote("right")
    pairs = w.summary().pairs
    assert list(pairs["measure"]) == ["votes"]
    assert pairs.iloc[0]["verdict"] == "too few paired rows"
    assert "fewer than two decided battles" in pairs.iloc[0]["note"]
