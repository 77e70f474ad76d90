"""The model pool: one load per key, shared by every holder, freed when the last holder lets go."""

from __future__ import annotations

import threading
import time
import weakref

import pytest

from chatzoo_widget.engine.pool import ModelPool
from chatzoo_widget.manager import ChatManager
from chatzoo_widget.testing.scripted import ScriptedBOT


class ClosingBOT(ScriptedBOT):
    def __init__(self, name: str):
        super().__init__(name)
        self.closed = threading.Event()

    def close(self) -> None:
        self.closed.set()


def slow_load(gate: threading.Event, made: list):
    def load():
        gate.wait(10)
        bot = ClosingBOT(f"bot{len(made)}")
        made.append(bot)
        return bot

    return load


def test_holders_of_one_key_share_one_load():
    pool, gate, made = ModelPool(), threading.Event(), []
    a = pool.acquire("k", slow_load(gate, made))
    b = pool.acquire("k", slow_load(gate, made))
    gate.set()
    assert a.bot(5) is b.bot(5)
    assert len(made) == 1 and pool.holders("k") == 2


def test_a_load_in_progress_survives_one_holders_release():
    pool, gate, made = ModelPool(), threading.Event(), []
    a = pool.acquire("k", slow_load(gate, made))
    b = pool.acquire("k", slow_load(gate, made))
    a.release()
    a.release()  # idempotent: the other holder is not counted twice
    gate.set()
    bot = b.bot(5)
    assert not b.future.cancelled() and not bot.closed.is_set()
    b.release()
    assert bot.closed.wait(5)
    assert pool.holders("k") == 0


def test_a_load_nobody_holds_is_closed_when_it_finishes():
    pool, gate, made = ModelPool(), threading.Event(), []
    pool.acquire("k", slow_load(gate, made)).release()
    gate.set()
    deadline = time.monotonic() + 5
    while not made and time.monotonic() < deadline:
        time.sleep(0.01)
    assert made and made[0].closed.wait(5)


def test_a_failed_load_is_tried_again():
    pool, calls = ModelPool(), []

    def load():
        calls.append(1)
        if len(calls) == 1:
            raise OSError("disk not ready")
        return ScriptedBOT("ok")

    with pytest.raises(OSError, match="disk not ready"):
        pool.acquire("k", load).bot(5)
    assert pool.acquire("k", load).bot(5).name == "ok"


def test_one_widgets_close_does_not_cancel_a_load_another_shares():
    pool, gate, made = ModelPool(), threading.Event(), []
    loader = lambda model, **opts: slow_load(gate, made)()  # noqa: E731
    first, second = ChatManager(loader=loader, pool=pool), ChatManager(loader=loader, pool=pool)
    first.add("same-model")
    column = second.add("same-model")
    first.close()
    gate.set()
    assert column.load.result(5) is made[0]
    second.send("hi")
    assert second.wait(5)
    assert column.history[-1]["stats"]["finish_reason"] == "stop"
    assert not made[0].closed.is_set()
    second.close()
    assert made[0].closed.wait(5)


def test_the_weights_are_freed_on_the_last_release_without_the_garbage_collector(tiny_chat_dir):
    import gc

    from chatzoo_widget.registry import load_bot

    pool = ModelPool()
    a = pool.acquire("tiny", lambda: load_bot(tiny_chat_dir, type="chat"))
    b = pool.acquire("tiny", lambda: load_bot(tiny_chat_dir, type="chat"))
    bot = a.bot(60)
    assert bot.chat([{"role": "HUMAN", "content": "Hello"}], do_sample=False, max_new_tokens=4) is not None
    model = weakref.ref(bot.model)
    a.release()
    assert model() is not None  # still held by b
    gc.disable()
    try:
        b.release()
        assert model() is None
    finally:
        gc.enable()


def test_removing_a_column_releases_its_model(tiny_chat_dir):
    pool = ModelPool()
    manager = ChatManager(pool=pool)
    one = manager.add({"model": str(tiny_chat_dir), "type": "chat", "name": "one"})
    two = manager.add({"model": str(tiny_chat_dir), "type": "chat", "name": "two"})
    bot = one.load.result(60)
    assert two.load.result(60) is bot  # one copy of the weights
    model = weakref.ref(bot.model)
    manager.remove(one.id)
    assert model() is not None
    manager.remove(two.id)
    assert model() is None and pool.keys() == []


def test_a_released_bot_says_so_when_asked_to_answer(tiny_chat_dir):
    from chatzoo_widget.registry import load_bot

    pool = ModelPool()
    lease = pool.acquire("tiny", lambda: load_bot(tiny_chat_dir, type="chat"))
    bot = lease.bot(60)
    lease.release()
    with pytest.raises(RuntimeError, match="was released"):
        bot.chat([{"role": "HUMAN", "content": "Hello"}], max_new_tokens=4)
