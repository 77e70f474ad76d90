"""Judges through the widget, headless: w.judge, judge_state, the front end's judge commands, the leaderboard's
source switch, batch runs with samples and a judge, export and reload."""

from __future__ import annotations

import json
import time

import pytest

from chatzoo_widget import ChatZooWidget
from chatzoo_widget.bots.base import ChatBOT
from chatzoo_widget.testing import ScriptedBOT, command, wait_until
from test_judge import AlwaysA, marker_judge


def bots():
    return [ScriptedBOT("alpha", reply="plain answer"), ScriptedBOT("beta", reply="answer with MARKER"),
            ScriptedBOT("gamma", reply="another plain answer")]


def test_judge_the_latest_turn(sent):
    w = ChatZooWidget(bots())
    w.send("which?", wait=True)
    records = w.judge(marker_judge())
    assert [(r["a"], r["b"], r["verdict"]) for r in records] == [
        ("alpha", "beta", "beta"), ("alpha", "gamma", "tie"), ("beta", "gamma", "beta")]
    # the book keeps records as the pairs finish (any order); the run returns them in pair order
    assert sorted(w.judgments, key=lambda r: (r["a"], r["b"])) == records and records[0]["judge"] == "marker-judge"
    state = w.judge_state
    assert state["run"]["done"] == 3 and state["run"]["running"] is False and len(state["verdicts"]) == 3
    # listed in column order whatever order the pairs finished in
    pairs = [(v["a_name"], v["b_name"]) for v in state["verdicts"]]
    assert pairs == [("alpha", "beta"), ("alpha", "gamma"), ("beta", "gamma")]
    v = state["verdicts"][0]
    assert v["a_name"] == "alpha" and v["verdict"] == "b" and v["winner_name"] == "beta"
    assert v["rationales"][0].startswith("Only one answer says MARKER")
    assert w.leaderboard_table["source"] == "judge" and w.leaderboard_table["rows"][0]["contestant"] == "beta"
    assert w.leaderboard_table["counts"] == {"votes": 0, "judge": 3}
    board = w.leaderboard(source="judge", rounds=10)
    assert board.iloc[0]["contestant"] == "beta" and w.leaderboard().empty  # default: the votes (none yet)
    assert state["agreement"] is None
    w.vote("beta")
    agree = w.agreement()
    # the vote for beta says nothing of alpha vs gamma; on the other two pairs the judge agrees
    assert agree["n"] == 2 and agree["position_bias"] == 0.0 and agree["kappa"] == pytest.approx(1.0)
    assert w.judge_state["agreement"]["n"] == 2 and w.judge_state["agreement"]["labels"] == ["a wins", "b wins", "tie"]
    assert w.leaderboard_table["source"] == "votes"


def test_judging_from_the_front_end_and_stop(sent):
    w = ChatZooWidget(bots()[:2] + [{"name": "judge", "model": marker_judge(delay=0.0)}])
    w.send("q", wait=True)
    assert command(w, "judge", judge="judge")["ok"]  # a column as judge
    assert wait_until(lambda: not w._judges.run.running and w.judge_state["run"].get("done") == 3)
    assert {(r["a"], r["b"]) for r in w.judgments} == {("alpha", "beta"), ("alpha", "judge"), ("beta", "judge")}
    assert "name a judge" in command(w, "judge", judge="")["error"]
    slow = ScriptedBOT("slow", reply="w " * 200 + "[[A]]", delay=0.01)
    w.judge({"name": "slow", "model": slow}, wait=False)  # a judge no browser can name: started from Python
    assert wait_until(lambda: len(slow.prompts) == 6)
    assert command(w, "stop", column=None)["ok"]  # the toolbar's Stop stops the judge too
    assert wait_until(lambda: w.judge_state["run"].get("running") is False)
    assert w.judge_state["run"]["stopped"] is True and len(w.judgments) == 3
    w.judge(slow, wait=False)
    assert wait_until(lambda: len(slow.prompts) == 12)
    assert command(w, "stop_judge")["ok"]
    assert wait_until(lambda: w.judge_state["run"].get("running") is False)
    assert command(w, "leaderboard_source", source="both")["ok"]
    assert w.leaderboard_table["source"] == "both"
    assert "unknown leaderboard source" in command(w, "leaderboard_source", source="nope")["error"]


