"""The kernel-side manager, headless: broadcast, streaming events, stop, remove, errors, settings, history."""

from __future__ import annotations

import threading
import time

import pytest

from chatzoo_widget.manager import BusyError, ChatManager
from chatzoo_widget.testing import ScriptedBOT, wait_until


class Recorder:
    """The manager's events in order; a frame's deltas are unpacked (each stamped with its frame's time)."""

    def __init__(self):
        self.events: list[dict] = []
        self.frames: list[dict] = []
        self.lock = threading.Lock()

    def __call__(self, msg):
        with self.lock:
            at = time.monotonic()
            if msg["kind"] == "frame":
                self.frames.append(dict(msg, at=at))
                self.events.extend(dict(d, at=at) for d in msg["deltas"])
            else:
                self.events.append(dict(msg, at=at))

    def of(self, column_id, kind=None):
        return [e for e in self.events if e["column"] == column_id and (kind is None or e["kind"] == kind)]


@pytest.fixture
def rec():
    return Recorder()


def make(rec, *bots, **kwargs):
    m = ChatManager(on_event=rec, **kwargs)
    cols = [m.add(b) for b in bots]
    assert wait_until(lambda: all(c.status == "ready" for c in cols))
    return m, cols


def test_broadcast_streams_every_column_in_order(rec):
    m, (a, b) = make(rec, ScriptedBOT("a", delay=0.005), ScriptedBOT("b", reply="one two three four", delay=0.01))
    m.send("hello zoo")
    assert m.wait(10)
    assert m.replies() == {"a": "Reply 1 to: hello zoo", "b": "one two three four"}
    for col in (a, b):
        kinds = [e["kind"] for e in rec.of(col.id)]
        assert kinds[0] == "turn_start" and kinds[-1] == "turn_end" and "delta" in kinds
        streamed = "".join(e["text"] for e in rec.of(col.id, "delta"))
        assert streamed == rec.of(col.id, "turn_end")[0]["text"] == col.history[-1]["content"]
    stats = b.history[-1]["stats"]
    assert stats["new_tokens"] == 4 and stats["finish_reason"] == "stop" and stats["time_to_first_token"] >= 0


def test_columns_answer_concurrently(rec):
    m, _ = make(rec, ScriptedBOT("a", reply="w " * 10, delay=0.05), ScriptedBOT("b", reply="w " * 10, delay=0.05))
    start = time.monotonic()
    m.send("go")
    m.wait(10)
    # One after the other would take about 0.9 s; together about 0.45 s.
    assert time.monotonic() - start < 0.8


def test_deltas_are_batched_to_at_most_30_messages_a_second(rec):
    m, (a,) = make(rec, ScriptedBOT("fast", reply=" ".join(["tok"] * 2000), delay=0.0005))
    m.set_settings(a.id, max_new_tokens=4096)
    m.send("flood")
    m.wait(30)
    deltas = rec.of(a.id, "delta")
    span = rec.of(a.id, "turn_end")[0]["at"] - rec.of(a.id, "turn_start")[0]["at"]
    assert span > 0.5, "the script should take a while"
    assert len(rec.frames) / span <= 30
    assert "".join(d["text"] for d in deltas) == a.history[-1]["content"]


def test_one_frame_carries_every_streaming_column(rec):
    bots = [ScriptedBOT(f"b{i}", reply=" ".join(["tok"] * 300), delay=0.002) for i in range(4)]
    m, cols = make(rec, *bots)
    for col in cols:
        m.set_settings(col.id, max_new_tokens=1024)
    m.send("flood")
    m.wait(30)
    # Four columns streaming at once: mostly frames with several columns' text, never more frames than ticks.
    assert sum(len({d["column"] for d in f["deltas"]}) > 1 for f in rec.frames) > len(rec.frames) / 2
    assert len(rec.frames) < sum(len(rec.of(c.id, "delta")) for c in cols)
    for col in cols:
        assert "".join(d["text"] for d in rec.of(col.id, "delta")) == col.history[-1]["content"]


