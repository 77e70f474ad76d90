"""run_batch(cache=..., resume=...): a stopped or crashed run goes on without asking its finished rows again, and
ends with the table an uninterrupted run makes."""

from __future__ import annotations

import json
import threading

import pandas as pd
import pytest

from chatzoo_widget.compare import run_batch
from chatzoo_widget.manager import ChatManager
from chatzoo_widget.testing import ScriptedBOT, wait_until

ROWS = [{"id": f"q{i}", "question": f"question {i}", "answer": f"{i}"} for i in range(5)]
SCRIPT = {"id": "chat", "prompt": ["first turn", "second turn"]}  # a multi-turn row
CHECKS = [{"type": "icontains", "value": "{{answer}}"}, {"type": "regex", "value": "question"}]
TIMING = ["time_to_first_token", "tokens_per_second", "total_time"]


def data():
    return [{**r, "prompt": f"Q: {r['question']}"} for r in ROWS] + [{**SCRIPT, "answer": "turn"}]


def echo(query):
    humans = sum(1 for m in query if m["role"] == "HUMAN")
    return f"Reply {humans} to: {query[-1]['content']}"


def manager_with(stop_after: int | None = None, stop: threading.Event | None = None):
    """Two scripted columns; with `stop_after`, the reply after that many sets `stop` and runs long (it is cut)."""
    calls = {"n": 0}
    lock = threading.Lock()

    def reply(query):
        with lock:
            calls["n"] += 1
            n = calls["n"]
        if stop_after is not None and n == stop_after + 1:
            stop.set()
            return " ".join(["long"] * 200)
        return echo(query)

    bots = [ScriptedBOT("left", reply=reply, delay=0.01), ScriptedBOT("right", reply=reply, delay=0.01)]
    manager = ChatManager()
    for bot in bots:
        manager.add(bot)
    assert wait_until(lambda: all(c.status == "ready" for c in manager.columns.values()), 10)
    return manager, bots


def asked(bots, since=None):
    """(column, prompt) of every prompt asked (since the counts `since`); with no `since`, the counts now."""
    return [(bot.name, p[-1]["content"]) for i, bot in enumerate(bots) for p in bot.prompts[(since or {}).get(i, 0):]]


def counts(bots):
    return {i: len(bot.prompts) for i, bot in enumerate(bots)}


def comparable(df: pd.DataFrame) -> pd.DataFrame:
    out = df.drop(columns=TIMING).reset_index(drop=True)
    out["checks"] = out["checks"].map(json.dumps)
    out["settings"] = out["settings"].map(lambda s: json.dumps(s, sort_keys=True))
    return out


@pytest.fixture
def uninterrupted():
    manager, _ = manager_with()
    return run_batch(manager, data(), checks=CHECKS)


def test_a_stopped_run_resumes_from_its_cache_file_without_asking_finished_rows_again(tmp_path, uninterrupted):
    cache = tmp_path / "run.jsonl"
    stop = threading.Event()
    manager, bots = manager_with(stop_after=4, stop=stop)
    first = run_batch(manager, data(), checks=CHECKS, cache=cache, stop_event=stop, max_in_flight=1)
    assert first.attrs["stopped"]
    finished = {(r.column, r.prompt) for r in first.itertuples() if r.status == "done"}
    assert 0 < len(finished) < 14 and "cancelled" in set(first["status"])
    lines = [json.loads(line) for line in cache.read_text().splitlines()]
    assert {(r["column"], r["prompt"]) for r in lines} <= finished and all(r["status"] == "done" for r in lines)

    before = counts(bots)
    second = run_batch(manager, data(), checks=CHECKS, resume=cache)
    again = asked(bots, before)
    cached = {(r["column"], r["prompt"]) for r in lines}
    assert cached and not cached & set(again)  # no finished row asked again
    assert len(again) == 14 - len(cached)
    pd.testing.assert_frame_equal(comparable(second), comparable(uninterrupted))
    assert not second.attrs["stopped"] and second.attrs["done"] == second.attrs["total"] == 7
    # the file grew with the rows asked now: it holds the whole run
    assert len(cache.read_text().splitlines()) == 14