def test_a_judge_that_cannot_load_raises_and_loses_nothing(sent):
    w = ChatZooWidget(bots()[:2])
    w.send("q", wait=True)
    before = w.history
    with pytest.raises(RuntimeError, match="the judge ./missing-judge could not load: no such model folder"):
        w.judge("./missing-judge")
    with pytest.raises(ValueError, match="lacks"):
        w.judge(AlwaysA(), template="{answer_a} only")
    with pytest.raises(ValueError, match="out of range"):
        w.judge(AlwaysA(), turn=3)
    assert w.history == before and w.judgments == []
    assert command(w, "judge", judge="./missing-judge")["ok"]  # accepted: the load fails in the background
    assert wait_until(lambda: w.judge_state["run"].get("running") is False)
    assert "could not load" in w.judge_state["run"]["error"]
    solo = ChatZooWidget([ScriptedBOT("solo")])
    solo.send("q", wait=True)
    with pytest.raises(ValueError, match="two or more finished replies"):
        solo.judge(AlwaysA())


def test_judging_in_the_arena_reveals_nothing(sent):
    w = ChatZooWidget([ScriptedBOT("secret-alpha", reply="MARKER here"), ScriptedBOT("secret-beta", reply="none")],
                      arena=True, seed=5)
    w.send("q", wait=True)
    w.judge(marker_judge(name="marker"))
    assert all(c["blind"] for c in w.columns), "judging does not reveal"
    shown = json.dumps(w.judge_state) + json.dumps(w.leaderboard_table) + json.dumps(w.get_state())
    assert "secret" not in shown
    labels = {c["id"]: c["label"] for c in w.columns}
    (v,) = w.judge_state["verdicts"]
    winner = next(c.id for c in w.manager.columns.values() if c.name == "secret-alpha")
    assert v["winner_name"] == labels[winner] and {v["a_name"], v["b_name"]} == set(labels.values())
    assert w.leaderboard_table == {}, "the blind turn's verdicts stay out of the leaderboard until revealed"
    w.vote(labels[winner])
    assert w.leaderboard_table["rows"] and w.judge_state["verdicts"][0]["winner_name"] == "secret-alpha"


class SeedBOT(ScriptedBOT):
    """Replies with the seed it was given (a stand-in for sampling)."""

    def stream_generate(self, request):
        self.reply = f"seed {request.control.get('seed')} says {request.query[-1]['content']}"
        yield from super().stream_generate(request)


def test_batch_samples_and_judge(sent):
    w = ChatZooWidget([SeedBOT("s1"), ScriptedBOT("plain", reply="plain"),
                       ScriptedBOT("marked", reply="MARKER reply")])
    df = w.run_batch(["p1", ["p2", "p3"]], samples=3, judge=marker_judge())
    assert len(df) == 3 * 3 * 3 and df.groupby(["prompt", "column"]).size().eq(3).all()
    s1 = df[df.column == "s1"]
    assert s1[s1.prompt == "p1"]["reply"].tolist() == ["seed 0 says p1", "seed 1 says p1", "seed 2 says p1"]
    assert s1["sample"].tolist() == [0, 1, 2, 0, 0, 1, 1, 2, 2] and s1.iloc[0]["settings"]["seed"] == 0
    marked = df[df.column == "marked"]
    assert marked["judge_score"].eq(1.0).all() and marked.iloc[0]["judge_verdicts"] == {"s1": "win", "plain": "win"}
    assert df[df.column == "plain"].iloc[0]["judge_verdicts"] == {"s1": "tie", "marked": "loss"}
    judgments = df.attrs["judgments"]
    assert len(judgments) == 9 * 3 and len(w.judgments) == 27
    assert {j["source"] for j in judgments} == {"batch"} and {j["sample"] for j in judgments} == {0, 1, 2}
    assert w.batch_progress["judged"] == 27 and w.batch_progress["done"] == 9
    assert w.leaderboard_table["source"] == "judge" and w.leaderboard_table["rows"][0]["contestant"] == "marked"
    again = w.run_batch(["p1", ["p2", "p3"]], samples=3)
    assert again["reply"].tolist() == df["reply"].tolist(), "seeds make samples reproducible"
    with pytest.raises(ValueError, match="samples must be"):
        w.run_batch(["p"], samples=0)
    with pytest.raises(ValueError, match="need fresh_history=True"):
        w.run_batch(["p"], samples=2, fresh_history=False)


