"""A local model in a process of its own (load option process=True)."""

from __future__ import annotations

import gc

import pytest

from chatzoo_widget.manager import ChatManager
from chatzoo_widget.registry import bot_key, load_bot
from chatzoo_widget.testing import wait_until

HUMAN = [{"role": "HUMAN", "content": "hello there"}]


def test_process_bot_answers_like_the_model_in_process(tiny_chat_dir, tiny_bot):
    bot = load_bot(tiny_chat_dir, type="chat", process=True, name="tiny-proc")
    try:
        assert bot.process.poll() is None and bot.describe()["pid"] == bot.process.pid
        settings = {"max_new_tokens": 12, "do_sample": False}
        assert bot.chat(HUMAN, **settings) == tiny_bot.chat(HUMAN, **settings)
        assert bot.last_stats.new_tokens > 0
        assert {s.name for s in bot.settings_spec()} >= {"max_new_tokens", "top_k", "system_prompt"}
    finally:
        bot.close()
    assert bot.process.wait(10) is not None


def test_each_process_column_gets_its_own_process_and_removal_frees_it(tiny_chat_dir):
    assert bot_key(tiny_chat_dir, process=True) != bot_key(tiny_chat_dir, process=True)
    m = ChatManager()
    a = m.add({"name": "a", "model": str(tiny_chat_dir), "type": "chat", "load_options": {"process": True}})
    b = m.add({"name": "b", "model": str(tiny_chat_dir), "type": "chat", "load_options": {"process": True}})
    assert wait_until(lambda: a.status == b.status == "ready", 120), (a.error, b.error)
    procs = [a.bot.process, b.bot.process]
    assert procs[0].pid != procs[1].pid
    m.set_settings("a", max_new_tokens=5)
    m.send("hi")
    assert m.wait(60)
    assert a.history[-1]["stats"]["finish_reason"] in ("stop", "length") and a.history[-1]["stats"]["new_tokens"] <= 5
    m.remove("a")
    m.remove("b")
    del a, b
    gc.collect()
    assert wait_until(lambda: all(p.poll() is not None for p in procs), 15), "processes end with their columns"


def test_a_model_process_that_fails_says_why():
    with pytest.raises(RuntimeError, match="exited while loading.*no such model folder"):
        load_bot("./no/such/folder", process=True)
    with pytest.raises(ValueError, match="cannot be passed to a model process"):
        load_bot("smollm2-135m", process=True, device_map="auto")
    with pytest.raises(ValueError, match="a URL is served elsewhere"):
        load_bot("http://127.0.0.1:9/v1", process=True)