def test_resume_from_a_previous_runs_dataframe(uninterrupted):
    stop = threading.Event()
    manager, bots = manager_with(stop_after=6, stop=stop)
    first = run_batch(manager, data(), checks=CHECKS, stop_event=stop, max_in_flight=1)
    done = {(r.column, r.prompt) for r in first.itertuples() if r.status == "done"}
    before = counts(bots)
    second = run_batch(manager, data(), checks=CHECKS, resume=first)
    again = set(asked(bots, before))
    # a conversation is reused only whole: the script's first turn may be asked again if its second was cut
    assert {("left", f"Q: question {i}") for i in range(5)} & done
    assert not (done - {("left", "first turn"), ("right", "first turn")}) & again
    pd.testing.assert_frame_equal(comparable(second), comparable(uninterrupted))


def test_a_crash_mid_write_loses_only_the_last_line(tmp_path, uninterrupted):
    cache = tmp_path / "run.jsonl"
    manager, bots = manager_with()
    run_batch(manager, data()[:3], checks=CHECKS, cache=cache)
    text = cache.read_text()
    cache.write_text(text + text.splitlines()[0][:40])  # the process died while writing a line
    before = counts(bots)
    second = run_batch(manager, data(), checks=CHECKS, resume=cache)
    assert len(asked(bots, before)) == 14 - 6  # rows q0..q2 of both columns came from the file
    pd.testing.assert_frame_equal(comparable(second), comparable(uninterrupted))


def test_the_cache_is_never_mixed_with_another_run(tmp_path):
    cache = tmp_path / "run.jsonl"
    manager, _ = manager_with()
    run_batch(manager, data()[:2], cache=cache)
    with pytest.raises(ValueError, match="holds a run's rows already: pass resume="):
        run_batch(manager, data()[:2], cache=cache)
    with pytest.raises(ValueError, match="row 'q0' turn 0 was asked 'Q: question 0', now 'Other: question 0'"):
        run_batch(manager, [{**r, "prompt": r["prompt"].replace("Q:", "Other:")} for r in data()[:2]],
                  resume=cache)


def test_bad_resume_and_cache_arguments_say_what_is_wrong(tmp_path):
    manager, _ = manager_with()
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1}\nnot json\n{"id": 2}\n')
    with pytest.raises(ValueError, match="bad.jsonl: line 1 is not a batch row"):
        run_batch(manager, data(), resume=bad)
    with pytest.raises(FileNotFoundError, match="no cache file"):
        run_batch(manager, data(), resume=tmp_path / "missing.jsonl")
    with pytest.raises(ValueError, match="a batch cache is a .jsonl file"):
        run_batch(manager, data(), cache=tmp_path / "run.csv")
    with pytest.raises(ValueError, match="needs a run_batch DataFrame: it has no"):
        run_batch(manager, data(), resume=pd.DataFrame({"x": [1]}))


def test_the_widget_resumes_a_run_from_its_cache(tmp_path):
    from chatzoo_widget import ChatZooWidget

    bots = [ScriptedBOT("left"), ScriptedBOT("right")]
    w = ChatZooWidget(bots)
    try:
        assert wait_until(lambda: all(c.status == "ready" for c in w.manager.columns.values()), 10)
        first = w.run_batch(data()[:3], cache=str(tmp_path / "run.jsonl"), one_model_at_a_time=True)
        before = counts(bots)
        second = w.run_batch(data(), resume=str(tmp_path / "run.jsonl"))
        assert len(asked(bots, before)) == 14 - 6 and len(second) == 14
        assert list(second["reply"][:6]) == list(first["reply"])
    finally:
        w.close()
