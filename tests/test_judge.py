"""LLM judges, headless: MT-Bench pairwise prompts, position swap, verdict rules, error records, agreement (kappa,
position bias), leaderboards and preference pairs by source, export and reload of judgments."""

from __future__ import annotations

import json
import re
import threading

import pytest

from chatzoo_widget.compare import (MT_BENCH_TEMPLATE, Arena, JudgeBook, VoteBook, agreement, check_template,
                                    cohen_kappa, export, leaderboard, load, parse_verdict, preference_pairs, restore,
                                    turn_jobs)
from chatzoo_widget.manager import ChatManager
from chatzoo_widget.testing import ScriptedBOT, wait_until

ANSWER = re.compile(r"\[The Start of Assistant ([AB])'s Answer\]\n(.*?)\n\[The End of Assistant \1's Answer\]", re.S)


def answers(query) -> dict[str, str]:
    """{"A": text, "B": text} of the judge prompt in `query`."""
    return dict(ANSWER.findall(query[-1]["content"]))


class AlwaysA(ScriptedBOT):
    """A judge with the worst position bias: always the first answer."""

    def __init__(self, name="always-a", **kw):
        super().__init__(name, reply=lambda q: "Assistant A explains more. [[A]]", **kw)


def marker_judge(word="MARKER", name="marker-judge", **kw) -> ScriptedBOT:
    """Prefers the answer containing `word`, wherever it is shown; a tie when neither or both have it."""
    def reply(query):
        found = [k for k, text in answers(query).items() if word in text]
        return f"Only one answer says {word}. [[{found[0]}]]" if len(found) == 1 else "Both alike. [[C]]"
    return ScriptedBOT(name, reply=reply, **kw)


def H(text, turn):
    return {"role": "HUMAN", "content": text, "turn": turn}


def B(text, turn, reason="stop"):
    return {"role": "BOT", "content": text, "turn": turn, "stats": {"finish_reason": reason}}


def comparison(replies: dict[str, list[str]], prompts=("Name a fruit.",), arena=None):
    """A manager whose columns finished `prompts` with `replies` (no generation needed), and its VoteBook."""
    m = ChatManager()
    for name in replies:
        m.add(ScriptedBOT(name))
    assert wait_until(lambda: all(c.status == "ready" for c in m.columns.values()))
    m.set_histories({c.id: [e for t, (p, r) in enumerate(zip(prompts, replies[c.name])) for e in (H(p, t), B(r, t))]
                     for c in m.columns.values()})
    return m, VoteBook(m, arena)


def judged(m, book, judge, **kw):
    books = JudgeBook(m, book)
    run = books.judge(judge, **kw)
    records = run.wait(10)
    assert not run.running
    return books, run, records


def test_a_judge_that_always_answers_A_ties_every_pair_and_has_full_position_bias():
    m, book = comparison({"x": ["apple"], "y": ["pear"], "z": ["plum"]})
    judge = AlwaysA()
    books, run, records = judged(m, book, judge)
    assert [(r["a"], r["b"]) for r in records] == [("x", "y"), ("x", "z"), ("y", "z")]
    assert all(r["verdict"] == "tie" and r["orders"] == ["A", "A"] and r["error"] is None for r in records)
    assert all(r["rationales"] == ["Assistant A explains more. [[A]]"] * 2 for r in records)
    assert agreement([], records)["position_bias"] == 1.0
    assert len(judge.prompts) == 6  # every pair in both orders
    first, swapped = [p for p in judge.prompts if "apple" in p[-1]["content"] and "pear" in p[-1]["content"]]
    assert answers(first[1:]) == {"A": "apple", "B": "pear"} and answers(swapped[1:]) == {"A": "pear", "B": "apple"}
    assert first[0] == {"role": "SYSTEM", "content": first[0]["content"]} and "[[C]]" in first[0]["content"]
    assert "[User Question]\nName a fruit." in first[1]["content"]
    assert run.progress["done"] == run.progress["total"] == 3 and run.progress["running"] is False
    pair = lambda r: (r["a"], r["b"])  # noqa: E731 - the book keeps records as pairs finish, the run in pair order
    assert sorted(books.judgments, key=pair) == records


