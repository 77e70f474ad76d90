"""Judging through the widget, headless: arena, votes, leaderboard, batch runs, export and reload."""

from __future__ import annotations

import json
import time

import pytest

from chatzoo_widget import ChatZooWidget
from chatzoo_widget.testing import ScriptedBOT, command, wait_until


def bots():
    return [ScriptedBOT("alpha", reply="answer from alpha"), ScriptedBOT("beta", reply="answer from beta"),
            ScriptedBOT("gamma", reply="answer from gamma")]


def test_arena_hides_names_until_the_vote(sent):
    w = ChatZooWidget(bots(), arena=True, seed=3)
    shown = json.dumps([c.get_state() for c in w.columns])  # each column's model, as synced
    assert sorted(c["name"] for c in w.columns) == ["Model A", "Model B", "Model C"]
    assert all(c["blind"] and c["spec"] == [] and c["settings"] == {} for c in w.columns)
    assert "alpha" not in shown.replace("answer from alpha", "")
    w.send("which is best?", wait=True)
    assert w.vote_state["can_vote"] is True
    assert set(w.vote_state["choices"]) == {"Model A", "Model B", "Model C", "tie", "bad"}
    label_of_beta = next(c["label"] for c in w.columns if "answer from beta" in json.dumps(c["history"]))
    assert command(w, "vote", choice=label_of_beta)["ok"]
    assert sorted(c["name"] for c in w.columns) == ["alpha", "beta", "gamma"]
    assert w.votes[-1]["choice"] == "beta" and w.votes[-1]["blind"] is True
    assert w.leaderboard_table["rows"][0]["contestant"] == "beta"


def test_arena_reshuffles_each_conversation(sent):
    w = ChatZooWidget(bots(), arena=True, seed=1)
    orders = set()
    for _ in range(6):
        w.send("q", wait=True)
        orders.add(tuple(c["id"] for c in w.columns))
        w.vote("tie")
        w.clear()
        assert wait_until(lambda: all(c["blind"] for c in w.columns))
    assert len(orders) > 1


def test_votes_need_a_finished_turn_and_a_known_choice(sent):
    w = ChatZooWidget(bots())
    assert "nothing to vote on yet" in command(w, "vote", choice="alpha")["error"]
    w.send("q", wait=True)
    with pytest.raises(ValueError, match="unknown choice 'delta'"):
        w.vote("delta")
    w.vote("alpha")
    w.vote("gamma")  # changed before the next turn: replaces
    assert [v["choice"] for v in w.votes] == ["gamma"]
    w.send("q2", wait=True)
    w.vote("tie")
    w.clear()
    assert [v["choice"] for v in w.votes] == ["gamma", "tie"], "votes survive clear()"
    board = w.leaderboard(rounds=50)
    assert board.iloc[0]["contestant"] == "gamma" and board.iloc[0]["wins"] == 2
    pairs = w.preference_pairs()
    assert {p["rejected"][0]["content"] for p in pairs} == {"answer from alpha", "answer from beta"}
    assert all(p["chosen"][0]["content"] == "answer from gamma" for p in pairs)


def test_thumbs_from_the_front_end(sent):
    w = ChatZooWidget(bots())
    w.send("q", wait=True)
    cid = w.columns[0]["id"]
    assert command(w, "thumb", column=cid, value=1)["ok"]
    assert w.vote_state["thumbs"] == {cid: {"0": 1}}
    assert w.to_dataframe().set_index("column").loc["alpha", "thumb"] == 1


def test_batch_run_reports_progress_and_keeps_the_conversation(sent):
    w = ChatZooWidget(bots()[:2])
    w.send("my own chat", wait=True)
    progress = []
    w.observe(lambda change: progress.append(change["new"]), names="batch_progress")
    df = w.run_batch(["one", "two", ["three", "four"]])
    assert len(df) == 8 and set(df["column"]) == {"alpha", "beta"}
    assert list(df[df.column == "alpha"]["reply"]) == ["answer from alpha"] * 4
    assert progress[-1]["done"] == progress[-1]["total"] == 4 and progress[-1]["running"] is False
    assert w.history["alpha"][0]["content"] == "my own chat" and len(w.history["alpha"]) == 2


