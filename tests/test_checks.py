"""Checks with promptfoo's semantics: each type on the examples of promptfoo's assertion docs, the not- prefix,
weight, threshold, metric and assert-set scoring as promptfoo computes them, and bad checks."""

from __future__ import annotations

import pytest

from chatzoo_widget.compare.checks import CheckContext, evaluate, parse_checks, run_check
from chatzoo_widget.compare.checks.similarity import edit_distance, rouge_n
from chatzoo_widget.compare.checks.treebank import treebank_tokens


def one(spec, output, **ctx):
    (check,) = parse_checks([spec])
    return run_check(check, CheckContext(output, **ctx))


CASES = [  # (check, output, pass, score)
    ({"type": "equals", "value": "Yes"}, "Yes", True, 1),
    ({"type": "equals", "value": "Yes"}, "yes", False, 0),
    ({"type": "not-equals", "value": "Yes"}, "No", True, 1),
    ({"type": "equals", "value": {"key": "value"}}, '{"key": "value"}', True, 1),
    ({"type": "equals", "value": {"key": "value"}}, "not json", False, 0),
    ({"type": "contains", "value": "Paris"}, "It is Paris.", True, 1),
    ({"type": "contains", "value": "paris"}, "It is Paris.", False, 0),
    ({"type": "contains", "value": 42}, "the answer is 42", True, 1),
    ({"type": "icontains", "value": "paris"}, "It is PARIS.", True, 1),
    ({"type": "not-icontains", "value": "sorry"}, "Sorry, I can't", False, 0),
    ({"type": "contains-any", "value": ["cat", "dog"]}, "a dog", True, 1),
    ({"type": "contains-any", "value": "cat, dog"}, "a bird", False, 0),
    ({"type": "icontains-any", "value": ["CAT", "DOG"]}, "a dog", True, 1),
    ({"type": "contains-all", "value": ["cat", "dog"]}, "cat and dog", True, 1),
    ({"type": "contains-all", "value": ["cat", "dog"]}, "cat only", False, 0),
    ({"type": "icontains-all", "value": "Cat,Dog"}, "cat and dog", True, 1),
    ({"type": "not-contains-any", "value": ["as an AI", "I cannot"]}, "Sure: 4", True, 1),
    ({"type": "starts-with", "value": "Yes"}, "Yes, it is", True, 1),
    ({"type": "starts-with", "value": "Yes"}, " Yes", False, 0),
    ({"type": "regex", "value": r"\d{4}"}, "in 1969", True, 1),
    ({"type": "not-regex", "value": r"\d{4}"}, "in 1969", False, 0),
    ({"type": "is-json"}, '{"a": 1}', True, 1),
    ({"type": "is-json"}, "{'a': 1}", False, 0),
    ({"type": "not-is-json"}, "plain", True, 1),
    ({"type": "is-json", "value": {"type": "object", "required": ["color"]}}, '{"color": "red"}', True, 1),
    ({"type": "is-json", "value": {"type": "object", "required": ["color"]}}, '{"size": 1}', False, 0),
    ({"type": "is-json", "value": "type: object\nrequired: [color]"}, '{"color": 1}', True, 1),  # YAML schema
    ({"type": "contains-json"}, 'Here: {"a": [1, 2]} done', True, 1),
    ({"type": "contains-json"}, "no json here", False, 0),
    # promptfoo closes an unbalanced { at the end and reads the span as YAML: `{here}` is an object
    ({"type": "contains-json"}, "no json {here", True, 1),
    ({"type": "contains-json"}, "{'answer': 'Paris'}", True, 1),  # YAML flow, as promptfoo reads it
    ({"type": "contains-json"}, "{a: 1}", True, 1),
    ({"type": "contains-json"}, "[1, 2, 3]", False, 0),  # only objects count
    ({"type": "not-contains-json"}, "[1, 2, 3]", True, 1),
    ({"type": "contains-json", "value": {"required": ["a"]}}, '{"a": 1 // a note\n}', True, 1),
    ({"type": "contains-json", "value": {"required": ["b"]}}, 'x {"a": 1} y {"b": 2}', True, 1),
    ({"type": "contains-json", "value": {"required": ["c"]}}, 'x {"a": 1} y {"b": 2}', False, 0),
    ({"type": "levenshtein", "value": "hello world"}, "hello wrld", True, 1),  # distance 1 <= default 5
    ({"type": "levenshtein", "value": "hello", "threshold": 2}, "help me", False, 0),
    ({"type": "levenshtein", "value": "Paris"}, "\U0001f642 Paris \U0001f642", False, 0),  # an emoji: 2 UTF-16 units
    ({"type": "levenshtein", "value": "Paris", "threshold": 0}, "Paris", True, 1),  # 0 is a threshold, not unset
    ({"type": "levenshtein", "value": "Paris", "threshold": 0}, "paris", False, 0),
    ({"type": "rouge-n", "value": "the cat sat on the mat"}, "the cat sat on the mat", True, 1),
    ({"type": "rouge-n", "value": "the cat sat on the mat"}, "a dog", False, 0),
    ({"type": "rouge-n", "value": "the cat sat", "threshold": 0.5}, "the cat ran", True, 2 / 3),
    ({"type": "not-rouge-n", "value": "the cat sat", "threshold": 0.5}, "the cat ran", False, 1 / 3),
    # promptfoo: lower-cased Treebank tokens, F-measure of precision and recall
    ({"type": "rouge-n", "value": "the cat sat on the mat"}, "The cat sat on the mat.", True, 12 / 13),
    ({"type": "rouge-n", "value": "the cat sat on the mat"}, "The answer is 42.", False, 2 / 11),
    ({"type": "not-rouge-n", "value": "Paris is the capital"}, "paris rome", True, 2 / 3),
    ({"type": "rouge-n", "value": "I don't know.", "threshold": 0.5}, "i do not know", True, 2 / 3),
    # JavaScript's RegExp, as promptfoo compiles it
    ({"type": "regex", "value": "(?i)paris"}, "Paris", False, 0),  # inline flags: invalid in JS
    ({"type": "not-regex", "value": "(?i)sorry"}, "fine", False, 0),  # an invalid pattern fails either way
    ({"type": "regex", "value": "a++"}, "aa", False, 0),  # possessive: "Nothing to repeat" in JS
    ({"type": "regex", "value": "Paris$"}, "Paris\n", False, 0),  # $ is the very end
    ({"type": "regex", "value": r"\d"}, "\u0663 cats", False, 0),  # \d is ASCII
    ({"type": "regex", "value": r"a\sb"}, "a\u00a0b", True, 1),  # \s is Unicode whitespace
    ({"type": "regex", "value": "a.b"}, "a\rb", False, 0),  # . stops at every line terminator
    ({"type": "regex", "value": r"(?<w>cat) \k<w>"}, "cat cat", True, 1),  # JS named groups
    ({"type": "regex", "value": "a[^]b"}, "a\nb", True, 1),
    ({"type": "python", "value": "'Paris' in output"}, "Paris!", True, 1),
    ({"type": "python", "value": "len(output) / 10"}, "12345", True, 0.5),
    ({"type": "python", "value": "len(output) / 10", "threshold": 0.8}, "12345", False, 0.5),
    ({"type": "python", "value": "return {'pass': True, 'score': 0.3, 'reason': 'ok'}\n"}, "x", True, 0.3),
    ({"type": "not-python", "value": "output == 'x'"}, "x", False, 0),
]


