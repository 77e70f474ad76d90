"""The wire to the browser, counted at ipywidgets' comm boundary: one child model per column, each history change
sent once as an `entries` message, bytes per turn that do not grow with the conversation, the state a saved
notebook keeps about as big as the replies it holds, deltas of every column in one frame, bulky details on demand."""

from __future__ import annotations

import json

import pytest

from chatzoo_widget import ChatZooWidget
from chatzoo_widget.testing import ScriptedBOT, command
from chatzoo_widget.testing.wire import CommRecorder, widget_state_size

WORDS = 150


def long_reply(query):
    turn = sum(m["role"] == "HUMAN" for m in query)
    return " ".join(f"w{turn}x{i}" for i in range(WORDS))


@pytest.fixture
def wire():
    with CommRecorder() as recorder:
        yield recorder


def four_columns(**kwargs) -> ChatZooWidget:
    w = ChatZooWidget([ScriptedBOT(f"bot{i}", reply=long_reply) for i in range(4)],
                      settings={"max_new_tokens": WORDS + 10}, **kwargs)
    assert w.wait(10)
    return w


def reply_text(w) -> int:
    """Bytes of the replies' and prompts' text the widget holds."""
    return sum(len(e["content"].encode()) for entries in w.history.values() for e in entries)


@pytest.mark.timeout(120)
def test_bytes_per_turn_do_not_grow_with_the_conversation_and_the_state_stays_near_the_text(wire):
    w = four_columns()
    per_turn = []
    for turn in range(60):
        mark = wire.mark()
        w.send(f"prompt number {turn}", wait=True)
        w.wait(10)
        per_turn.append(wire.bytes_since(mark))
    # Before: the whole `columns` trait (every history, every rendered prompt) went out on every change,
    # 35 MB during turn 60 against 0.07 MB during turn 1 (~500x).
    assert per_turn[-1] <= 2 * per_turn[0], per_turn[::10]
    assert all(not s.buffers for s in wire.since())  # no binary buffers anywhere (Colab drops them)
    # Before: 9.1 MB of state at turn 60, ~34x the text it held.
    assert widget_state_size(w) <= 2.5 * reply_text(w), (widget_state_size(w), reply_text(w))
    w.close()


def test_a_reply_crosses_once_as_deltas_and_once_as_its_entry(wire):
    w = four_columns()
    w.send("warm up", wait=True)
    w.wait(10)
    mark = wire.mark()
    w.send("the real one", wait=True)
    w.wait(10)
    reply = w.history["bot0"][-1]["content"]
    sent = json.dumps([s.data for s in wire.since(mark)])
    assert reply.count("w2x5 ") == 1  # a distinct word of the reply
    assert sent.count("w2x149") == 4 * 2  # the last word of each of 4 replies: in a delta, and in the entry
    assert "w1x" not in sent  # nothing of the turn before crosses again
    # Each column's history went as entries messages: the prompt, then the reply, each once.
    entries = wire.custom(mark, "entries")
    mine = [m for m in entries if m["column"] == w.columns[0]["id"]]
    assert mine[0]["keep"] == 2 and [e["role"] for m in mine for e in m["entries"]] == ["HUMAN", "BOT"]
    # No state update carries a history.
    assert not any("history" in state for _, state in wire.updates(mark))
    w.close()


def test_a_change_to_one_column_sends_that_columns_change_alone(wire):
    w = four_columns()
    w.send("hello", wait=True)
    w.wait(10)
    first = w.columns[0]
    mark = wire.mark()
    w.set_settings("bot0", temperature=0.3)
    w.wait(10)
    updates = wire.updates(mark)
    assert updates and {comm_id for comm_id, _ in updates} == {first.comm.comm_id}
    assert all(set(state) <= {"info", "settings", "spec"} for _, state in updates)
    assert first["settings"]["temperature"] == 0.3
    w.close()


