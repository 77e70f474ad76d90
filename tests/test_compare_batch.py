"""Batch runs over a real ChatManager with scripted columns, stopping them, and setting sweeps."""

from __future__ import annotations


import pytest

from chatzoo_widget.compare import BatchRun, VoteBook, run_batch, sweep
from chatzoo_widget.manager import BusyError, ChatManager
from chatzoo_widget.testing import ScriptedBOT, wait_until


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
    assert list(df.columns) == ["script", "prompt", "turn", "column", "model", "settings", "reply", "new_tokens",
                                "prompt_tokens", "time_to_first_token", "tokens_per_second", "total_time",
                                "finish_reason", "status", "error"]
    a = df[df["column"] == "a"]
    # each item starts from an empty history; a script's turns follow each other
    assert a["reply"].tolist() == ["Reply 1 to: one", "Reply 1 to: two", "Reply 2 to: three"]
    assert a[["script", "turn"]].values.tolist() == [[0, 0], [1, 0], [1, 1]]
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
    m = make(ScriptedBOT("a", reply="w " * 30, delay=0.01), ScriptedBOT("b", reply="w " * 30, delay=0.01))
    mine = {c.name: list(c.history) for c in m.columns.values()}
    run = BatchRun(m, ["p1", "p2", "p3", "p4"])
    assert wait_until(lambda: run.progress["done"] >= 1 and m.busy, 10)
    run.stop()
    df = run.wait(10)
    assert run.progress["running"] is False and run.progress["stopped"] is True and run.progress["total"] == 4
    assert df["prompt"].tolist() == ["p1", "p1", "p2", "p2"]  # p3 and p4 skipped
    assert df["status"].tolist() == ["done", "done", "cancelled", "cancelled"]
    assert df.attrs["stopped"] and df.attrs["done"] == 2
    assert all(len(r.split()) < 30 for r in df["reply"][2:])
    assert {c.name: c.history for c in m.columns.values()} == mine and not m.busy


def test_the_users_stop_button_stops_a_batch_too():
    m = make(ScriptedBOT("a", reply="w " * 40, delay=0.01))
    updates = []
    run = BatchRun(m, ["p1", "p2", "p3"], on_update=lambda: updates.append(1))
    assert wait_until(lambda: m.busy, 5)
    m.stop()
    df = run.wait(10)
    assert df["status"].tolist() == ["cancelled"] and run.progress["stopped"] and updates


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
    m.on_change = lambda: book.observe()
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
