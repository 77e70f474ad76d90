"""The manager's event bus: what it announces, with which ids, and how listeners are called."""

from __future__ import annotations

import logging
import threading

from chatzoo_widget.events import (ColumnAdded, ColumnRemoved, ConversationCleared, ConversationResumed, Delta,
                                   TurnEnded, TurnStarted)
from chatzoo_widget.manager import ChatManager
from chatzoo_widget.testing import ScriptedBOT, wait_until


def ready_manager(*bots):
    m = ChatManager()
    events = []
    m.events.subscribe(events.append)
    cols = [m.add(b) for b in bots]
    assert wait_until(lambda: all(c.status == "ready" for c in cols))
    return m, cols, events


def of(events, kind, column=None):
    return [e for e in events if isinstance(e, kind) and (column is None or e.column_id == column.id)]


def test_a_turn_is_announced_with_its_conversation_turn_and_column():
    m, (a, b), events = ready_manager(ScriptedBOT("a", reply="one two three"), ScriptedBOT("b", reply="four five"))
    assert [(e.column_id, e.name) for e in of(events, ColumnAdded)] == [(a.id, "a"), (b.id, "b")]
    m.send("hi")
    assert m.wait(5)
    starts, ends = of(events, TurnStarted), of(events, TurnEnded)
    assert {e.column_id for e in starts} == {a.id, b.id} and starts[0].prompt == "hi"
    assert len({e.turn_id for e in starts + ends}) == 1, "the columns answering one prompt share its turn id"
    assert {e.conversation_id for e in starts + ends} == {m.conversation_id}
    for col, reply in ((a, "one two three"), (b, "four five")):
        column_events = [e for e in events if getattr(e, "column_id", None) == col.id]
        kinds = [type(e) for e in column_events]
        assert kinds[1] is TurnStarted and kinds[-1] is TurnEnded, "started first, ended last"
        assert "".join(e.text for e in of(events, Delta, col)) == reply
        (end,) = of(events, TurnEnded, col)
        assert end.entry["content"] == reply and end.error is None and end.turn == 0
    m.send("again")
    assert m.wait(5)
    assert of(events, TurnStarted)[-1].turn_id != starts[0].turn_id and of(events, TurnEnded)[-1].turn == 1


def test_clear_starts_a_new_conversation_and_remove_is_announced():
    m, (a, b), events = ready_manager(ScriptedBOT("a"), ScriptedBOT("b"))
    first = m.conversation_id
    m.send("hi")
    m.wait(5)
    m.clear()
    (cleared,) = of(events, ConversationCleared)
    assert cleared.previous_id == first and cleared.conversation_id == m.conversation_id != first
    m.send("next")
    m.wait(5)
    assert of(events, TurnEnded)[-1].conversation_id == m.conversation_id
    m.remove(b.id)
    assert [(e.column_id, e.name) for e in of(events, ColumnRemoved)] == [(b.id, "b")]
    m.resume_conversation("conv-saved")
    assert of(events, ConversationResumed)[-1].previous_id == cleared.conversation_id
    assert m.conversation_id == "conv-saved"


def test_a_failed_reply_ends_with_its_error():
    m, (a,), events = ready_manager(ScriptedBOT("a", fail_after=1))
    m.send("hi")
    m.wait(5)
    (end,) = of(events, TurnEnded)
    assert "scripted failure" in end.error and end.entry["stats"]["finish_reason"] == "error"


def test_listeners_run_outside_the_managers_lock():
    m, cols, _ = ready_manager(ScriptedBOT("a"), ScriptedBOT("b"))
    lock_free = []

    def listener(event):
        # Another thread must be able to take the manager's lock while a listener runs: it is not held.
        got = []
        t = threading.Thread(target=lambda: got.append(m._lock.acquire(timeout=2) and (m._lock.release() or True)))
        t.start()
        t.join()
        lock_free.append(bool(got and got[0]))

    m.events.subscribe(listener)
    m.send("hi")
    m.wait(5)
    m.clear()
    m.remove(cols[0].id)
    assert len(lock_free) > 6 and all(lock_free)


def test_a_listener_that_raises_is_logged_and_breaks_nothing(caplog):
    m, (a, b), _ = ready_manager(ScriptedBOT("a", reply="all of it"), ScriptedBOT("b"))
    after = []

    def broken(event):
        raise RuntimeError("listener bug")

    m.events.subscribe(broken)
    m.events.subscribe(after.append)
    with caplog.at_level(logging.ERROR, logger="chatzoo_widget.events"):
        m.send("hi")
        assert m.wait(5)
    assert m.replies()["a"] == "all of it", "the turn finished"
    assert len(of(after, TurnEnded)) == 2, "the next listener still got every event"
    assert any(r.exc_info and "listener bug" in str(r.exc_info[1]) for r in caplog.records)


def test_unsubscribe_and_close_stop_the_events():
    m, (a,), events = ready_manager(ScriptedBOT("a"))
    seen = []
    stop = m.events.subscribe(seen.append)
    stop()
    m.send("hi")
    m.wait(5)
    assert not seen and of(events, TurnEnded)
    count = len(events)
    m.close()
    m.events.emit(ColumnRemoved(conversation_id="x", column_id="y", name="z"))
    assert len(events) == count
