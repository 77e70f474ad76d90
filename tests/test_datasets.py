"""Data in: every kind of data `run_batch` takes becomes rows with an id, the prompts to send and the row's checks;
bad data gets an error that names the row, field, file or line."""

from __future__ import annotations

import pathlib

import pandas as pd
import pytest

from chatzoo_widget.compare.datasets import load_rows, render

EVALS = pathlib.Path(__file__).parent / "fixtures" / "evals"


def test_prompts_and_scripts_keep_working_with_their_index_as_id():
    rows = load_rows(["one", ["two", "three"]])
    assert [(r.id, r.turns) for r in rows] == [(0, ["one"]), (1, ["two", "three"])]


def test_dict_rows_with_a_python_or_promptfoo_template_and_their_own_ids_and_checks():
    data = [{"id": "a", "question": "2+2?", "assert": [{"type": "contains", "value": "4"}]},
            {"question": "3+3?"}]
    rows = load_rows(data, template="Q: {question}")
    assert [(r.id, r.turns) for r in rows] == [("a", ["Q: 2+2?"]), (1, ["Q: 3+3?"])]
    assert rows[0].checks == [{"type": "contains", "value": "4"}] and rows[1].checks == []
    assert load_rows(data, template="Q: {{ question }}")[0].turns == ["Q: 2+2?"]
    # a list of templates is a multi-turn script
    assert load_rows(data, template=["{question}", "Are you sure?"])[1].turns == ["3+3?", "Are you sure?"]


def test_a_row_without_a_template_sends_its_prompt_field():
    rows = load_rows([{"prompt": "hi"}, {"prompt": ["a", "b"], "id": 7}])
    assert [(r.id, r.turns) for r in rows] == [(0, ["hi"]), (7, ["a", "b"])]
    with pytest.raises(ValueError, match=r"row 0 has no 'prompt' field .*template='\{question\}'.*question"):
        load_rows([{"question": "x"}])


def test_a_template_field_missing_from_a_row_names_the_row_and_the_field():
    with pytest.raises(ValueError, match=r"row 1 \(id 'b'\) has no field 'question'.*its fields: id, q"):
        load_rows([{"id": "a", "question": "x"}, {"id": "b", "q": "y"}], template="Q: {question}")
    with pytest.raises(ValueError, match=r"row 0 has no field 'topic'"):
        load_rows([{"question": "x"}], template="{{topic}}: {{question}}")


def test_a_dataframe_and_a_datasets_style_object():
    df = pd.DataFrame({"question": ["a?", "b?"], "answer": ["A", "B"]})
    rows = load_rows(df, template="{question}")
    assert [(r.id, r.turns, r.vars["answer"]) for r in rows] == [(0, ["a?"], "A"), (1, ["b?"], "B")]

    class FakeDataset:  # the datasets.Dataset row interface: column_names, len, iteration over dict rows
        column_names = ["id", "question"]

        def __len__(self):
            return 2

        def __iter__(self):
            return iter([{"id": "x1", "question": "c?"}, {"id": "x2", "question": "d?"}])

    assert [(r.id, r.turns) for r in load_rows(FakeDataset(), template="{question}")] == [
        ("x1", ["c?"]), ("x2", ["d?"])]


def test_csv_jsonl_and_json_files(tmp_path):
    csv_rows = load_rows(EVALS / "questions.csv", template="{question}")
    assert [(r.id, r.turns, r.vars["answer"]) for r in csv_rows] == [
        (0, ["Capital of France?"], "Paris"), (1, ['Capital of "Peru"?'], "Lima")]
    jsonl = load_rows(str(EVALS / "questions.jsonl"), template="{question}")
    assert [r.id for r in jsonl] == ["q1", "q2"] and jsonl[1].checks == [{"type": "contains", "value": "6"}]
    (tmp_path / "d.json").write_text('[{"prompt": "x"}, {"prompt": "y", "id": "b"}]')
    assert [(r.id, r.turns) for r in load_rows(tmp_path / "d.json")] == [(0, ["x"]), ("b", ["y"])]


def test_csv_assert_cells_and_promptfoo_expected_columns(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('prompt,assert,__expected\nhi,"[{""type"": ""contains"", ""value"": ""h""}]",icontains: HI\n'
                    "yo,,yo\n")
    rows = load_rows(path)
    assert rows[0].checks == [{"type": "contains", "value": "h"}, {"type": "icontains", "value": "HI"}]
    assert rows[1].checks == [{"type": "equals", "value": "yo"}]


def test_a_malformed_csv_or_jsonl_line_names_the_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "ok"}\n\n{"prompt": oops}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl line 3: not valid JSON"):
        load_rows(bad)
    (tmp_path / "list.jsonl").write_text('{"prompt": "ok"}\n[1, 2]\n')
    with pytest.raises(ValueError, match=r"list\.jsonl line 2: a row must be a JSON object"):
        load_rows(tmp_path / "list.jsonl")
    (tmp_path / "bad.csv").write_text("prompt,answer\nhi,there\nhow,are,you\n")
    with pytest.raises(ValueError, match=r"bad\.csv line 3: 3 fields, the header has 2"):
        load_rows(tmp_path / "bad.csv")
    (tmp_path / "quote.csv").write_text('prompt,answer\nhi,"unclosed\n')
    with pytest.raises(ValueError, match=r"quote\.csv line \d+: malformed CSV"):
        load_rows(tmp_path / "quote.csv")
    with pytest.raises(FileNotFoundError, match="no data file"):
        load_rows(tmp_path / "missing.csv")
    with pytest.raises(ValueError, match="must be a list of prompts .* or a path ending in .*; got the string 'just a prompt'"):
        load_rows("just a prompt")


