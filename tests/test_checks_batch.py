"""Checks inside batch runs and on the live conversation: datasets and promptfoo configs run on scripted columns,
rows keep their ids, each final reply gets pass/score/checks; a failing check, grader or column stays local."""

from __future__ import annotations

import pathlib

import pytest

from chatzoo_widget.compare import run_batch
from chatzoo_widget.manager import ChatManager
from chatzoo_widget.testing import ScriptedBOT, wait_until

EVALS = pathlib.Path(__file__).parent / "fixtures" / "evals"
CAPITALS = {"France": "Paris", "Japan": "Tokyo", "Italy": "Rome", "Spain": "Madrid", "Germany": "Berlin",
            "Peru": "Lima"}


def make(*bots):
    m = ChatManager()
    for b in bots:
        m.add(b)
    assert wait_until(lambda: all(c.status == "ready" for c in m.columns.values()))
    return m


def capital_of(query):
    country = next(c for c in CAPITALS if c in query[-1]["content"])
    return CAPITALS[country]


def test_a_promptfoo_config_runs_on_scripted_columns():
    m = make(ScriptedBOT("right", reply=capital_of), ScriptedBOT("wrong", reply="Kyoto"))
    df = run_batch(m, EVALS / "promptfooconfig.yaml")
    assert list(df.columns[-3:]) == ["pass", "score", "checks"] and df.columns[1] == "id"
    right = df[df["column"] == "right"].set_index("id")
    wrong = df[df["column"] == "wrong"].set_index("id")
    assert right["pass"].tolist() == [True] * 6
    # Italy: latency passes (1); the assert-set scores 0.5 (contains-any passes, is-json fails) and passes on
    # its threshold 0.5; the row's score is their mean, and the test's threshold 0.5 decides its pass
    italy = right.loc[2, "checks"]
    assert (italy[1]["type"], italy[1]["pass"], italy[1]["score"]) == ("assert-set", True, 0.5)
    assert [c["pass"] for c in italy[1]["checks"]] == [True, False] and right.loc[2, "score"] == 0.75
    # Italy and Spain pass on the threshold alone: latency 1 and the failed assert-set 0 average 0.5
    assert wrong["pass"].tolist() == [False, False, True, True, False, False]
    assert wrong.loc[2, "checks"][1]["pass"] is False and wrong.loc[2, "score"] == 0.5
    japan = wrong.loc[1, "checks"]
    assert [(c["type"], c["pass"], c["weight"]) for c in japan] == [
        ("latency", True, 1.0), ("icontains", False, 2.0), ("not-contains", False, 1.0)]
    assert japan[1]["reason"] == 'Expected output to contain "Tokyo"'
    assert wrong.loc[1, "score"] == pytest.approx(1 / 4)


def test_dict_rows_with_a_template_checks_for_every_row_limit_and_shuffle():
    m = make(ScriptedBOT("a", reply=lambda q: q[-1]["content"].upper()))
    data = [{"id": f"q{i}", "word": f"w{i}", "assert": [{"type": "contains", "value": f"W{i}"}]} for i in range(6)]
    df = run_batch(m, data, template="say {word}", checks=[{"type": "starts-with", "value": "SAY"}],
                   limit=3, shuffle=5)
    plain = [{k: v for k, v in row.items() if k != "assert"} for row in data]
    again = run_batch(m, plain, template="say {word}", limit=3, shuffle=5)
    assert df["id"].tolist() == again["id"].tolist() and len(df) == 3
    assert set(df["id"]) < {f"q{i}" for i in range(6)}
    assert df["pass"].tolist() == [True] * 3 and df["score"].tolist() == [1.0] * 3
    assert [len(c) for c in df["checks"]] == [2, 2, 2]
    assert "pass" not in again.columns  # nothing to check: no check columns


def test_only_the_final_turn_of_a_script_is_checked_and_unfinished_replies_are_not():
    m = make(ScriptedBOT("ok"), ScriptedBOT("broken", fail_after=1, reply="a b c"))
    df = run_batch(m, [["first", "second"]], checks=[{"type": "icontains", "value": "second"}])
    ok = df[df["column"] == "ok"]
    assert ok["pass"].tolist() == [None, True] and ok["checks"].tolist()[0] == []
    broken = df[df["column"] == "broken"]
    assert broken["status"].tolist()[-1] == "error" and broken["pass"].tolist()[-1] is None


