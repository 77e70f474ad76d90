"""ChatZooWidget headless (no browser): traits, commands from the front end, the Python API."""

from __future__ import annotations

import json

import pytest

from chatzoo_widget import ChatZooWidget
from chatzoo_widget.manager import BusyError
from chatzoo_widget.testing import ScriptedBOT, command, wait_until


def statuses(w):
    return {c["name"]: c["status"] for c in w.columns}


def test_columns_appear_at_once_and_become_ready(sent):
    w = ChatZooWidget([ScriptedBOT("a"), {"name": "b", "model": ScriptedBOT("bee"), "settings": {"temperature": 1.2}}])
    assert [c["name"] for c in w.columns] == ["a", "b"]
    assert wait_until(lambda: statuses(w) == {"a": "ready", "b": "ready"})
    b = w.columns[1]
    assert b["settings"]["temperature"] == 1.2
    names = [s["name"] for s in b["spec"]]
    assert {"max_new_tokens", "temperature", "top_p", "top_k", "repetition_penalty", "num_beams", "do_sample"} <= set(names)


def test_send_from_python_streams_and_lands_in_history(sent):
    w = ChatZooWidget([ScriptedBOT("a", delay=0.005), ScriptedBOT("b", reply="fixed answer")])
    replies = w.send("hello", wait=True)
    assert replies == {"a": "Reply 1 to: hello", "b": "fixed answer"}
    assert w.history == {
        "a": [{"role": "HUMAN", "content": "hello"}, {"role": "BOT", "content": "Reply 1 to: hello"}],
        "b": [{"role": "HUMAN", "content": "hello"}, {"role": "BOT", "content": "fixed answer"}],
    }
    assert w.columns[0]["history"][-1]["stats"]["new_tokens"] == 4
    assert w.stats["b"][0]["finish_reason"] == "stop"
    kinds = {m["kind"] for m in sent}
    assert {"turn_start", "frame", "turn_end", "entries"} <= kinds  # deltas come in frames of every column
    deltas = [d for m in sent if m["kind"] == "frame" for d in m["deltas"]]
    assert "".join(d["text"] for d in deltas if d["column"] == w.columns[0]["id"]) == "Reply 1 to: hello"
    assert all({"column", "turn"} <= set(m) for m in sent if m["kind"] not in ("frame", "entries"))
    assert not any("text" in m for m in sent if m["kind"] == "turn_end")  # the reply's entry carries it
    assert w.busy is False


def test_front_end_send_empty_prompt_is_refused_with_a_reason(sent):
    w = ChatZooWidget([ScriptedBOT("a")])
    answer = command(w, "send", prompt="   ")
    assert not answer["ok"] and "empty" in answer["error"]
    assert w.columns[0]["history"] == []


def test_front_end_send_while_busy_is_refused_with_a_reason(sent):
    w = ChatZooWidget([ScriptedBOT("a", delay=0.05, reply="x " * 30)])
    wait_until(lambda: statuses(w) == {"a": "ready"})
    assert command(w, "send", prompt="one")["ok"]
    assert w.busy
    answer = command(w, "send", prompt="two")
    assert not answer["ok"] and "still answering" in answer["error"]
    assert command(w, "stop", column=None)["ok"]
    w.wait(5)
    assert [e["content"] for e in w.columns[0]["history"] if e["role"] == "HUMAN"] == ["one"]
    assert w.columns[0]["history"][-1]["stats"]["finish_reason"] == "cancelled"
    with pytest.raises(BusyError):
        w.send("x")
        w.send("y")
    w.stop()
    w.wait(5)


def test_settings_from_the_front_end_are_checked(sent):
    w = ChatZooWidget([ScriptedBOT("a", reply="one two three four five")])
    wait_until(lambda: statuses(w) == {"a": "ready"})
    cid = w.columns[0]["id"]
    assert command(w, "set_settings", column=cid, settings={"max_new_tokens": 3})["ok"]
    assert w.columns[0]["settings"]["max_new_tokens"] == 3
    answer = command(w, "set_settings", column=cid, settings={"temperature": 9})
    assert "'temperature' must be float from 0 to 2" in answer["error"]
    assert w.columns[0]["settings"]["temperature"] == 0.7
    assert w.send("go", wait=True) == {"a": "one two three "}


def test_python_set_settings_moves_the_slider_state(sent):
    w = ChatZooWidget([ScriptedBOT("a")])
    w.set_settings("a", top_k=7)
    assert w.columns[0]["settings"]["top_k"] == 7
    with pytest.raises(ValueError, match="'top_k' must be int from 0 to 200"):
        w.set_settings("a", top_k=1000)


def test_add_and_remove_columns_from_the_front_end(sent, monkeypatch):
    monkeypatch.setattr("chatzoo_widget.manager.ChatManager._lease",
                        lambda self, model, opts: self._pool.adopt(ScriptedBOT(model)))
    w = ChatZooWidget([ScriptedBOT("a")])
    assert command(w, "add_model", name="mine", model="some/model")["result"] == {"name": "mine"}
    assert [c["name"] for c in w.columns] == ["a", "mine"]
    assert "must not be empty" in command(w, "add_model", name="", model="")["error"]
    assert command(w, "remove_model", column=w.columns[0]["id"])["ok"]
    assert [c["name"] for c in w.columns] == ["mine"]


def test_clear_regenerate_and_system_prompt(sent):
    bot = ScriptedBOT("a")
    w = ChatZooWidget([bot], system_prompt="Be terse.")
    w.send("q", wait=True)
    assert command(w, "regenerate")["ok"]
    w.wait(5)
    assert len(w.history["a"]) == 2 and bot.system_prompts == ["Be terse.", "Be terse."]
    w.system_prompt = "Be verbose."  # the front end sets the synced trait
    w.send("q2", wait=True)
    assert bot.system_prompts[-1] == "Be verbose."
    assert command(w, "clear")["ok"]
    assert wait_until(lambda: w.history["a"] == [])


def test_widget_state_is_plain_json_and_keeps_the_conversation(sent):
    w = ChatZooWidget([ScriptedBOT("a")])
    w.send("keep me", wait=True)
    state = w.get_state()
    assert state["columns"] == [f"IPY_MODEL_{c.model_id}" for c in w.columns]  # one child model per column
    text = json.dumps([c.get_state() for c in w.columns])
    assert "keep me" in text and "Reply 1 to: keep me" in text
    assert state["_esm"] and "render" in str(state["_esm"])


def test_unknown_command_is_reported(sent):
    w = ChatZooWidget([])
    assert "unknown command 'explode'" in command(w, "explode")["error"]