@pytest.mark.parametrize("spec,output,passed,score", CASES, ids=[f"{c[0]['type']}-{i}" for i, c in enumerate(CASES)])
def test_check_types_as_promptfoo_scores_them(spec, output, passed, score):
    r = one(spec, output)
    assert (r["pass"], r["score"]) == (passed, pytest.approx(score)), r["reason"]
    assert r["type"] == spec["type"] and r["error"] is None


def test_failure_reasons_say_what_was_expected():
    assert one({"type": "contains", "value": "x"}, "abc")["reason"] == 'Expected output to contain "x"'
    assert one({"type": "not-contains", "value": "a"}, "abc")["reason"] == 'Expected output to not contain "a"'
    assert one({"type": "contains-all", "value": ["a", "z"]}, "abc")["reason"].endswith("Missing: [z]")
    assert "Levenshtein distance 4 is greater than threshold 2" in one(
        {"type": "levenshtein", "value": "hello", "threshold": 2}, "help me")["reason"]
    assert "Invalid regex pattern" in one({"type": "regex", "value": "("}, "x")["reason"]


def test_values_fill_row_fields_and_a_missing_field_fails_that_check_only():
    assert one({"type": "icontains", "value": "{{answer}}"}, "paris", vars={"answer": "Paris"})["pass"]
    r = one({"type": "icontains", "value": "{{answer}}"}, "paris", vars={})
    assert not r["pass"] and "the row has no field 'answer'" in r["error"]