def test_limit_and_a_seeded_shuffle():
    data = [f"p{i}" for i in range(20)]
    assert [r.id for r in load_rows(data, limit=3)] == [0, 1, 2]
    once, again = load_rows(data, shuffle=7), load_rows(data, shuffle=7)
    assert [r.id for r in once] == [r.id for r in again] != list(range(20))
    assert sorted(r.id for r in once) == list(range(20))
    assert [r.id for r in load_rows(data, shuffle=True, limit=5)] == [r.id for r in load_rows(data, shuffle=0)][:5]
    assert [r.id for r in load_rows(data, shuffle=1)] != [r.id for r in once]
    with pytest.raises(ValueError, match="limit must be"):
        load_rows(data, limit=-1)
    with pytest.raises(ValueError, match="row ids must be unique; repeated: 'a'"):
        load_rows([{"id": "a", "prompt": "x"}, {"id": "a", "prompt": "y"}])


def test_a_promptfoo_config_with_default_test_var_expansion_and_a_csv_of_tests():
    rows = load_rows(EVALS / "promptfooconfig.yaml")
    assert [r.turns[0] for r in rows] == [f"What is the capital of {c}? Answer in one word." for c in
                                          ("France", "Japan", "Italy", "Spain", "Germany", "Peru")]
    assert [r.id for r in rows] == [0, 1, 2, 3, 4, 5]
    assert rows[0].vars == {"style": "short", "country": "France", "answer": "Paris"}  # defaultTest vars under
    assert rows[0].checks == [{"type": "latency", "threshold": 60000}, {"type": "icontains", "value": "{{answer}}"}]
    assert rows[0].description == "France"
    assert rows[2].threshold == 0.5 and rows[2].checks[1]["type"] == "assert-set"
    assert rows[4].checks[1] == {"type": "icontains", "value": "berlin"}  # __expected "icontains: berlin"
    assert rows[5].checks[1] == {"type": "equals", "value": "Lima"} and rows[5].description == "exact answer"


def test_a_promptfoo_config_as_a_dict_with_several_prompts_and_a_grader(tmp_path):
    config = {"prompts": ["Q: {{q}}", {"raw": "Question: {{q}}", "label": "long"}],
              "defaultTest": {"options": {"provider": "judge-col"}},
              "tests": [{"vars": {"q": "x"}, "assert": [{"type": "llm-rubric", "value": "is polite"}]}]}
    rows = load_rows(config)
    assert [(r.id, r.turns, r.vars["__prompt"]) for r in rows] == [(0, ["Q: x"], 0), (1, ["Question: x"], 1)]
    assert rows[0].checks == [{"type": "llm-rubric", "value": "is polite", "provider": "judge-col"}]
    (tmp_path / "p.txt").write_text("First {{q}}\n---\nSecond {{q}}\n")
    rows = load_rows(_write_yaml(tmp_path, {"prompts": ["file://p.txt"], "tests": [{"vars": {"q": "y"}}]}))
    assert [r.turns for r in rows] == [["First y"], ["Second y"]]
    with pytest.raises(ValueError, match=r"tests\[0\] has no field 'q'"):
        load_rows({"prompts": ["{{q}}"], "tests": [{"vars": {"other": 1}}]})
    (tmp_path / "broken.yaml").write_text("prompts: [unclosed\n")
    with pytest.raises(ValueError, match=r"broken\.yaml line \d+: not valid YAML"):
        load_rows(tmp_path / "broken.yaml")


def _write_yaml(tmp_path, config):
    import yaml
    path = tmp_path / "promptfooconfig.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_render_fills_dotted_fields_and_json_values():
    assert render("{{a.b}} {{c}}", {"a": {"b": 1}, "c": [1, 2]}) == "1 [1, 2]"


def test_the_shipped_question_set_loads_with_a_check_on_every_row():
    import chatzoo_widget
    from chatzoo_widget.compare.checks import parse_checks

    path = pathlib.Path(chatzoo_widget.__file__).parent / "data" / "questions.jsonl"
    rows = load_rows(path, template="{question} Answer in a few words.")
    assert len(rows) == 40 and len({r.id for r in rows}) == 40
    assert all(r.turns[0].endswith("? Answer in a few words.") for r in rows)
    assert all(len(parse_checks(r.checks)) == 1 for r in rows)