def test_a_judge_that_prefers_a_marker_makes_that_column_win_every_pair():
    m, book = comparison({"x": ["apple"], "y": ["pear MARKER"], "z": ["plum"]})
    books, _, records = judged(m, book, marker_judge())
    by_pair = {(r["a"], r["b"]): r for r in records}
    assert by_pair[("x", "y")]["verdict"] == by_pair[("y", "z")]["verdict"] == "y"
    assert by_pair[("x", "y")]["orders"] == ["B", "A"] and by_pair[("y", "z")]["orders"] == ["A", "B"]
    assert by_pair[("x", "z")]["verdict"] == "tie" and by_pair[("x", "z")]["orders"] == ["C", "C"]
    assert agreement([], records)["position_bias"] == 0.0
    board = leaderboard(judgments=records, source="judge", rounds=20, seed=1)
    assert board.iloc[0]["contestant"] == "y" and board.iloc[0]["wins"] == 2
    assert board["battles"].sum() == 6  # one battle per pair, counted for both contestants
    assert board.attrs["method"]["judgments"] == 3 and board.attrs["method"]["votes"] == 0


def test_kappa_against_hand_computed_values():
    # person: a, a, b, tie; judge: a, b, b, tie -> p_o = 3/4; p_e = .5*.25 + .25*.5 + .25*.25 = .3125
    assert cohen_kappa([("a wins", "a wins"), ("a wins", "b wins"), ("b wins", "b wins"), ("tie", "tie")]) == \
        pytest.approx((0.75 - 0.3125) / (1 - 0.3125))
    assert cohen_kappa([("a wins", "a wins"), ("b wins", "b wins")]) == pytest.approx(1.0)
    assert cohen_kappa([("a wins", "b wins"), ("b wins", "a wins")]) == pytest.approx(-1.0)
    assert cohen_kappa([("tie", "tie")]) is None and cohen_kappa([]) is None  # undefined

    def vote(conv, choice, names=("x", "y", "z")):
        outcome = choice if choice in ("tie", "bad") else "best"
        return {"conversation": conv, "turn": 0, "choice": choice, "outcome": outcome,
                "winner": choice if outcome == "best" else None, "columns": [{"name": n} for n in names]}

    def judgment(conv, a, b, verdict, orders):
        return {"conversation": conv, "turn": 0, "a": a, "b": b, "verdict": verdict, "orders": orders,
                "judge": "j", "error": None}

    votes = [vote("c1", "x"), vote("c2", "tie"), vote("c3", "y", names=("x", "y"))]
    judgments = [
        judgment("c1", "x", "y", "x", ["A", "B"]),    # person x (a wins), judge a wins
        judgment("c1", "y", "z", "tie", ["A", "A"]),  # the vote for x says nothing about y vs z: left out
        judgment("c2", "x", "y", "y", ["B", "A"]),    # person tie, judge b wins
        judgment("c3", "x", "y", "y", ["B", "A"]),    # person b wins, judge b wins
        judgment("c9", "x", "y", "x", ["A", "B"]),    # no vote
        {**judgment("c1", "x", "z", None, ["A", None]), "error": "no verdict"},
    ]
    out = agreement(votes, judgments)
    # pairs: (a, a), (tie, b), (b, b): p_o = 2/3; person a 1/3, b 1/3, tie 1/3; judge a 1/3, b 2/3
    pe = (1 / 3) * (1 / 3) + (1 / 3) * (2 / 3)
    assert out["n"] == 3 and out["kappa"] == pytest.approx((2 / 3 - pe) / (1 - pe))
    assert out["position_bias"] == pytest.approx(1 / 5) and out["judged"] == 5
    conf = out["confusion"]
    assert list(conf.index) == list(conf.columns) == ["a wins", "b wins", "tie"]
    assert conf.index.name == "person" and conf.columns.name == "judge"
    assert conf.loc["a wins", "a wins"] == 1 and conf.loc["tie", "b wins"] == 1 and conf.loc["b wins", "b wins"] == 1
    assert conf.to_numpy().sum() == 3
    assert agreement(votes, judgments, judge="other")["n"] == 0