def test_multi_turn_history_reaches_the_model(rec):
    m, (a,) = make(rec, ScriptedBOT("a"))
    m.send("first")
    m.wait(5)
    m.send("second")
    m.wait(5)
    assert [e["role"] for e in a.history] == ["HUMAN", "BOT", "HUMAN", "BOT"]
    assert a.history[-1]["content"] == "Reply 2 to: second"
    assert [e["turn"] for e in a.history] == [0, 0, 1, 1]


def test_error_mid_stream_stays_in_its_column(rec):
    m, (good, bad) = make(rec, ScriptedBOT("good", delay=0.01), ScriptedBOT("bad", delay=0.01, fail_after=2))
    m.send("hi")
    m.wait(5)
    assert good.history[-1]["content"] == "Reply 1 to: hi"
    assert bad.history[-1]["stats"]["finish_reason"] == "error"
    assert "scripted failure" in bad.history[-1]["stats"]["error"]
    assert bad.history[-1]["content"] == "Reply 1 "  # the partial text is kept
    assert rec.of(bad.id, "turn_error") and not rec.of(good.id, "turn_error")
    # The failed exchange is left out of what the model sees next, so the column can go on.
    m.send("again")
    m.wait(5)
    assert good.history[-1]["content"] == "Reply 2 to: again"
    assert bad.status == "ready"


def test_a_model_that_fails_to_load_shows_its_error_and_others_answer(rec):
    def loader(name, **options):
        if name == "broken":
            raise OSError("no model at 'broken'")
        return ScriptedBOT(name)

    m = ChatManager(on_event=rec, loader=loader)
    ok, broken = m.add("fine"), m.add("broken")
    assert wait_until(lambda: ok.status == "ready" and broken.status == "error")
    assert "no model at 'broken'" in broken.error
    m.send("hello")
    m.wait(5)
    assert ok.history[-1]["content"] == "Reply 1 to: hello"
    assert broken.history == []
    snap = {c["name"]: c for c in m.snapshot()}
    assert snap["broken"]["status"] == "error" and snap["fine"]["status"] == "ready"


def test_columns_of_one_checkpoint_share_one_bot(rec):
    calls = []

    def loader(name, **options):
        calls.append(name)
        time.sleep(0.05)
        return ScriptedBOT(name)

    m = ChatManager(on_event=rec, loader=loader)
    a = m.add({"name": "cold", "model": "same", "settings": {"temperature": 0.1}})
    b = m.add({"name": "hot", "model": "same", "settings": {"temperature": 1.5}})
    assert wait_until(lambda: a.status == b.status == "ready")
    assert calls == ["same"] and a.bot is b.bot
    assert m.effective_settings(a)["temperature"] == 0.1 and m.effective_settings(b)["temperature"] == 1.5


def test_send_while_loading_waits_for_the_model(rec):
    gate = threading.Event()

    def loader(name, **options):
        gate.wait(5)
        return ScriptedBOT(name)

    m = ChatManager(on_event=rec, loader=loader)
    col = m.add("slowload")
    assert col.status == "loading"
    m.send("early")
    gate.set()
    assert m.wait(5)
    assert col.history[-1]["content"] == "Reply 1 to: early"


def test_stop_one_column_leaves_the_other_running(rec):
    long = " ".join(f"w{i}" for i in range(100))
    m, (a, b) = make(rec, ScriptedBOT("a", reply=long, delay=0.02), ScriptedBOT("b", reply=long, delay=0.02))
    m.send("go")
    assert wait_until(lambda: len(a.turn.text.split()) >= 3 if a.turn else False)
    m.stop(a.id)
    assert wait_until(lambda: a.turn is None, 2)
    assert b.turn is not None, "b keeps going"
    m.stop()
    m.wait(5)
    assert a.history[-1]["stats"]["finish_reason"] == "cancelled"
    assert 3 <= len(a.history[-1]["content"].split()) < 100
    assert b.history[-1]["stats"]["finish_reason"] == "cancelled"


def test_remove_mid_stream_keeps_the_others(rec):
    m, (a, b) = make(rec, ScriptedBOT("a", delay=0.05, reply="x " * 40), ScriptedBOT("b", delay=0.01))
    m.send("go")
    assert wait_until(lambda: bool(a.turn and a.turn.text))
    m.remove("a")
    assert m.wait(5)
    assert [c["name"] for c in m.snapshot()] == ["b"]
    assert b.history[-1]["content"] == "Reply 1 to: go"
    assert not rec.of(a.id, "turn_end")
    with pytest.raises(KeyError, match="no column named 'a'"):
        m.get("a")