def test_a_python_check_that_raises_fails_that_check_and_the_run_goes_on():
    def fragile(output, context):
        if "boom" in context["vars"]["prompt"]:
            raise ZeroDivisionError("division by zero in my check")
        return True

    m = make(ScriptedBOT("a"))
    df = run_batch(m, [{"prompt": "fine"}, {"prompt": "boom"}], checks=[fragile, {"type": "contains", "value": "to"}])
    assert df["pass"].tolist() == [True, False] and df["score"].tolist() == [1.0, 0.5]
    failed = df.iloc[1]["checks"][0]
    assert "ZeroDivisionError" in failed["reason"] and "division by zero in my check" in failed["error"]


def test_an_unreachable_grader_marks_only_its_rubric_checks_as_errors():
    m = make(ScriptedBOT("a"))
    df = run_batch(m, ["hello"], checks=[{"type": "llm-rubric", "value": "is friendly"},
                                         {"type": "contains", "value": "hello"}],
                   grader="http://127.0.0.1:9/v1", timeout=20)
    rubric, contains = df.iloc[0]["checks"]
    assert "connection refused" in rubric["error"] and not rubric["pass"]
    assert contains["pass"] and contains["error"] is None and df.iloc[0]["score"] == 0.5


def test_llm_rubric_and_select_best_with_a_column_as_grader():
    verdict = '{"reason": "it greets", "pass": true, "score": 0.9}'
    grader = ScriptedBOT("grader", reply=lambda q: "1" if "best" in q[-1]["content"] else verdict)
    m = make(ScriptedBOT("a", reply="hi"), ScriptedBOT("b", reply="hello there"), grader)
    df = run_batch(m, ["greet me"], checks=[{"type": "llm-rubric", "value": "greets the user"},
                                            {"type": "select-best", "value": "the warmest greeting"}],
                   grader="grader")
    a = df[df["column"] == "a"].iloc[0]
    b = df[df["column"] == "b"].iloc[0]
    assert [c["type"] for c in a["checks"]] == ["llm-rubric", "select-best"]
    assert a["checks"][0]["reason"] == "it greets" and a["checks"][0]["score"] == 0.9
    winners = {row["column"]: row["checks"][1]["pass"] for _, row in df.iterrows()}
    assert winners == {"a": False, "b": True, "grader": False}  # output 1 (the second column) was picked
    assert bool(b["pass"]) and not a["pass"]


def test_bad_checks_are_refused_before_anything_runs():
    m = make(ScriptedBOT("a"))
    with pytest.raises(ValueError, match="unknown check type 'contain'; known types: equals"):
        run_batch(m, ["x"], checks=[{"type": "contain", "value": "x"}])
    with pytest.raises(ValueError, match=r"row 'r1' assert\[0\] \(icontains\) needs a value"):
        run_batch(m, [{"id": "r1", "prompt": "x", "assert": [{"type": "icontains"}]}])
    assert m.get("a").history == []


def test_check_runs_on_the_last_turn_of_the_live_conversation():
    from chatzoo_widget.widget import ChatZooWidget

    w = ChatZooWidget([ScriptedBOT("a", reply="Paris, of course"), ScriptedBOT("b", reply="Lyon")])
    try:
        assert w.wait(10)
        w.send("Capital of France?", wait=True)
        results = w.check([{"type": "icontains", "value": "{{answer}}"}, {"type": "latency", "threshold": 60000}],
                          vars={"answer": "paris"})
        assert {k: (v["pass"], v["score"]) for k, v in results.items()} == {"a": (True, 1.0), "b": (False, 0.5)}
        assert results["b"]["checks"][0]["reason"] == 'Expected output to contain "paris"'
        with pytest.raises(ValueError, match="known types"):
            w.check([{"type": "nope"}])
    finally:
        w.close()


def test_checks_also_run_when_the_batch_goes_through_the_conversation():
    m = make(ScriptedBOT("a"))
    df = run_batch(m, [{"id": "x", "prompt": "hello"}], fresh_history=False,
                   checks=[{"type": "contains", "value": "hello"}, {"type": "not-icontains", "value": "HELLO"}])
    assert df[["id", "pass", "score"]].values.tolist() == [["x", False, 0.5]]
    assert len(m.get("a").history) == 2


def test_check_picks_the_best_reply_of_the_live_turn_with_a_column_as_grader():
    from chatzoo_widget.widget import ChatZooWidget

    w = ChatZooWidget([ScriptedBOT("a", reply="hi"), ScriptedBOT("b", reply="hello, lovely to see you")])
    try:
        assert w.wait(10)
        w.send("Greet me", wait=True)
        picker = ScriptedBOT("picker", reply="Output 1 is warmest")
        results = w.check([{"type": "select-best", "value": "the warmest greeting"}], grader=picker)
        assert {k: (v["pass"], v["score"]) for k, v in results.items()} == {"a": (False, 0.0), "b": (True, 1.0)}
        assert results["a"]["checks"][0]["reason"] == "Output 1 was selected"
    finally:
        w.close()
