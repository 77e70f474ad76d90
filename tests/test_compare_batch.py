"""Batch runs over a real ChatManager with scripted columns, stopping them, and setting sweeps."""

from __future__ import annotations

import threading
import time

import pytest

from chatzoo_widget.compare import BatchRun, VoteBook, run_batch, sweep
from chatzoo_widget.manager import BusyError, ChatManager
from chatzoo_widget.testing import ScriptedBOT, command, wait_until


def make(*bots):
    m = ChatManager()
    for b in bots:
        m.add(b)
    assert wait_until(lambda: all(c.status == "ready" for c in m.columns.values()))
    return m


def test_batch_runs_prompts_and_scripts_with_fresh_histories_and_keeps_the_users_conversation():
    m = make(ScriptedBOT("a"), ScriptedBOT("b", reply="fixed answer here"))
    m.send("my own chat")
    m.wait(5)
    mine = {c.name: list(c.history) for c in m.columns.values()}
    progress = []
    df = run_batch(m, ["one", ["two", "three"]], on_progress=lambda d, t: progress.append((d, t)))
    assert progress == [(0, 3), (1, 3), (2, 3), (3, 3)]
    assert list(df.columns) == ["script", "id", "prompt", "turn", "sample", "column", "model", "settings", "reply",
                                "new_tokens", "prompt_tokens", "time_to_first_token", "tokens_per_second",
                                "total_time", "finish_reason", "mean_logprob", "perplexity", "status", "error"]
    a = df[df["column"] == "a"]
    # each item starts from an empty history; a script's turns follow each other
    assert a["reply"].tolist() == ["Reply 1 to: one", "Reply 1 to: two", "Reply 2 to: three"]
    assert a[["script", "turn"]].values.tolist() == [[0, 0], [1, 0], [1, 1]]
    assert df["column"].tolist() == ["a", "b"] * 3 and set(df["sample"]) == {0}  # sorted: script, turn, column
    assert set(df["status"]) == {"done"} and set(df["finish_reason"]) == {"stop"}
    assert df["new_tokens"].tolist()[:2] == [4, 3] and (df["time_to_first_token"] >= 0).all()
    assert df.iloc[0]["settings"]["max_new_tokens"] == 64
    assert {c.name: c.history for c in m.columns.values()} == mine
    assert df.attrs == {"done": 3, "total": 3, "stopped": False}


def test_batch_without_fresh_history_continues_the_conversation():
    m = make(ScriptedBOT("a"))
    df = run_batch(m, ["x", "y"], fresh_history=False)
    assert df["reply"].tolist() == ["Reply 1 to: x", "Reply 2 to: y"]
    assert len(m.get("a").history) == 4


def test_a_batch_stopped_midway_returns_the_rows_so_far():
    m = make(ScriptedBOT("a", reply="w " * 30, delay=0.01), ScriptedBOT("b", reply="w " * 200, delay=0.01))
    mine = {c.name: list(c.history) for c in m.columns.values()}
    run = BatchRun(m, ["p1", "p2", ["p3", "p4"]])
    assert wait_until(lambda: (run.result is None) and run.progress["total"] == 4, 10)
    time.sleep(0.5)  # "a" is through with its first turns, "b" is still writing
    run.stop()
    df = run.wait(10)
    assert run.progress["running"] is False and run.progress["stopped"] is True and run.progress["total"] == 4
    by = df.set_index(["prompt", "column"])["status"].to_dict()
    assert by[("p1", "a")] == by[("p2", "a")] == by[("p3", "a")] == "done"
    assert by[("p1", "b")] == by[("p2", "b")] == by[("p3", "b")] == "cancelled"
    assert ("p4", "b") not in by, "the rest of a stopped script is skipped"
    assert df.attrs["stopped"] and df.attrs["done"] == 3  # p4 never finished
    assert all(len(r.split()) < 200 for r in df[df.column == "b"]["reply"])
    assert {c.name: c.history for c in m.columns.values()} == mine and not m.busy


