"""The results grid's data (compare/grid.py) and the check badges' state (compare/turn_checks.py), headless: rows
reach the browser once each as `grid_rows` messages, the `grid_rows` command serves a view that missed them, the
summary trait carries the statistics with their methods, blind mode shows labels only."""

from __future__ import annotations

import pytest

from chatzoo_widget import ChatZooWidget, records
from chatzoo_widget.compare import ResultsGrid
from chatzoo_widget.testing import ScriptedBOT, command, wait_until

QUESTIONS = [{"id": f"q{i}", "question": f"Question {i}?", "answer": "yes" if i % 2 else "no"} for i in range(6)]
CHECKS = [{"type": "icontains", "value": "{{answer}}"}]


def sayer(word):
    return lambda query: f"I say {word}"


@pytest.fixture
def widget(sent):
    w = ChatZooWidget([ScriptedBOT("yes-bot", reply=sayer("yes")), ScriptedBOT("no-bot", reply=sayer("no"))],
                      seed=1)
    assert wait_until(lambda: all(c["status"] == "ready" for c in w.columns))
    yield w
    w.close()


def grid_messages(sent):
    return [m for m in sent if m.get("kind") == "grid_rows"]


def test_every_finished_row_reaches_the_browser_once_with_its_cells(widget, sent):
    df = widget.run_batch(QUESTIONS, template="{question}", checks=CHECKS)
    messages = grid_messages(sent)
    assert messages, "no grid_rows message"
    rows = [r for m in messages for r in m["rows"]]
    assert sorted(r["id"] for r in rows) == [q["id"] for q in QUESTIONS]  # each row once
    starts = [m["start"] for m in messages]
    assert starts == sorted(starts) and starts[0] == 0  # in order, no gap
    assert all(m["run"] == widget.grid_state["run"] for m in messages)
    for row in rows:
        records.check(row, records.GridRow, "grid row", strict=True)
        assert set(row["cells"]) == {"yes-bot", "no-bot"}
        answer = QUESTIONS[row["script"]]["answer"]
        assert row["prompt"] == QUESTIONS[row["script"]]["question"]
        assert row["cells"][f"{answer}-bot"]["pass"] is True
        other = "no-bot" if answer == "yes" else "yes-bot"
        assert row["cells"][other]["pass"] is False
        assert row["cells"][other]["checks"][0]["type"] == "icontains"
    assert len(df) == 12
    assert widget.grid_state == {"run": widget.grid_state["run"], "view": 0, "columns": ["yes-bot", "no-bot"],
                                 "rows": 6, "running": False, "checked": True}


def test_the_grid_has_its_columns_before_the_first_row(sent):
    w = ChatZooWidget([ScriptedBOT("first", first_delay=0.5), ScriptedBOT("second", first_delay=0.5)])
    try:
        assert wait_until(lambda: all(c["status"] == "ready" for c in w.columns))
        run = w.run_batch(["one", "two"], wait=False)
        assert w.grid_state["columns"] == ["first", "second"] and w.grid_state["rows"] == 0
        assert w.grid_state["running"] is True
        run.wait(30)
    finally:
        w.close()


def test_a_view_that_missed_the_messages_fetches_the_rows(widget):
    widget.run_batch(QUESTIONS, template="{question}", checks=CHECKS)
    run = widget.grid_state["run"]
    answer = command(widget, "grid_rows", run=run, start=4)
    assert answer["ok"], answer
    assert answer["result"]["start"] == 4 and len(answer["result"]["rows"]) == 2
    stale = command(widget, "grid_rows", run="old-run", start=0)
    assert not stale["ok"] and "not the latest" in stale["error"]


def test_the_summary_names_its_methods_and_reaches_the_widget_when_the_run_ends(widget):
    widget.run_batch(QUESTIONS, template="{question}", checks=CHECKS)
    assert widget._grid.wait(30)
    summary = widget.grid_summary
    records.check({k: summary[k] for k in ("columns", "pairs", "method")}, records.SummaryRecord, "summary",
                  strict=True)
    assert summary["final"] is True and summary["rows"] == 6
    rates = {r["column"]: r for r in summary["columns"] if r["measure"] == "pass"}
    assert rates["yes-bot"]["estimate"] == pytest.approx(0.5)
    assert "Wilson" in rates["yes-bot"]["method"]
    [pair] = [p for p in summary["pairs"] if p["measure"] == "pass"]
    assert pair["test"].startswith("McNemar exact") and pair["correction"] == "holm"
    assert pair["verdict"] == "no detectable difference"  # 3 discordant each way
    assert pair["prompts_needed"] is None  # infinite (an even split): JSON has no infinity


def test_fewer_than_two_paired_rows_say_so_instead_of_a_number(widget):
    widget.run_batch(QUESTIONS[:1], template="{question}", checks=CHECKS)
    assert widget._grid.wait(30)
    [pair] = [p for p in widget.grid_summary["pairs"] if p["measure"] == "pass"]
    assert pair["p_value"] is None and pair["estimate"] is None
    assert "fewer than two paired rows" in pair["note"] and pair["verdict"] == "too few paired rows"


def test_rows_are_sent_while_the_run_goes_on(sent):
    w = ChatZooWidget([ScriptedBOT("slow", reply=sayer("yes"), delay=0.05)])
    try:
        assert wait_until(lambda: w.columns[0]["status"] == "ready")
        run = w.run_batch([f"p{i}" for i in range(40)], checks=[{"type": "contains", "value": "yes"}], wait=False)
        assert wait_until(lambda: grid_messages(sent), timeout=30)
        assert run.running  # the first rows arrived before the run ended
        run.wait(60)
        assert sum(len(m["rows"]) for m in grid_messages(sent)) == 40
    finally:
        w.close()


