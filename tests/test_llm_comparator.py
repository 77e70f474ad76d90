"""Exports of a batch run (issue 19 item 6): results and summary as JSON and CSV, and LLM Comparator's JSON for two
columns, in the shape its README documents (metadata, models, examples with input_text, tags, output_text_a/b,
score, individual_rater_scores, custom_fields)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from chatzoo_widget.compare import export_results, run_batch, to_llm_comparator
from chatzoo_widget.compare.stats import summary
from chatzoo_widget.manager import ChatManager
from chatzoo_widget.testing import ScriptedBOT, wait_until

ROWS = [{"id": f"q{i}", "prompt": f"what is {i} plus {i}", "answer": str(2 * i)} for i in range(6)]
CHECKS = [{"type": "icontains", "value": "{{answer}}"}]


def right(query):  # answers every question right
    q = query[-1]["content"].split()
    return f"it is {int(q[2]) + int(q[4])}"


def wrong_on_odd(query):
    q = query[-1]["content"].split()
    n = int(q[2])
    return f"it is {2 * n if n % 2 == 0 else 99}"


def manager():
    m = ChatManager()
    m.add(ScriptedBOT("good", reply=right))
    m.add(ScriptedBOT("half", reply=wrong_on_odd))
    assert wait_until(lambda: all(c.status == "ready" for c in m.columns.values()), 10)
    return m


@pytest.fixture(scope="module")
def results():
    return run_batch(manager(), ROWS, checks=CHECKS)


def test_llm_comparator_file_has_the_documented_shape(results, tmp_path):
    path = tmp_path / "good-vs-half.json"
    doc = to_llm_comparator(results, "good", "half", path)
    assert json.loads(path.read_text()) == doc
    assert set(doc) == {"metadata", "models", "examples"}
    assert doc["metadata"]["source_path"] == str(path)
    schema = {f["name"]: f["type"] for f in doc["metadata"]["custom_fields_schema"]}
    assert doc["models"] == [{"name": "good"}, {"name": "half"}]
    assert len(doc["examples"]) == 6
    for ex in doc["examples"]:
        assert set(ex) == {"input_text", "tags", "output_text_a", "output_text_b", "score", "individual_rater_scores",
                           "custom_fields"}
        assert isinstance(ex["input_text"], str) and isinstance(ex["tags"], list)
        assert ex["score"] is None or -1.5 <= ex["score"] <= 1.5
        assert set(ex["custom_fields"]) == set(schema)
        for name, kind in schema.items():
            if kind.startswith("per_model"):
                assert len(ex["custom_fields"][name]) == 2
    by_id = {ex["custom_fields"]["id"]: ex for ex in doc["examples"]}
    # checks decide the score when nobody judged: A right and B wrong on odd questions -> +1.5, else a tie
    assert {i: by_id[f"q{i}"]["score"] for i in range(6)} == {0: 0.0, 1: 1.5, 2: 0.0, 3: 1.5, 4: 0.0, 5: 1.5}
    assert by_id["q1"]["tags"] == ["A only"] and by_id["q2"]["tags"] == ["both pass"]
    assert by_id["q1"]["output_text_a"] == "it is 2" and by_id["q1"]["output_text_b"] == "it is 99"
    assert by_id["q1"]["input_text"] == "what is 1 plus 1"
    assert by_id["q1"]["custom_fields"]["pass"] == [True, False]
    # swapping the columns flips the sign
    swapped = {ex["custom_fields"]["id"]: ex["score"] for ex in to_llm_comparator(results, "half", "good")["examples"]}
    assert swapped["q1"] == -1.5


def test_judge_orders_become_individual_ratings():
    judge = ScriptedBOT("judge", reply="[[A]]")  # always the first answer shown: position bias, a tie overall
    df = run_batch(manager(), ROWS[:2], judge=judge)
    doc = to_llm_comparator(df, "good", "half")
    for ex in doc["examples"]:
        ratings = ex["individual_rater_scores"]
        assert sorted((r["is_flipped"], r["score"]) for r in ratings) == [(False, 1.0), (True, -1.0)]
        assert all(set(r) == {"is_flipped", "score", "rationale", "custom_fields"} for r in ratings)
        assert ex["score"] == 0.0
    with pytest.raises(ValueError, match="score must be"):
        to_llm_comparator(df, "good", "half", score="votes")


def test_unknown_or_equal_columns_are_refused(results):
    with pytest.raises(ValueError, match="no column 'other' in the results; columns: good, half"):
        to_llm_comparator(results, "good", "other")
    with pytest.raises(ValueError, match="two different columns"):
        to_llm_comparator(results, "good", "good")
    with pytest.raises(ValueError, match="unsupported extension"):
        to_llm_comparator(results, "good", "half", "out.csv")


def test_results_and_summary_as_json(results, tmp_path):
    stats = summary(results)
    path = export_results(tmp_path / "run.json", results, stats)
    doc = json.loads(path.read_text())
    assert doc["format"] == "chatzoo-batch-results" and doc["version"] == 1
    assert doc["attrs"] == {"done": 6, "total": 6, "stopped": False}
    assert len(doc["results"]) == 12 and doc["results"][0]["checks"][0]["type"] == "icontains"
    assert [r["reply"] for r in doc["results"]] == list(results["reply"])
    assert len(doc["summary"]["columns"]) == len(stats.columns) and len(doc["summary"]["pairs"]) == len(stats.pairs)
    rates = {r["column"]: r for r in doc["summary"]["columns"] if r.get("measure") == "pass"}
    assert rates["good"]["estimate"] == 1.0 and rates["half"]["estimate"] == 0.5


def test_results_and_summary_as_csv(results, tmp_path):
    stats = summary(results)
    path = export_results(tmp_path / "run.csv", results, stats)
    back = pd.read_csv(path)
    assert list(back["reply"]) == list(results["reply"]) and list(back["pass"]) == list(results["pass"])
    assert [json.loads(c) for c in back["checks"]] == [list(c) for c in results["checks"]]
    assert len(pd.read_csv(tmp_path / "run.summary-columns.csv")) == len(stats.columns)
    assert len(pd.read_csv(tmp_path / "run.summary-pairs.csv")) == len(stats.pairs)
    with pytest.raises(ValueError, match="unsupported extension"):
        export_results(tmp_path / "run.txt", results)
    with pytest.raises(ValueError, match="results must be a run_batch DataFrame"):
        export_results(tmp_path / "run.json", [1, 2])


def test_the_widget_exports_its_last_run_with_the_summary(tmp_path):
    from chatzoo_widget import ChatZooWidget

    w = ChatZooWidget([ScriptedBOT("good", reply=right), ScriptedBOT("half", reply=wrong_on_odd)])
    try:
        assert wait_until(lambda: all(c.status == "ready" for c in w.manager.columns.values()), 10)
        with pytest.raises(ValueError, match="no batch results to export"):
            w.export_results(str(tmp_path / "none.json"))
        df = w.run_batch(ROWS, checks=CHECKS)
        doc = json.loads(w.export_results(str(tmp_path / "run.json")).read_text())
        assert [r["reply"] for r in doc["results"]] == list(df["reply"])
        assert {r["column"] for r in doc["summary"]["columns"]} == {"good", "half"}
    finally:
        w.close()
