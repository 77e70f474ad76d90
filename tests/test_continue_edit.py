"""Continue with the winner and edit-and-resend: one shared conversation, nothing lost from the records."""

from __future__ import annotations

import json

import pytest

from chatzoo_widget import ChatZooWidget
from chatzoo_widget.frames import filter_frame, unpack
from chatzoo_widget.manager import BusyError
from chatzoo_widget.testing import ScriptedBOT, command


def reply_by(name):
    return lambda query: f"{name} says {query[-1]['content']}"


@pytest.fixture
def widget():
    bots = {n: ScriptedBOT(n, reply=reply_by(n)) for n in ("a", "b", "c")}
    w = ChatZooWidget(list(bots.values()))
    w.bots = bots
    yield w
    w.close()


def test_continue_with_changes_every_history_and_the_next_query_each_model_sees(widget):
    w = widget
    w.send("Name a fruit.", wait=True)
    assert w.continue_with("b") == ["a", "b", "c"]
    for name in "abc":
        assert w.history[name][-1] == {"role": "BOT", "content": "b says Name a fruit."}
    w.send("Why?", wait=True)
    for name, bot in w.bots.items():
        assert bot.prompts[-1][1] == {"role": "BOT", "content": "b says Name a fruit."}, name
    # the replaced replies are in the records as alternatives of that turn
    df = w.to_dataframe()
    first = df[df.turn == 0].set_index("column")
    assert first.loc["a", "reply"] == "a says Name a fruit." and first.loc["a", "source"] == "alternative"
    assert first.loc["b", "source"] == "current" and set(first.continued_with) == {"b"}
    entry = w.entries["c"][1]
    assert entry["continued_with"] == "b" and entry["alternatives"][0]["content"] == "c says Name a fruit."


def test_vote_with_continue_with_and_changing_the_winner(widget, tmp_path):
    w = widget
    w.send("Pick one.", wait=True)
    record = w.vote("c", continue_with=True)
    assert record["winner"] == "c" and [c["reply"] for c in record["columns"]] == [
        "a says Pick one.", "b says Pick one.", "c says Pick one."]
    assert {h[-1]["content"] for h in w.history.values()} == {"c says Pick one."}
    w.continue_with("a")  # a change of mind: each column's own reply is still there
    assert {h[-1]["content"] for h in w.history.values()} == {"a says Pick one."}
    assert w.entries["c"][-1]["alternatives"][0]["content"] == "c says Pick one."
    assert w.vote("b")["columns"][1]["reply"] == "b says Pick one."  # votes keep judging the originals
    doc = json.loads(w.export(str(tmp_path / "c.json")).read_text())
    assert doc["columns"][2]["history"][-1]["alternatives"][0]["content"] == "c says Pick one."


def test_continue_with_bad_input_changes_nothing(widget):
    w = widget
    with pytest.raises(ValueError, match="a has no finished reply"):
        w.continue_with("a")
    with pytest.raises(KeyError, match="no column named 'zzz'"):
        w.continue_with("zzz")
    w.send("Hi", wait=True)
    with pytest.raises(ValueError, match="needs a winning reply"):
        w.vote("tie", continue_with=True)
    assert w.votes == []
    before = w.history
    slow = ScriptedBOT("slow", reply="one two three four five six", delay=0.2)
    w.add_model(slow)
    w.wait(30)
    w.send("again")
    with pytest.raises(BusyError, match="still answering"):
        w.continue_with("a")
    w.stop()
    w.wait(10)
    assert [h[:2] for n, h in w.history.items() if n != "slow"] == [h[:2] for h in before.values()]


def test_a_failed_reply_cannot_be_continued_with():
    w = ChatZooWidget([ScriptedBOT("ok"), ScriptedBOT("bad", fail_after=1)])
    try:
        w.send("go", wait=True)
        with pytest.raises(ValueError, match="bad's last reply failed"):
            w.continue_with("bad")
        w.continue_with("ok")
        assert w.history["bad"][-1]["content"] == "Reply 1 to: go"  # the failed exchange is mended
    finally:
        w.close()