def test_a_failing_judge_gives_error_records_and_the_other_pairs_go_on():
    m, book = comparison({"x": ["apple"], "y": ["pear"], "z": ["plum BOOM"]})

    class Picky(ScriptedBOT):
        def stream_generate(self, request):
            if "BOOM" in request.query[-1]["content"]:
                raise RuntimeError("judge exploded")
            yield from super().stream_generate(request)

    _, run, records = judged(m, book, Picky("picky", reply=lambda q: "fine [[B]]"))
    assert [r["verdict"] for r in records] == ["tie", None, None]
    bad = records[1]
    assert bad["error"].startswith("order 1 (A/B): the judge picky failed: judge exploded") and "order 2" in bad["error"]
    assert bad["orders"] == [None, None] and run.error is None

    mute = ScriptedBOT("mute", reply="I cannot decide between them.")
    _, run, records = judged(m, book, mute)
    assert all(r["verdict"] is None and "gave no verdict" in r["error"] for r in records)
    assert "cannot decide" in records[0]["error"] and "every judgment failed" in run.error


def test_verdict_parsing_and_templates():
    assert parse_verdict("A is fine, use [[A]]... on reflection: [[B]]") == "B"  # the last one counts
    assert parse_verdict("verdict: [[ c ]]") == "C" and parse_verdict("A wins") is None and parse_verdict("") is None
    assert check_template(None) == MT_BENCH_TEMPLATE
    for bad, match in [("{question} {answer_a}", r"lacks \{answer_b\}"), ("{answer_a} {answer_b} {rubric}",
                       "unknown placeholders"), ("{answer_a {answer_b}", "not a valid format string"),
                       ("", "non-empty")]:
        with pytest.raises(ValueError, match=match):
            check_template(bad)
    m, book = comparison({"x": ["apple"], "y": ["pear {braces}"]})
    judge = ScriptedBOT("j", reply=lambda q: "[[A]]")
    _, _, records = judged(m, book, judge, template="Q: {question}\n1) {answer_a}\n2) {answer_b}\nPick.")
    assert judge.prompts[0][-1]["content"].startswith("Q: Name a fruit.\n1) ")
    assert "pear {braces}" in judge.prompts[0][-1]["content"] and records[0]["template"] == "custom"
    with pytest.raises(ValueError, match="answer_b"):
        JudgeBook(m, book).judge(judge, template="{answer_a}")


def test_later_turns_show_the_conversation_so_far():
    m, book = comparison({"x": ["apple", "red"], "y": ["pear", "green"]}, prompts=["A fruit?", "Its colour?"])
    judge = ScriptedBOT("j", reply=lambda q: "[[C]]")
    _, _, records = judged(m, book, judge)
    text = judge.prompts[0][-1]["content"]
    assert text.startswith("[The Start of the Conversation So Far]\nUser: A fruit?\nAssistant A: apple\n"
                           "Assistant B: pear\n[The End of the Conversation So Far]\n\n[User Question]\nIts colour?")
    assert records[0]["turn"] == 1 and records[0]["prompt"] == "Its colour?"
    _, _, first = judged(m, book, judge, turn=0)
    assert first[0]["turn"] == 0 and "Conversation So Far" not in judge.prompts[-1][-1]["content"]
    _, _, last = judged(m, book, judge, turn=-1)
    assert last[0]["turn"] == 1