def test_busy_and_empty_prompts_are_refused(rec):
    m, (a,) = make(rec, ScriptedBOT("a", delay=0.05, reply="x " * 20))
    with pytest.raises(ValueError, match="prompt is empty"):
        m.send("   ")
    m.send("first")
    with pytest.raises(BusyError, match="still answering"):
        m.send("second")
    m.stop()
    m.wait(5)
    assert [e["content"] for e in a.history if e["role"] == "HUMAN"] == ["first"]


def test_regenerate_replaces_the_last_reply(rec):
    counter = iter(range(100))
    m, (a,) = make(rec, ScriptedBOT("a", reply=lambda q: f"take {next(counter)}"))
    with pytest.raises(ValueError, match="nothing to regenerate"):
        m.regenerate()
    m.send("q")
    m.wait(5)
    m.regenerate()
    m.wait(5)
    assert [e["content"] for e in a.history] == ["q", "take 1"]


def test_clear_forgets_history_but_keeps_settings(rec):
    m, (a,) = make(rec, ScriptedBOT("a"))
    m.set_settings("a", temperature=0.3)
    m.send("q")
    m.wait(5)
    m.clear()
    assert a.history == [] and m.effective_settings(a)["temperature"] == 0.3


def test_settings_are_validated_and_take_effect(rec):
    m, (a,) = make(rec, ScriptedBOT("a", reply="one two three four five six"))
    with pytest.raises(ValueError, match=r"'max_new_tokens' must be int from 1 to 4096"):
        m.set_settings("a", max_new_tokens=0)
    with pytest.raises(ValueError, match="unknown setting 'colour'"):
        m.set_settings("a", colour=3)
    assert m.set_settings("a", max_new_tokens=3)["max_new_tokens"] == 3
    m.send("q")
    m.wait(5)
    assert a.history[-1]["content"] == "one two three "
    assert a.history[-1]["stats"]["finish_reason"] == "length"


def test_bad_initial_settings_show_in_the_column(rec):
    m = ChatManager(on_event=rec)
    col = m.add({"name": "x", "model": ScriptedBOT("x"), "settings": {"top_p": 7}})
    assert wait_until(lambda: col.status == "error")
    assert "top_p" in col.error and "0 to 1" in col.error


def test_system_prompt_reaches_bots_that_have_one(rec):
    bot = ScriptedBOT("r")
    m, _ = make(rec, bot)
    m.system_prompt = "Be brief."
    m.send("q")
    m.wait(5)
    assert bot.system_prompts == ["Be brief."]


def test_bad_model_specs_are_refused_clearly(rec):
    m = ChatManager(on_event=rec)
    with pytest.raises(ValueError, match="unknown keys in model dict"):
        m.add({"name": "x", "modle": "smollm2-135m"})
    with pytest.raises(ValueError, match="needs 'model'"):
        m.add({"name": "x"})
    with pytest.raises(ValueError, match="must not be empty"):
        m.add("  ")
    with pytest.raises(RuntimeError, match="add a model first"):
        m.send("hello")


def test_widgets_in_one_kernel_share_a_checkpoint_until_no_column_holds_it(rec):
    calls = []

    def loader(name, **options):
        calls.append(name)
        return ScriptedBOT(name)

    m1, m2 = ChatManager(on_event=rec, loader=loader), ChatManager(on_event=rec, loader=loader)
    cols = [m1.add("same"), m2.add("same")]
    assert wait_until(lambda: all(c.status == "ready" for c in cols))
    assert calls == ["same"] and cols[0].bot is cols[1].bot
    m1.remove(cols[0].id)
    m2.remove(cols[1].id)
    cols.clear()
    import gc

    gc.collect()
    c = m1.add("same")
    assert wait_until(lambda: c.status == "ready")
    assert calls == ["same", "same"], "the weights were freed once no column held them, then loaded again"