def test_edit_last_resends_in_place_of_the_old_turn_which_stays_in_the_records(widget, tmp_path):
    w = widget
    w.send("First.", wait=True)
    w.send("Secnd?", wait=True)
    replies = w.edit_last("Second?", wait=True)
    assert replies == {n: f"{n} says Second?" for n in "abc"}
    for name, bot in w.bots.items():
        assert [m["content"] for m in bot.prompts[-1]] == ["First.", f"{name} says First.", "Second?"]
        assert [e["content"] for e in w.history[name]] == ["First.", f"{name} says First.", "Second?",
                                                            f"{name} says Second?"]
    edited = w.entries["a"][2]["edited"]
    assert edited[0]["prompt"] == "Secnd?" and edited[0]["reply"]["content"] == "a says Secnd?"
    turns = [e["turn"] for e in w.entries["a"]]
    assert turns == [0, 0, 2, 2]  # a new turn number: votes on the old turn stay apart
    df = w.to_dataframe()
    old = df[df.source == "edited"]
    assert set(old.column) == {"a", "b", "c"} and set(old.prompt) == {"Secnd?"} and set(old.turn) == {1}
    doc = json.loads(w.export(str(tmp_path / "e.json")).read_text())
    assert doc["columns"][0]["history"][2]["edited"][0]["prompt"] == "Secnd?"


def test_edit_last_bad_input(widget):
    w = widget
    with pytest.raises(ValueError, match="nothing to edit"):
        w.edit_last("x")
    w.send("hello", wait=True)
    with pytest.raises(ValueError, match="empty"):
        w.edit_last("   ")
    slow = ScriptedBOT("slow", reply="one two three four five six", delay=0.2)
    w.add_model(slow)
    w.wait(30)
    w.send("again")
    with pytest.raises(BusyError, match="cannot edit the last prompt while"):
        w.edit_last("changed")
    w.stop()
    w.wait(10)
    assert w.history["a"][-2]["content"] == "again"


def test_the_front_end_commands(widget):
    w = widget
    w.send("Q", wait=True)
    ids = {c["name"]: c["id"] for c in w.columns}
    assert command(w, "continue_with", column=ids["b"])["ok"]
    assert w.history["a"][-1]["content"] == "b says Q"
    assert command(w, "edit_last", prompt="Q2")["ok"]
    w.wait(10)
    assert w.history["c"][-1]["content"] == "c says Q2"
    assert "empty" in command(w, "edit_last", prompt="")["error"]


def test_arena_labels_work_and_thinking_deltas_are_scrubbed_while_blind():
    bots = [ScriptedBOT("alpha", reply="<think> I am alpha, thinking </think> alpha answers"),
            ScriptedBOT("beta", reply="beta answers")]
    w = ChatZooWidget(bots, arena=True, seed=3)
    sent = []
    w.send_message = sent.append  # then filtered as at the comm: the deltas of each frame pass the blind filter
    try:
        w.send("Hi", wait=True)
        shown = [filter_frame(m, w._blind.message) if m["kind"] == "frame" else w._blind.message(m) for m in sent]
        thought = "".join(m["text"] for m in unpack([m for m in shown if m])
                          if m.get("kind") == "delta" and m.get("part") == "reasoning")
        assert thought and "alpha" not in thought.lower()  # the name inside the thinking is scrubbed
        label = w._arena.label(w.manager.get("beta").id, w._book.conversation_id)
        record = w.vote(label, continue_with=True)
        assert record["winner"] == "beta"
        assert w.history["alpha"][-1]["content"] == "beta answers"
        other = w._arena.label(w.manager.get("alpha").id, w._book.conversation_id)
        assert w.continue_with(other) == ["alpha", "beta"]  # by label too; back to alpha's own reply
        assert w.history["beta"][-1] == {"role": "BOT", "content": "alpha answers", "reasoning": "I am alpha, thinking"}
    finally:
        w.close()