def test_bad_input_is_refused_with_what_is_wrong_and_nothing_is_lost():
    m, book = comparison({"x": ["apple", "red"], "y": ["pear", "failed"]}, prompts=["A fruit?", "Its colour?"])
    histories = m.histories()
    books = JudgeBook(m, book)
    with pytest.raises(ValueError, match=r"turn 2 is out of range: this conversation has 2 turns \(0 to 1"):
        books.judge(AlwaysA(), turn=2)
    with pytest.raises(ValueError, match="turn must be an integer"):
        books.judge(AlwaysA(), turn="last")
    y = m.get("y")
    m.set_histories({y.id: y.history[:3] + [B("", 1, reason="error")]})
    with pytest.raises(ValueError, match="two or more finished replies; turn 1 has 1"):
        books.judge(AlwaysA())
    with pytest.raises(ValueError, match="name a judge"):
        books.judge("  ")
    with pytest.raises(ValueError, match="unknown keys in the judge dict"):
        books.judge({"model": "x", "colour": "red"})
    run = books.judge("./no/such/judge/folder", turn=0)
    run.wait(10)
    assert run.error.startswith("the judge ./no/such/judge/folder could not load: no such model folder")
    assert run.records == [] and books.judgments == []
    empty, empty_book = comparison({"x": [], "y": []}, prompts=[])
    with pytest.raises(ValueError, match="nothing to judge yet"):
        JudgeBook(empty, empty_book).judge(AlwaysA())
    assert [e["content"] for e in m.get("x").history] == [e["content"] for e in histories[m.get("x").id]]


def test_a_judge_url_that_is_down_gives_error_records_naming_it():
    from chatzoo_widget.bots.process import free_port

    m, book = comparison({"x": ["apple"], "y": ["pear"]})
    url = f"http://127.0.0.1:{free_port()}/v1"
    books, run, records = judged(m, book, url, timeout=5)
    assert len(records) == 1 and records[0]["verdict"] is None
    assert "127.0.0.1" in records[0]["error"] and records[0]["judge"] == url and run.error


def test_a_column_can_judge_and_judging_again_replaces_the_pair():
    m, book = comparison({"x": ["apple MARKER"], "y": ["pear"]})
    judge_col = m.add({"name": "judge", "model": marker_judge()})
    assert wait_until(lambda: judge_col.status == "ready")
    books = JudgeBook(m, book)
    books.judge("judge").wait(10)  # a column: its bot judges, its (empty) reply is not judged
    assert [(r["a"], r["b"], r["verdict"], r["judge"]) for r in books.judgments] == [("x", "y", "x", "judge")]
    books.judge("judge").wait(10)
    assert len(books.judgments) == 1, "one record per pair, turn and judge"
    books.judge(AlwaysA()).wait(10)
    assert len(books.judgments) == 2


def test_stop_ends_a_judge_run():
    m, book = comparison({"x": ["apple"], "y": ["pear"], "z": ["plum"]})
    books = JudgeBook(m, book)
    slow = ScriptedBOT("slow", reply="w " * 200 + "[[A]]", delay=0.01)
    run = books.judge(slow)
    assert wait_until(lambda: len(slow.prompts) == 6, 5)  # every request in flight at once
    run.stop()
    run.wait(5)
    assert not run.running and run.progress["stopped"] is True and books.judgments == []


def test_judging_while_blind_shows_labels_only():
    arena = Arena(seed=4)
    m, book = comparison({"secret-alpha": ["apple MARKER"], "secret-beta": ["pear"]}, arena=arena)
    books = JudgeBook(m, book)
    books.judge(marker_judge()).wait(10)
    assert book.is_blind(), "judging reveals nothing"
    state = books.state()
    assert "secret" not in json.dumps(state)
    (v,) = state["verdicts"]
    labels = {arena.label(c.id, book.conversation_id): c for c in m.columns.values()}
    assert {v["a_name"], v["b_name"]} == set(labels) and v["winner_name"] == arena.label(
        m.get("secret-alpha").id, book.conversation_id)
    assert books.judgments[0]["verdict"] == "secret-alpha", "the Python records keep the real names"
    book.vote(v["winner_name"])
    assert not book.is_blind() and books.state()["verdicts"][0]["winner_name"] == "secret-alpha"