def test_history_messages_replace_the_tail_and_a_late_page_gets_it_all_from_the_state(wire):
    w = four_columns()
    column = w.columns[1]
    w.send("one", wait=True)
    w.wait(10)
    mark = wire.mark()
    w.regenerate(wait=True)
    w.wait(10)
    sent = [m for m in wire.custom(mark, "entries") if m["column"] == column["id"]]
    # the old reply goes (keep the prompt), then the new one comes: never the whole history again
    assert [(m["keep"], [e["role"] for e in m["entries"]]) for m in sent] == [(1, []), (1, ["BOT"])]
    regen = sent[-1]
    # A page that connects now gets the whole history, and the version it is at, from the model's state.
    state = column.get_state()
    assert state["history"]["version"] == regen["version"]
    assert [e["content"] for e in state["history"]["entries"]] == [e["content"] for e in w.history["bot1"]]
    # A page that missed a message asks for the history whole.
    answer = command(w, "column_history", column=column["id"])
    assert answer["ok"] and answer["result"] == state["history"]
    mark = wire.mark()
    assert command(w, "clear")["ok"]
    assert w.wait(10)
    assert any(m["column"] == column["id"] and m["keep"] == 0 and m["entries"] == []
               for m in wire.custom(mark, "entries"))
    w.close()


def test_rendered_prompts_and_thinking_are_fetched_on_demand():
    bot = ScriptedBOT("thinker", reply="<think> weigh it up </think> the answer")
    w = ChatZooWidget([bot])
    w.send("why?", wait=True)
    w.wait(10)
    synced = w.columns[0]["history"][-1]
    assert synced["has_prompt"] and synced["has_reasoning"]
    assert "rendered_prompt" not in synced and "reasoning" not in synced
    answer = command(w, "entry_detail", column=w.columns[0]["id"], turn=0)
    assert answer["ok"], answer
    assert answer["result"]["reasoning"] == "weigh it up"
    assert answer["result"]["rendered_prompt"] == w.entries["thinker"][-1]["rendered_prompt"]
    assert "no reply to turn 5" in command(w, "entry_detail", column=w.columns[0]["id"], turn=5)["error"]
    assert "no column" in command(w, "entry_detail", column="c-nope", turn=0)["error"]
    w.close()


@pytest.mark.timeout(60)
def test_eight_streaming_columns_share_frames(wire):
    w = ChatZooWidget([ScriptedBOT(f"s{i}", reply=long_reply, delay=0.01) for i in range(8)],
                      settings={"max_new_tokens": WORDS + 10})
    assert w.wait(10)
    mark = wire.mark()
    w.send("stream", wait=True)
    w.wait(10)
    frames = wire.custom(mark, "frame")
    deltas = [d for f in frames for d in f["deltas"]]
    assert {d["column"] for d in deltas} == {c["id"] for c in w.columns}
    # Several columns a frame: one message, not one per column (each column flushed on its own before).
    assert any(len({d["column"] for d in f["deltas"]}) == 8 for f in frames)
    assert len(frames) < len(deltas) / 2
    for c in w.columns:
        assert "".join(d["text"] for d in deltas if d["column"] == c["id"]) == c["history"][-1]["content"]
    w.close()


def test_a_closed_widget_closes_its_column_models(wire):
    w = four_columns()
    models = list(w.columns)
    w.remove_model("bot3")
    assert models[3].comm is None and len(w.columns) == 3
    w.close()
    assert all(m.comm is None for m in models)


def test_the_vote_resends_each_history_once_unscrubbed(wire):
    w = ChatZooWidget([ScriptedBOT("alpha", reply="alpha says hi"), ScriptedBOT("beta", reply="beta says hi")],
                      arena=True, seed=2)
    assert w.wait(10)
    w.send("hello", wait=True)
    w.wait(10)
    blind = json.dumps(wire.custom(0, "entries"))
    assert "alpha says" not in blind and "beta says" not in blind  # scrubbed to the labels while blind
    mark = wire.mark()
    command(w, "vote", choice="tie")
    resent = [m for m in wire.custom(mark, "entries")]
    assert sorted(m["column"] for m in resent) == sorted(c["id"] for c in w.columns)
    assert all(m["keep"] == 0 and len(m["entries"]) == 2 for m in resent)
    assert {m["entries"][1]["content"] for m in resent} == {"alpha says hi", "beta says hi"}
    w.close()