class CountingBOT(ScriptedBOT):
    """Counts the replies in flight at once."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.now = self.most = 0
        self.lock = threading.Lock()

    def stream_generate(self, request):
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            yield from super().stream_generate(request)
        finally:
            with self.lock:
                self.now -= 1


def test_every_conversation_of_a_batch_is_in_flight_at_once():
    bots = [CountingBOT("a", reply="w " * 10, delay=0.02), CountingBOT("b", reply="w " * 10, delay=0.02)]
    m = make(*bots)
    start = time.monotonic()
    df = run_batch(m, [f"p{i}" for i in range(10)] + [["q1", "q2"]])
    elapsed = time.monotonic() - start
    assert len(df) == 24 and set(df["status"]) == {"done"}
    assert bots[0].most == bots[1].most == 11  # every script of a column at once
    assert elapsed < 1.5, "one prompt at a time would take over 2 s"
    assert df["prompt"].tolist()[:4] == ["p0", "p0", "p1", "p1"] and df["prompt"].tolist()[-2:] == ["q2", "q2"]
    b = bots[0]
    q2 = next(p for p in b.prompts if p[-1]["content"] == "q2")  # a script's turns follow each other
    assert [m_["content"] for m_ in q2] == ["q1", "w " * 10, "q2"]
    few = CountingBOT("c", reply="w " * 5, delay=0.02)
    run_batch(make(few), [f"p{i}" for i in range(10)], max_in_flight=3)
    assert few.most == 3


def watched_run(manager, prompts) -> tuple[BatchRun, list[dict]]:
    """A BatchRun whose every progress update is recorded, as a widget syncs each to the browser."""
    seen: list[dict] = []
    box: dict = {}
    bound = threading.Event()

    def update():
        bound.wait(5)
        seen.append(dict(box["run"].progress))

    box["run"] = BatchRun(manager, prompts, on_update=update)
    bound.set()
    return box["run"], seen


def test_a_batch_runs_progress_updates_come_a_few_a_second_and_the_last_one_always():
    run, seen = watched_run(make(ScriptedBOT("a"), ScriptedBOT("b")), [f"p{i}" for i in range(600)])
    run.wait(30)
    assert seen[-1]["done"] == seen[-1]["total"] == 600 and seen[-1]["running"] is False
    assert seen[0]["done"] == 0, "the start shows at once"
    assert len(seen) < 60, f"not an update per row: {len(seen)} for 600 rows"
    dones = [p["done"] for p in seen]
    assert dones == sorted(dones)
    # rows right after another update still show within the interval, not only with the next row or the end
    words = {"p1": 2, "p2": 3, "p3": 30}
    bot = ScriptedBOT("c", reply=lambda q: "w " * words[q[-1]["content"]], delay=0.02)
    run, seen = watched_run(make(bot), list(words))
    run.wait(10)
    dones = [p["done"] for p in seen]
    assert 2 in dones and dones[-1] == 3, dones


def test_the_widgets_stop_button_stops_a_batch_too():
    from chatzoo_widget import ChatZooWidget

    w = ChatZooWidget([ScriptedBOT("a", reply="w " * 40, delay=0.01)])
    w.send_message = lambda msg: None
    run = w.run_batch(["p1", "p2", "p3"], wait=False)
    assert wait_until(lambda: w.batch_progress.get("total") == 3, 5)
    time.sleep(0.05)
    assert command(w, "stop")["ok"]  # the Stop (all) button's command
    df = run.wait(10)
    assert set(df["status"]) == {"cancelled"} and run.progress["stopped"]
    assert w.batch_progress["stopped"] is True


def test_a_slow_column_times_out_and_the_batch_goes_on():
    m = make(ScriptedBOT("fast"), ScriptedBOT("slow", reply="w " * 100, delay=0.02))
    df = run_batch(m, ["p1", "p2"], timeout=0.15)
    assert df.set_index(["prompt", "column"])["status"].to_dict() == {
        ("p1", "fast"): "done", ("p1", "slow"): "timeout", ("p2", "fast"): "done", ("p2", "slow"): "timeout"}
    assert not df.attrs["stopped"]


def test_batch_refuses_bad_prompts_and_busy_columns():
    m = make(ScriptedBOT("a", reply="w " * 40, delay=0.01))
    for bad, match in [("just a string", "must be a list"), ([""], r"prompts\[0\] is empty"),
                       ([["ok", "  "]], r"prompts\[0\]\[1\] is empty"), ([[]], r"prompts\[0\] must be")]:
        with pytest.raises(ValueError, match=match):
            run_batch(m, bad)
    assert run_batch(m, []).empty
    m.send("busy now")
    with pytest.raises(BusyError, match="still answering"):
        run_batch(m, ["x"])
    with pytest.raises(BusyError):
        BatchRun(m, ["x"])
    m.stop()
    m.wait(5)


def test_votes_stay_in_their_conversation_across_a_batch():
    m = make(ScriptedBOT("a"), ScriptedBOT("b"))
    book = VoteBook(m)
    m.send("mine")
    m.wait(5)
    conv = book.conversation_id
    with book.suspended():
        with pytest.raises(ValueError, match="during a batch run"):
            book.vote("a")
        run_batch(m, ["x", ["y", "z"]])
    assert book.conversation_id == conv
    assert book.vote("a")["prompt"] == "mine"
    # the widget's way: BatchRun suspends the book in its thread
    run = BatchRun(m, ["x"], votes=book)
    run.wait(10)
    assert run.progress["done"] == 1 and book.conversation_id == conv and len(book.votes) == 1


def test_sweep_makes_columns_of_one_checkpoint():
    specs = sweep("models/smollm2-135m/", "temperature", [0.2, 0.7, 1.2], top_p=0.9)
    assert specs == [{"model": "models/smollm2-135m/", "name": f"smollm2-135m temperature={t}",
                      "settings": {"top_p": 0.9, "temperature": t}} for t in (0.2, 0.7, 1.2)]
    calls = []

    def loader(name, **options):
        calls.append(name)
        return ScriptedBOT(name)

    m = ChatManager(loader=loader)
    cols = [m.add(s) for s in sweep("same", "max_new_tokens", [2, 4], name_format="{value} tokens")]
    assert wait_until(lambda: all(c.status == "ready" for c in cols))
    assert calls == ["same"] and [c.name for c in cols] == ["2 tokens", "4 tokens"]
    df = run_batch(m, ["one two three four five"])
    m.close()  # the model pool is the process's: a lease left held fails later tests that count holders
    assert df["new_tokens"].tolist() == [2, 4] and df["finish_reason"].tolist() == ["length", "length"]
    bot = ScriptedBOT("bot")
    assert sweep(bot, "seed", [1])[0] == {"model": bot, "name": "bot seed=1", "settings": {"seed": 1}}
    remote = sweep({"name": "srv", "url": "http://x/v1", "settings": {"top_k": 5}}, "temperature", [0.5])
    assert remote == [{"url": "http://x/v1", "name": "srv temperature=0.5", "settings": {"top_k": 5, "temperature": 0.5}}]
    for args, kwargs, match in [(("m", "temperature", []), {}, "at least one value"),
                                (("m", "temperature", [0.5, 0.5]), {}, "both be named"),
                                (("m", "temperature", [0.5]), {"temperature": 1.0}, "swept setting")]:
        with pytest.raises(ValueError, match=match):
            sweep(*args, **kwargs)


def test_batch_rows_hold_the_answer_without_the_thinking():
    m = make(ScriptedBOT("thinker", reply="<think>first, count the fruit</think>Three fruits."))
    df = run_batch(m, ["Name three fruits."])
    assert list(df["reply"]) == ["Three fruits."]


class Started(ScriptedBOT):
    """A scripted bot that says when a reply began streaming."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.started = threading.Event()

    def stream_generate(self, request):
        self.started.set()
        yield from super().stream_generate(request)


def test_a_column_removed_during_a_batch_stops_at_once_and_the_others_go_on():
    slow = Started("b", reply="w " * 400, delay=0.01)
    m = make(ScriptedBOT("a", reply="w " * 30, delay=0.01), slow)
    run = BatchRun(m, [["p1", "p2"]])
    assert slow.started.wait(5)
    m.remove(m.get("b").id)  # announced: its reply in flight stops now instead of running to its end
    df = run.wait(10)
    rows = {(r.column, r.prompt): r.status for r in df.itertuples()}
    assert rows == {("a", "p1"): "done", ("a", "p2"): "done", ("b", "p1"): "cancelled"}
    assert df.attrs["stopped"] is False and run.progress["stopped"] is False