def test_leaderboard_and_preference_pairs_by_source():
    m, book = comparison({"x": ["apple MARKER"], "y": ["pear"]})
    book.vote("y")
    books = JudgeBook(m, book)
    books.judge(marker_judge()).wait(10)
    by = {s: leaderboard(book, judgments=books.judgments, source=s, rounds=0) for s in ("votes", "judge", "both")}
    assert by["votes"].iloc[0]["contestant"] == "y" and by["judge"].iloc[0]["contestant"] == "x"
    assert by["both"]["battles"].tolist() == [2, 2] and by["both"]["wins"].tolist() == [1, 1]
    with pytest.raises(ValueError, match="source must be one of"):
        leaderboard(book, source="people")
    pairs = preference_pairs(book, judgments=books.judgments, source="judge", metadata=True)
    assert [(p["chosen"][0]["content"], p["rejected"][0]["content"]) for p in pairs] == [("apple MARKER", "pear")]
    assert pairs[0]["prompt"][-1] == {"role": "user", "content": "Name a fruit."}
    assert pairs[0]["source"] == "marker-judge"
    both = preference_pairs(book, judgments=books.judgments, source="both")
    assert len(both) == 2 and len(preference_pairs(book)) == 1
    assert agreement(book, books.judgments)["n"] == 1 and agreement(book, books.judgments)["kappa"] == 0.0


def test_export_and_load_carry_the_judgments(tmp_path):
    m, book = comparison({"x": ["apple MARKER"], "y": ["pear"]})
    books = JudgeBook(m, book)
    books.judge(marker_judge()).wait(10)
    path = export(tmp_path / "cmp.json", m, book, judgments=books.judgments)
    doc = load(path)
    assert doc["judgments"][0]["verdict"] == "x" and doc["judgments"][0]["rationales"][0]
    m2, book2 = comparison({"x": [], "y": []}, prompts=[])
    books2 = JudgeBook(m2, book2)
    restore(doc, m2, book2, judges=books2)
    assert books2.judgments[0]["verdict"] == "x" and books2.judgments[0]["columns"][0]["reply"] == "apple MARKER"
    bad = json.loads(path.read_text())
    bad["judgments"][0]["verdict"] = "nobody"
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(ValueError, match=r"judgments\[0\]\.verdict: 'nobody' is neither"):
        load(tmp_path / "bad.json")
    old = json.loads(path.read_text())
    del old["judgments"]  # documents from before judges load with none
    (tmp_path / "old.json").write_text(json.dumps(old))
    assert load(tmp_path / "old.json")["judgments"] == []


def test_turn_jobs_waits_for_every_reply():
    m, book = comparison({"x": ["apple"], "y": ["pear"]})
    x = m.get("x")
    m.set_histories({x.id: x.history + [H("more?", 1)]})
    with pytest.raises(ValueError, match="cannot judge while x still answering"):
        turn_jobs(m, book)
    assert len(turn_jobs(m, book, turn=0)) == 1
    with book.suspended():
        with pytest.raises(ValueError, match="during a batch run"):
            turn_jobs(m, book, turn=0)


def test_judge_requests_run_concurrently():
    m, book = comparison({n: [f"reply {n}"] for n in "pqrs"})
    gate = threading.Barrier(12, timeout=5)  # 6 pairs x 2 orders, all at once

    class Together(ScriptedBOT):
        def stream_generate(self, request):
            gate.wait()
            yield from super().stream_generate(request)

    _, run, records = judged(m, book, Together("together", reply=lambda q: "[[C]]"))
    assert len(records) == 6 and all(r["verdict"] == "tie" for r in records)
