"""Lifecycle: judges hold their model only while they judge; a closed widget hears nothing more; no background thread
ever lets an exception out (it would print a red traceback in whatever cell runs next)."""

from __future__ import annotations

import gc
import logging
import threading
import weakref

import pytest

from chatzoo_widget import ChatZooWidget, registry
from chatzoo_widget.compare import JudgeBook, VoteBook
from chatzoo_widget.compare import judge as judge_module
from chatzoo_widget.engine.pool import POOL
from chatzoo_widget.manager import ChatManager
from chatzoo_widget.testing import ScriptedBOT, wait_until


class Escapes:
    """Every exception that leaves a thread (threading.excepthook) and every error `concurrent.futures` logs (an
    exception in a future's callback, which a load's done-callback would be)."""

    def __init__(self):
        self.seen: list[str] = []

    def hook(self, args):
        self.seen.append(f"{args.thread.name if args.thread else '?'}: {args.exc_type.__name__}: {args.exc_value}")

    def handler(self) -> logging.Handler:
        seen = self.seen

        class Collect(logging.Handler):
            def emit(self, record):
                seen.append(f"concurrent.futures: {record.getMessage()} {record.exc_info and record.exc_info[1]!r}")

        return Collect(level=logging.DEBUG)


@pytest.fixture
def escapes(monkeypatch):
    found = Escapes()
    monkeypatch.setattr(threading, "excepthook", found.hook)
    logger = logging.getLogger("concurrent.futures")
    handler = found.handler()
    logger.addHandler(handler)
    yield found
    logger.removeHandler(handler)


def replies(n=2, words=200, delay=0.005):
    return [ScriptedBOT(f"bot{i}", reply="w " * words, delay=delay) for i in range(n)]


def answered_widget(sent):
    w = ChatZooWidget([ScriptedBOT("a", reply="apples are red"), ScriptedBOT("b", reply="pears are green")])
    assert w.send("Name a fruit.", wait=True, timeout=10)
    return w


def test_a_judge_loaded_for_a_run_is_freed_when_the_run_ends(sent, tiny_chat_dir, monkeypatch):
    models = []
    real_load = judge_module._load

    def load(target, options):
        bot = real_load(target, options)
        models.append(weakref.ref(bot.model))  # the weights alone: the test must not keep them alive
        return bot

    monkeypatch.setattr(judge_module, "_load", load)
    w = answered_widget(sent)
    judge = {"model": str(tiny_chat_dir), "type": "chat", "name": "tiny-judge"}
    w.judge(judge, settings={"max_new_tokens": 4})  # a random model gives no verdict: error records, no matter
    assert len(models) == 1 and w.judgments
    gc.collect()
    assert models[0]() is None, "the judge's weights are freed once its run ended"
    assert POOL.holders(registry.bot_key(str(tiny_chat_dir), type="chat")) == 0
    w.judge(judge, settings={"max_new_tokens": 4})  # judging again loads it again, and lets go again
    gc.collect()
    assert len(models) == 2 and models[1]() is None
    w.close()


def test_a_column_judge_keeps_the_column_model_while_it_judges():
    m = ChatManager()
    for bot in (ScriptedBOT("a", reply="x"), ScriptedBOT("b", reply="y")):
        m.add(bot)
    judge_bot = ScriptedBOT("judge", reply="thinking " * 30 + "[[A]]", delay=0.01)
    judge_col = m.add(judge_bot)
    assert wait_until(lambda: all(c.status == "ready" for c in m.columns.values()))
    m.send("q")
    assert m.wait(5)
    m.set_histories({judge_col.id: []})
    book = VoteBook(m)
    run = JudgeBook(m, book).judge("judge")
    lease = judge_col.lease
    m.remove(judge_col.id)  # the column goes; its bot stays for the run, which holds its own lease
    records = run.wait(20)
    assert lease.released and records and all(r["error"] is None for r in records)


def tiny(folder, name, max_new_tokens=400):
    """A real (tiny, random) model column: released, its bot is closed and may not be asked anything."""
    return {"model": str(folder), "type": "chat", "name": name,
            "settings": {"max_new_tokens": max_new_tokens, "do_sample": False}}


def writing(w, names=None):
    """True once the columns (all, or those named) have written some text."""
    columns = [c for c in w.manager.columns.values() if names is None or c.name in names]
    return all(c.turn is not None and c.turn.text for c in columns)


def test_closing_at_any_moment_lets_no_exception_out_of_a_thread(sent, escapes, tiny_chat_dir, monkeypatch):
    # 1. Closed while a model loads: the load finishes afterwards, released before it was ready.
    gate = threading.Event()
    real_load_bot = registry.load_bot
    with monkeypatch.context() as patch:
        patch.setattr(registry, "load_bot", lambda model, **options: gate.wait(10) and real_load_bot(
            str(tiny_chat_dir), type="chat"))
        w = ChatZooWidget(["gated-model"])
        column = next(iter(w.manager.columns.values()))
        w.close()
        gate.set()
        assert wait_until(column.load.done, 30)
        assert wait_until(lambda: POOL.holders(registry.bot_key("gated-model")) == 0)

    # 2. Closed while the columns answer (a real model: its bot is closed by the release).
    w = ChatZooWidget([tiny(tiny_chat_dir, "t1"), tiny(tiny_chat_dir, "t2")])
    w.wait(60)
    w.send("go")
    assert wait_until(lambda: writing(w), 30)
    w.close()
    ended = w.manager.wait(10)
    assert escapes.seen == [] and ended

    # 3. Closed while a judge is at work.
    w = answered_widget(sent)
    run = w.judge(ScriptedBOT("slow-judge", reply="hmm " * 200 + "[[A]]", delay=0.005), wait=False)
    assert wait_until(lambda: run.running)
    w.close()
    run.wait(10)
    assert not run.running

    # 4. Closed during a batch run.
    w = ChatZooWidget([tiny(tiny_chat_dir, "t1")] + replies(1))
    w.wait(60)
    batch = w.run_batch(["p1", "p2"], wait=False)
    assert wait_until(lambda: (w.batch_progress or {}).get("total") == 2)
    w.close()
    batch.wait(30)
    assert not batch.running

    # 5. A column removed mid-reply (the only holder of its model), the widget open.
    w = ChatZooWidget([tiny(tiny_chat_dir, "t1")] + replies(2))
    w.wait(60)
    w.send("go")
    assert wait_until(lambda: writing(w, {"t1"}), 30)
    w.remove_model("t1")
    assert w.manager.wait(30)
    assert set(w.history) == {"bot0", "bot1"}
    w.close()

    assert escapes.seen == []
