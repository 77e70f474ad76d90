"""A long prompt does not look like a hang: the bot reports how far it has read, the manager announces it as paced
`prefill` events before the first delta, and Stop ends the reply while the prompt is still being read."""

from __future__ import annotations

import math
import threading
import time

import pytest

from chatzoo_widget.engine.progress import PrefillNews
from chatzoo_widget.manager import ChatManager
from chatzoo_widget.testing import ScriptedBOT, wait_until
from chatzoo_widget.testing.tiny_models import SENTENCES

CHUNK = 16
LONG = " ".join(SENTENCES[:7] * 8)  # several hundred tokens of the tiny tokenizer
SHORT_REPLY = dict(do_sample=False, max_new_tokens=3)


def q(text: str) -> list[dict[str, str]]:
    return [{"role": "HUMAN", "content": text}]


@pytest.fixture
def reader(tiny_chat_dir):
    """A tiny chat bot that reads prompts 16 tokens per forward pass; `reader.forwards` counts forward passes."""
    from chatzoo_widget.registry import load_bot

    bot = load_bot(tiny_chat_dir, type="chat", name="reader", prefill_chunk=CHUNK)
    bot.forwards = 0

    def count(module, args, kwargs):
        bot.forwards += 1
        time.sleep(bot.forward_delay)

    bot.forward_delay = 0.0
    handle = bot.model.register_forward_pre_hook(count, with_kwargs=True)
    yield bot
    handle.remove()
    bot.close()


def prompt_length(bot, text: str) -> int:
    return int(bot.get_input(bot.build_prompt(q(text), {}))["input_ids"].shape[-1])


def test_the_stream_reports_the_prompt_length_then_every_chunk_before_the_first_text(reader):
    order: list[tuple] = []
    stream = reader.stream(q(LONG), on_prefill=lambda read, total: order.append(("read", read, total)), **SHORT_REPLY)
    for delta in stream:
        order.append(("text", delta))
    n = prompt_length(reader, LONG)
    assert n > 10 * CHUNK and stream.stats.prompt_tokens == n
    reads = [e for e in order if e[0] == "read"]
    assert reads[0] == ("read", 0, n) and reads[-1] == ("read", n, n)
    assert [r for _, r, _ in reads] == [0, *range(CHUNK, n, CHUNK), n]  # once before, then after every chunk
    last_read = max(i for i, e in enumerate(order) if e[0] == "read")
    assert all(e[0] == "text" for e in order[last_read + 1:]) and stream.text
    assert "prefill_done" not in stream.stats.to_dict()  # a passing state, not a statistic


def test_stop_while_reading_ends_the_reply_cancelled_before_any_text(reader):
    stop = threading.Event()
    reads: list[int] = []

    def on_prefill(read, total):
        reads.append(read)
        if read >= 4 * CHUNK:
            stop.set()

    stream = reader.stream(q(LONG), stop_event=stop, on_prefill=on_prefill, **SHORT_REPLY)
    assert stream.consume() == ""
    assert stream.stats.finish_reason == "cancelled" and stream.stats.new_tokens == 0
    assert reads == [0, CHUNK, 2 * CHUNK, 3 * CHUNK, 4 * CHUNK]  # the read ended at the chunk that saw Stop
    assert stream.stats.prompt_tokens == prompt_length(reader, LONG)


def test_a_reply_that_runs_alone_reports_its_length_and_a_stop_then_ends_it_before_generate(reader):
    """Beam search runs alone through `generate`, which reads the prompt in one pass: the count, no progress; a
    Stop that comes with that news ends the reply before `generate` runs a single forward pass."""
    reads: list[tuple] = []
    stream = reader.stream(q(LONG), on_prefill=lambda r, t: reads.append((r, t)), num_beams=2, **SHORT_REPLY)
    assert stream.consume() and stream.stats.batched is False
    assert reads == [(None, prompt_length(reader, LONG))]

    stop = threading.Event()
    before = reader.forwards
    stream = reader.stream(q(LONG), stop_event=stop, on_prefill=lambda r, t: stop.set(), num_beams=2, **SHORT_REPLY)
    assert stream.consume() == "" and stream.stats.finish_reason == "cancelled"
    assert reader.forwards == before


def test_a_listener_that_is_not_a_function_is_refused(reader):
    with pytest.raises(ValueError, match="on_prefill must be a function"):
        reader.stream(q("hi"), on_prefill=42)


# ----- the manager's prefill events -------------------------------------------------------------------------