def test_seeded_samples_of_a_real_model_are_reproducible(tiny_bot):
    from chatzoo_widget.compare import run_batch
    from chatzoo_widget.manager import ChatManager

    m = ChatManager()
    m.add(tiny_bot, name="tiny", settings={"do_sample": True, "temperature": 1.5, "max_new_tokens": 8})
    assert wait_until(lambda: m.get("tiny").status == "ready", 30)
    first = run_batch(m, ["Hello there"], samples=3)
    second = run_batch(m, ["Hello there"], samples=3)
    assert first["reply"].tolist() == second["reply"].tolist()
    assert first["sample"].tolist() == [0, 1, 2] and len(set(first["reply"])) > 1


def test_export_and_load_keep_the_judgments(sent, tmp_path):
    w = ChatZooWidget(bots()[:2])
    w.send("q", wait=True)
    w.judge(marker_judge())
    w.vote("alpha")
    path = w.export(str(tmp_path / "cmp.json"))
    w2 = ChatZooWidget.load(str(path), models=bots()[:2])
    assert w2.judgments[0]["verdict"] == "beta" and w2.judgments == json.loads(json.dumps(w.judgments))
    assert w2.agreement()["n"] == 1
    assert w2.preference_pairs(source="judge")[0]["chosen"][0]["content"] == "answer with MARKER"
    assert w2.preference_pairs()[0]["chosen"][0]["content"] == "plain answer"
    doc = command(w, "export")["result"]["document"]
    assert doc["judgments"][0]["verdict"] == "beta"


def test_judge_wait_false_returns_a_run(sent):
    w = ChatZooWidget(bots()[:2])
    w.send("q", wait=True)
    slowish = ScriptedBOT("j", reply="fine [[A]]", first_delay=0.2)
    run = w.judge(slowish, wait=False)
    assert run.running and w.judge_state["run"]["running"] is True and w.judge_state["run"]["total"] == 1
    with pytest.raises(RuntimeError, match="still at work"):
        w.judge(slowish)
    assert len(run.wait(5)) == 1 and not run.running
    time.sleep(0.05)
    assert w.judge_state["run"]["running"] is False


def test_a_bot_judge_is_any_chatbot(sent):
    class Classic(ChatBOT):
        """Only the classic hooks: one chunk."""

        seen: list[str] = []

        def get_prompt(self, query):
            self.seen.append(query[-1]["content"])
            return query[-1]["content"]

        def generate(self, input_dict, gen_kwargs):
            return "The second is better. [[B]]"

    w = ChatZooWidget(bots()[:2])
    w.send("q", wait=True)
    (rec,) = w.judge(Classic("classic"))
    assert rec["orders"] == ["B", "B"] and rec["verdict"] == "tie" and rec["judge"] == "classic"
    # no system prompt setting: the instructions lead the judge's text
    assert Classic.seen[0].startswith("[System]\nPlease act as an impartial judge")