def test_batch_run_stops_from_the_front_end(sent):
    w = ChatZooWidget([ScriptedBOT("slow", reply="w " * 20, delay=0.02)])
    run = w.run_batch([f"p{i}" for i in range(20)], wait=False)
    assert wait_until(lambda: w.batch_progress.get("total") == 20)
    time.sleep(0.1)  # every prompt is in flight at once
    assert command(w, "stop_batch")["ok"]
    df = run.wait(10)
    assert w.batch_progress["stopped"] is True and set(df["status"]) == {"cancelled"}
    assert all(len(r.split()) < 20 for r in df["reply"])


def test_export_reload_round_trip(sent, tmp_path):
    w = ChatZooWidget(bots()[:2], system_prompt="Be kind.")
    w.set_settings("alpha", temperature=0.3)
    w.send("hello", wait=True)
    w.vote("alpha")
    path = w.export(str(tmp_path / "cmp.json"))
    w2 = ChatZooWidget.load(str(path), models=bots()[:2])
    w2.wait(5)
    assert w2.history == w.history
    assert w2.votes[0]["choice"] == "alpha"
    assert w2.columns[0]["settings"]["temperature"] == 0.3
    assert w2.manager.system_prompt == "Be kind."
    with pytest.raises(ValueError, match="supported"):
        w.export(str(tmp_path / "cmp.xlsx"))
    with pytest.raises(FileNotFoundError, match="missing"):
        w.export(str(tmp_path / "missing" / "cmp.json"))
    assert w.history["alpha"][1]["content"] == "answer from alpha", "nothing lost after a failed export"


def test_download_button_gets_the_json_document(sent):
    w = ChatZooWidget(bots()[:1])
    w.send("hi", wait=True)
    doc = command(w, "export")["result"]["document"]
    assert doc["format"] == "chatzoo-widget/comparison" and doc["columns"][0]["history"][1]["content"]


def test_sweep_makes_columns_of_one_checkpoint():
    bot = ScriptedBOT("smol")
    w = ChatZooWidget(ChatZooWidget.sweep(bot, "temperature", [0.2, 0.7, 1.2]))
    assert [c["name"] for c in w.columns] == ["smol temperature=0.2", "smol temperature=0.7", "smol temperature=1.2"]
    assert [c["settings"]["temperature"] for c in w.columns] == [0.2, 0.7, 1.2]
    assert len({id(c.bot) for c in w.manager.columns.values()}) == 1


def test_arena_messages_never_name_the_models(sent):
    w = ChatZooWidget([ScriptedBOT("alpha", reply="x " * 30, delay=0.02), ScriptedBOT("beta")], arena=True, seed=2)
    w.send("q")
    error = command(w, "vote", choice="Model A")["error"]  # as the browser gets it
    assert "still answering" in error
    assert "alpha" not in error and "beta" not in error
    assert "alpha" not in (w.vote_state["reason"] or "")
    error = command(w, "thumb", column="gamma", value=1)["error"]
    assert "Model A" in error and "alpha" not in error
    w.stop()
    w.wait(5)


def test_the_conversation_goes_on_during_a_batch_run(sent):
    w = ChatZooWidget([ScriptedBOT("slow", reply="w " * 20, delay=0.02), ScriptedBOT("fast")])
    run = w.run_batch(["p1", "p2", "p3"], wait=False)
    assert wait_until(lambda: w.batch_progress.get("total") == 3)
    w.send("mine", wait=True)  # the batch runs beside the conversation, which it never touches
    w.thumb("fast", 1)
    w.vote("fast")
    df = run.wait(10)
    assert len(df) == 6 and w.history["fast"] == [{"role": "HUMAN", "content": "mine"},
                                                   {"role": "BOT", "content": "Reply 1 to: mine"}]
    assert len(w.votes) == 1 and len(w._book.thumbs) == 1


def test_a_single_column_has_thumbs_but_no_vote(sent):
    w = ChatZooWidget([ScriptedBOT("solo")])
    w.send("q", wait=True)
    assert w.vote_state["can_vote"] is False and "two or more" in w.vote_state["reason"]
    with pytest.raises(ValueError, match="two or more replies"):
        w.vote("solo")
    assert w.thumb("solo", 1)["value"] == 1