def test_latency_against_a_threshold_or_recorded_as_a_metric():
    assert one({"type": "latency", "threshold": 500}, "x", latency_ms=120)["pass"]
    r = one({"type": "latency", "threshold": 100}, "x", latency_ms=120)
    assert not r["pass"] and "Latency 120ms is greater than threshold 100ms" in r["reason"]
    assert one({"type": "not-latency", "threshold": 100}, "x", latency_ms=120)["pass"]
    r = one({"type": "latency", "metric": "ms"}, "x", latency_ms=120)
    assert (r["pass"], r["score"], r["metric"]) == (True, 120, "ms")


def test_python_checks_take_a_callable_or_a_file_and_see_the_row():
    seen = []

    def check(output, context):
        seen.append(context["vars"]["answer"])
        return output.lower() == context["vars"]["answer"].lower()

    (c,) = parse_checks([check])
    assert run_check(c, CheckContext("PARIS", vars={"answer": "Paris"}))["pass"] and seen == ["Paris"]


def test_python_check_from_a_file(tmp_path):
    (tmp_path / "grade.py").write_text("def get_assert(output, context):\n    return {'pass': 'ok' in output, "
                                       "'score': 0.9, 'reason': 'looked'}\n\ndef short(output, context):\n"
                                       "    return len(output) < 5\n")
    (c, d) = parse_checks([{"type": "python", "value": "file://grade.py"},
                           {"type": "python", "value": "file://grade.py:short"}])
    r = run_check(c, CheckContext("ok!"), base=str(tmp_path))
    assert (r["pass"], r["score"], r["reason"]) == (True, 0.9, "looked")
    assert run_check(d, CheckContext("too long"), base=str(tmp_path))["pass"] is False


def test_a_python_check_that_raises_fails_with_the_exception_text_and_the_others_go_on():
    def broken(output, context):
        raise KeyError("missing_key")

    result = evaluate(parse_checks([broken, {"type": "contains", "value": "a"}]), CheckContext("abc"))
    bad, good = result["checks"]
    assert not bad["pass"] and bad["score"] == 0 and "KeyError" in bad["reason"] and "missing_key" in bad["error"]
    assert good["pass"] and result["score"] == 0.5 and not result["pass"]


# ----- scoring as promptfoo's AssertionsResult --------------------------------------------------------
def test_a_rows_score_is_the_weighted_mean_and_it_passes_only_when_every_check_passes():
    checks = parse_checks([{"type": "contains", "value": "a", "weight": 3}, {"type": "contains", "value": "z"}])
    r = evaluate(checks, CheckContext("abc"))
    assert r["score"] == pytest.approx(0.75) and r["pass"] is False
    assert r["reason"] == 'Expected output to contain "z"'
    assert evaluate(parse_checks([{"type": "contains", "value": "a"}]), CheckContext("a"))["reason"] == \
        "All assertions passed"


def test_a_test_threshold_decides_pass_on_the_score():
    checks = parse_checks([{"type": "contains", "value": "a", "weight": 3}, {"type": "contains", "value": "z"}])
    r = evaluate(checks, CheckContext("abc"), threshold=0.7)
    assert r["pass"] is True and r["reason"] == "Aggregate score 0.75 ≥ 0.7 threshold"
    assert evaluate(checks, CheckContext("abc"), threshold=0.8)["pass"] is False


def test_weight_zero_is_a_metric_that_never_fails():
    checks = parse_checks([{"type": "contains", "value": "a"},
                           {"type": "contains", "value": "z", "weight": 0, "metric": "has_z"}])
    r = evaluate(checks, CheckContext("abc"))
    assert (r["pass"], r["score"], r["metrics"]) == (True, 1.0, {"has_z": 0.0})
    assert evaluate(parse_checks([{"type": "contains", "value": "z", "weight": 0}]), CheckContext("a"))["score"] == 0


def test_named_metrics_are_weighted_means_of_their_checks():
    checks = parse_checks([{"type": "contains", "value": "a", "metric": "acc", "weight": 1},
                           {"type": "contains", "value": "z", "metric": "acc", "weight": 3},
                           {"type": "is-json", "metric": "format"}])
    assert evaluate(checks, CheckContext("abc"))["metrics"] == {"acc": 0.25, "format": 0.0}