def test_rows_finishing_together_share_a_message_and_the_last_ones_are_not_held_back():
    sent, states = [], []
    grid = ResultsGrid(send=sent.append, publish_state=lambda g: states.append(g.state()),
                       publish_summary=lambda record: None, interval=0.2)
    reply = {"reply": "x", "status": "done", "error": None, "_order": 0}
    for i in range(5):  # a burst: the first goes at once, the four after it together when the interval is up
        grid.add([{**reply, "script": i, "sample": 0, "id": i, "prompt": f"p{i}", "column": "a"}])
    assert [len(m["rows"]) for m in sent] == [1]
    assert wait_until(lambda: len(sent) == 2, timeout=5)
    assert [m["start"] for m in sent] == [0, 1] and len(sent[1]["rows"]) == 4
    assert states[-1]["rows"] == 5 and states[-1]["checked"] is False


def test_arena_blind_grid_shows_labels_only(sent):
    w = ChatZooWidget([ScriptedBOT("secret-alpha", reply=sayer("yes")),
                       ScriptedBOT("secret-beta", reply=sayer("no"))], arena=True, seed=3)
    try:
        assert wait_until(lambda: all(c["status"] == "ready" for c in w.manager.snapshot()))
        w._sync()
        w.run_batch(QUESTIONS[:3], template="{question}", checks=CHECKS)
        assert w._grid.wait(30)
        state = w.get_state()  # what the browser gets: through the blind filter
        shown = state["grid_state"]["columns"]
        assert sorted(shown) == ["Model A", "Model B"]
        assert "secret" not in repr(state["grid_state"]) and "secret" not in repr(state["grid_summary"])
        answer = command(w, "grid_rows", run=state["grid_state"]["run"], start=0)
        assert answer["ok"] and len(answer["result"]["rows"]) == 3
        assert "secret" not in repr(answer)
        assert set(answer["result"]["rows"][0]["cells"]) == {"Model A", "Model B"}
        # the grid's columns are in the order the columns are shown, not the order they were added
        labels_left_to_right = [c["label"] for c in w._book.presenter.blind_columns(w.manager.snapshot())]
        assert shown == labels_left_to_right
    finally:
        w.close()


def test_check_results_are_kept_per_reply_and_go_when_it_is_answered_again(widget):
    widget.send("Is it?", wait=True)
    widget.check([{"type": "icontains", "value": "yes"}])
    ids = {c.name: c.id for c in widget.manager.columns.values()}
    state = widget.turn_checks
    assert state[ids["yes-bot"]]["0"]["pass"] is True
    assert state[ids["no-bot"]]["0"]["pass"] is False
    assert state[ids["no-bot"]]["0"]["checks"][0]["type"] == "icontains"
    for result in (state[ids["yes-bot"]]["0"], state[ids["no-bot"]]["0"]):
        records.check(result, records.TurnCheck, "turn check", strict=True)
    widget.regenerate(wait=True)
    assert wait_until(lambda: widget.turn_checks == {})  # the old reply's badges went with it
    widget.check([{"type": "icontains", "value": "yes"}])
    assert widget.turn_checks[ids["yes-bot"]]["0"]["pass"] is True
    widget.clear()
    assert wait_until(lambda: widget.turn_checks == {})


def test_summary_computes_off_the_batch_threads_one_at_a_time():
    published = []
    grid = ResultsGrid(send=lambda m: None, publish_state=lambda g: None, publish_summary=published.append,
                       summary_every=1)
    reply = {"reply": "x", "status": "done", "error": None, "_order": 0, "score": 1.0, "checks": []}
    for i in range(30):
        grid.add([{**reply, "pass": bool(i % 2), "script": i, "sample": 0, "id": i, "prompt": "p", "column": "a"},
                  {**reply, "pass": True, "script": i, "sample": 0, "id": i, "prompt": "p", "column": "b",
                   "_order": 1}])
    grid.finish()
    assert grid.wait(60)
    assert published[-1]["final"] is True and published[-1]["rows"] == 30
    assert len(published) < 30  # requests that came while one was computing were folded together


def test_after_the_vote_reveals_the_names_the_views_fetch_the_rows_again_with_them(sent):
    w = ChatZooWidget([ScriptedBOT("secret-alpha", reply=sayer("yes")),
                       ScriptedBOT("secret-beta", reply=sayer("no"))], arena=True, seed=3)
    try:
        assert wait_until(lambda: all(c["status"] == "ready" for c in w.manager.snapshot()))
        w.send("Hello?", wait=True)
        w.run_batch(QUESTIONS[:2], template="{question}", checks=CHECKS)
        before = w.get_state()["grid_state"]
        assert sorted(before["columns"]) == ["Model A", "Model B"]
        w.vote("Model A")  # reveals the names
        after = w.get_state()["grid_state"]
        assert after["view"] == before["view"] + 1  # every view starts the grid over...
        assert sorted(after["columns"]) == ["secret-alpha", "secret-beta"]
        answer = command(w, "grid_rows", run=after["run"], start=0)
        assert set(answer["result"]["rows"][0]["cells"]) == {"secret-alpha", "secret-beta"}  # ...with the names
        assert w._grid.wait(30)
        assert {r["column"] for r in w.get_state()["grid_summary"]["columns"]} == {"secret-alpha", "secret-beta"}
    finally:
        w.close()