class Recorder:
    def __init__(self):
        self.events: list[dict] = []
        self.lock = threading.Lock()

    def __call__(self, msg):
        with self.lock:  # a frame carries the deltas of several columns: kept as those deltas
            self.events.extend(msg["deltas"] if msg["kind"] == "frame" else [dict(msg)])

    def kinds(self, column_id):
        with self.lock:
            return [e["kind"] for e in self.events if e["column"] == column_id]

    def of(self, column_id, kind):
        with self.lock:
            return [e for e in self.events if e["column"] == column_id and e["kind"] == kind]


def manager_with(bot, rec):
    m = ChatManager(on_event=rec)
    col = m.add(bot)
    assert wait_until(lambda: col.status == "ready")
    m.set_settings(col.id, **SHORT_REPLY)
    return m, col


def test_a_long_prompt_sends_paced_prefill_events_before_the_first_delta(reader):
    reader.forward_delay = 0.02  # about 1.5 s of reading, 16 tokens at a time
    rec = Recorder()
    m, col = manager_with(reader, rec)
    m.send(LONG)
    assert m.wait(60)
    kinds = rec.kinds(col.id)
    n = col.history[-1]["prompt_tokens"]
    chunks = math.ceil(n / CHUNK)
    prefill = rec.of(col.id, "prefill")
    assert 2 <= len(prefill) <= chunks, kinds  # the pace itself: the PrefillNews tests below
    assert kinds.index("turn_start") < kinds.index("prefill") and max(
        i for i, k in enumerate(kinds) if k == "prefill") < kinds.index("delta")
    assert all(e["prompt_tokens"] == n and e["turn"] == 0 for e in prefill)
    done = [e["done"] for e in prefill]
    assert done == sorted(done) and 0 <= done[0] and done[-1] <= n and done[-1] > done[0]
    assert col.history[-1]["stats"]["finish_reason"] in ("length", "stop") and col.history[-1]["content"]


@pytest.mark.parametrize("which", ["column", "all"])
def test_stop_while_the_prompt_is_read_ends_the_turn_cancelled(reader, which):
    reader.forward_delay = 0.02
    rec = Recorder()
    m, col = manager_with(reader, rec)
    m.send(LONG)
    assert wait_until(lambda: rec.of(col.id, "prefill"), timeout=30)
    forwards_at_stop = reader.forwards
    m.stop(col.id if which == "column" else None)
    assert m.wait(30)
    entry = col.history[-1]
    assert entry["role"] == "BOT" and entry["content"] == ""
    assert entry["stats"]["finish_reason"] == "cancelled" and entry["stats"]["new_tokens"] == 0
    assert not rec.of(col.id, "delta") and rec.of(col.id, "turn_end")
    assert reader.forwards <= forwards_at_stop + 1  # the read ended within one chunk
    assert col.status == "ready"


class _SlowServer(ScriptedBOT):
    remote = True  # as RemoteChatBOT: the manager cannot count what the server reads


def test_a_remote_column_says_it_waits_for_the_server_until_its_first_chunk():
    rec = Recorder()
    m, col = manager_with(_SlowServer("far", reply="hello there", first_delay=0.8), rec)
    m.send("hi")
    assert m.wait(10)
    kinds = rec.kinds(col.id)
    waiting = rec.of(col.id, "prefill")
    assert waiting and all(e["server"] is True and e["prompt_tokens"] is None for e in waiting)
    assert max(i for i, k in enumerate(kinds) if k == "prefill") < kinds.index("delta")


def test_a_local_scripted_bot_that_reports_nothing_gets_no_prefill_event():
    rec = Recorder()
    m, col = manager_with(ScriptedBOT("local", reply="hello there", first_delay=0.6), rec)
    m.send("hi")
    assert m.wait(10)
    assert "prefill" not in rec.kinds(col.id)


# ----- pacing ---------------------------------------------------------------------------------------------

def test_prefill_news_sends_the_latest_report_once_per_interval_and_nothing_after_close():
    sent: list[dict] = []
    news = PrefillNews(sent.append, interval=0.5)
    for read in range(0, 1000, 10):  # a fast model: a hundred reports at once
        news.report(read, 1000)
    assert wait_until(lambda: sent, timeout=5)
    assert sent == [{"prompt_tokens": 1000, "done": 990}]  # one event, the latest
    news.report(1000, 1000)  # within the next interval: held back...
    news.close()  # ...and dropped: the first token came
    time.sleep(0.7)
    assert len(sent) == 1


def test_prefill_news_keeps_quiet_for_a_prompt_read_within_the_first_interval():
    sent: list[dict] = []
    news = PrefillNews(sent.append, interval=0.5)
    news.report(0, 30)
    news.report(30, 30)
    news.close()  # the first token came
    time.sleep(0.7)
    assert sent == []