def test_an_assert_set_scores_its_checks_then_counts_as_one_check_with_its_weight():
    checks = parse_checks([
        {"type": "assert-set", "threshold": 0.5, "weight": 2, "metric": "set", "assert": [
            {"type": "contains", "value": "a"}, {"type": "contains", "value": "z"}]},
        {"type": "contains", "value": "b"}])
    r = evaluate(checks, CheckContext("abc"))
    s = r["checks"][0]
    assert (s["type"], s["pass"], s["score"], s["reason"]) == ("assert-set", True, 0.5,
                                                               "Aggregate score 0.50 ≥ 0.5 threshold")
    assert [c["pass"] for c in s["checks"]] == [True, False]
    assert (r["pass"], r["score"], r["metrics"]) == (True, pytest.approx((0.5 * 2 + 1) / 3), {"set": 0.5})
    strict = evaluate(parse_checks([{"type": "assert-set", "assert": [{"type": "contains", "value": "z"}, "is-json"]}]),
                      CheckContext("abc"))
    assert strict["pass"] is False and strict["score"] == 0


def test_llm_rubric_uses_the_grader_and_a_failing_grader_errors_that_check_only():
    def grader(check, ctx):
        return {"pass": "polite" in check.value and "please" in ctx.output, "score": 0.8, "reason": "judged"}

    checks = parse_checks([{"type": "llm-rubric", "value": "is polite"}, {"type": "contains", "value": "p"}])
    r = evaluate(checks, CheckContext("please"), grader=grader)
    rubric = r["checks"][0]
    assert (rubric["type"], rubric["pass"], rubric["score"], rubric["reason"]) == ("llm-rubric", True, 0.8, "judged")
    assert r["pass"]
    threshold = parse_checks([{"type": "llm-rubric", "value": "is polite", "threshold": 0.9}])
    assert evaluate(threshold, CheckContext("please"), grader=grader)["pass"] is False

    def unreachable(check, ctx):
        raise ConnectionError("http://judge:1/v1 refused the connection")

    r = evaluate(checks, CheckContext("please"), grader=unreachable)
    assert "refused the connection" in r["checks"][0]["error"] and r["checks"][1]["pass"] is True
    assert "needs a grader" in evaluate(checks, CheckContext("please"))["checks"][0]["error"]


# ----- bad checks -----------------------------------------------------------------------------------
def test_an_unknown_type_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"checks\[1\]: unknown check type 'containz'; known types: equals, "
                                         r"contains, icontains, .*rouge-n, latency, python, llm-rubric"):
        parse_checks([{"type": "contains", "value": "x"}, {"type": "containz", "value": "x"}])


@pytest.mark.parametrize("spec,message", [
    ({"type": "contains"}, r"checks\[0\] \(contains\) needs a value"),
    ({"type": "contains", "value": "x", "weight": -1}, "weight must be a number >= 0"),
    ({"type": "contains", "value": "x", "threshhold": 1}, r"unknown keys \['threshhold'\]"),
    ({"type": "latency"}, "needs a threshold"),
    ({"type": "assert-set", "assert": []}, "non-empty list of checks"),
    ({"type": "not-assert-set", "assert": ["is-json"]}, "unknown check type"),
    (42, "must be a dict with a 'type'"),
])
def test_bad_checks_are_refused_before_a_run(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_checks([spec])


def test_similarity_helpers():
    assert edit_distance("kitten", "sitting") == 3 and edit_distance("", "abc") == 3
    assert rouge_n("the the cat", "the cat the dog") == pytest.approx(6 / 7)  # precision 1, recall 3/4
    assert edit_distance("\U0001f642", "") == 2  # UTF-16 code units, as JavaScript counts


@pytest.mark.parametrize("text,tokens", [  # js-rouge 3.2.3's treeBankTokenize (promptfoo 0.121.20) on these texts
    ("I don't know.", ["I", "do", "n't", "know", "."]),
    ('He said "hello" to me.', ["He", "said", "``", "hello", "''", "to", "me", "."]),
    ("Mr. Smith's cat (a tabby) isn't 'here'.",
     ["Mr.", "Smith", "'s", "cat", "(", "a", "tabby", ")", "is", "n't", "'here", "'", "."]),
    ("It costs $5.00 -- really!", ["It", "costs", "$", "5.00", "--", "really", "!"]),
    ("x: 1, y:2", ["x", ":", "1", ",", "y:2"]),
    ("I cannot, gonna win... 'Tis fine!", ["I", "can", "not", ",", "gon", "na", "win", "...", "'T", "is", "fine", "!"]),
    ('{"answer": "Paris"}', ["{", "``", "answer", "''", ":", "``", "Paris", "''", "}"]),
])
def test_rouge_splits_words_as_promptfoos_treebank_tokenizer(text, tokens):
    assert treebank_tokens(text) == tokens
