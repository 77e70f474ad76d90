"""Votes and thumbs on a real ChatManager with scripted columns, and the blind arena."""

from __future__ import annotations

import pytest

from chatzoo_widget.compare import Arena, VoteBook, leaderboard
from chatzoo_widget.manager import ChatManager
from chatzoo_widget.testing import ScriptedBOT, wait_until


def says(name):
    return ScriptedBOT(name, reply=lambda q, n=name: f"{n} on {q[-1]['content']}")


def make(*names, arena=None, **bots):
    m = ChatManager()
    for n in names:
        m.add(says(n))
    for n, bot in bots.items():
        m.add(bot, name=n)
    assert wait_until(lambda: all(c.status == "ready" for c in m.columns.values()))
    return m, VoteBook(m, arena)


def turn(m, prompt):
    m.send(prompt)
    assert m.wait(5)


def test_vote_needs_a_finished_turn():
    m, book = make("a", slow=ScriptedBOT("slow", reply="w " * 50, delay=0.02))
    with pytest.raises(ValueError, match="nothing to vote on yet"):
        book.vote("a")
    m.send("hi")
    with pytest.raises(ValueError, match="still answering"):
        book.vote("a")
    assert book.state()["can_vote"] is False
    m.stop()
    m.wait(5)
    assert book.vote("a")["choice"] == "a"  # a stopped reply is a finished one


def test_unknown_choice_lists_the_valid_ones():
    m, book = make("a", "b")
    turn(m, "hi")
    with pytest.raises(ValueError, match=r"unknown choice 'c': choose one of 'a', 'b', 'tie', 'bad'"):
        book.vote("c")
    with pytest.raises(ValueError, match="choose one of"):
        book.vote(None)


def test_a_vote_keeps_everything_it_needs():
    m, book = make("a", "b")
    m.system_prompt = "Be brief."
    m.set_settings("b", temperature=0.3)
    turn(m, "first")
    turn(m, "second")
    v = book.vote("b")
    assert (v["turn"], v["choice"], v["outcome"], v["winner"], v["prompt"]) == (1, "b", "best", "b", "second")
    assert v["conversation"] == book.conversation_id and v["timestamp"]
    a, b = v["columns"]
    assert (a["name"], a["model"], a["reply"]) == ("a", "a", "a on second")
    assert b["settings"]["temperature"] == 0.3 and b["system_prompt"] == "Be brief."
    assert b["history"] == [{"role": "HUMAN", "content": "first"}, {"role": "BOT", "content": "b on first"}]
    assert b["stats"]["finish_reason"] == "stop" and b["stats"]["new_tokens"] == 3


def test_revote_replaces_until_the_next_turn_then_the_vote_is_frozen():
    m, book = make("a", "b")
    turn(m, "q1")
    book.vote("a")
    book.vote("tie")
    assert [(v["turn"], v["choice"]) for v in book.votes] == [(0, "tie")]
    assert book.state()["current"] == "tie"
    turn(m, "q2")
    assert book.state()["current"] is None
    book.vote("b")  # applies to turn 1; the turn-0 vote can no longer change
    book.vote("bad")
    assert [(v["turn"], v["choice"]) for v in book.votes] == [(0, "tie"), (1, "bad")]


def test_regenerate_then_revote_replaces_with_the_new_replies():
    counter = iter(range(100))
    m, book = make("a", b=ScriptedBOT("b", reply=lambda q: f"take {next(counter)}"))
    turn(m, "q")
    book.vote("b")
    m.regenerate()
    m.wait(5)
    book.vote("b")
    assert len(book.votes) == 1 and book.votes[0]["columns"][1]["reply"] == "take 1"


def test_votes_survive_clear_and_a_new_conversation_begins():
    m, book = make("a", "b")
    turn(m, "q")
    book.vote("a")
    first = book.conversation_id
    m.clear()
    assert book.conversation_id == m.conversation_id != first and len(book.votes) == 1
    with pytest.raises(ValueError, match="nothing to vote on"):
        book.vote("a")
    turn(m, "q")
    book.vote("b")  # same turn index, new conversation: a second vote
    assert [(v["conversation"], v["choice"]) for v in book.votes] == [(first, "a"), (book.conversation_id, "b")]


def test_clear_then_send_between_observations_is_still_a_new_conversation():
    m, book = make("a", "b")
    turn(m, "one")
    book.vote("a")
    first = book.conversation_id
    m.clear()
    turn(m, "one")  # nobody looked at the empty state, and the histories look just as before
    assert book.conversation_id != first
    book.vote("b")
    assert [v["choice"] for v in book.votes] == ["a", "b"]  # the first vote was not replaced


def test_a_column_added_mid_conversation_joins_from_its_first_reply():
    m, book = make("a", "b")
    turn(m, "q1")
    c = m.add(says("c"))
    wait_until(lambda: c.status == "ready")
    assert [x["name"] for x in book.latest_turn()["columns"]] == ["a", "b"]
    turn(m, "q2")
    assert [x["name"] for x in book.vote("c")["columns"]] == ["a", "b", "c"]


def test_thumbs_up_down_replace_and_take_back():
    m, book = make("a", "b")
    turn(m, "q1")
    turn(m, "q2")
    book.thumb("a", 1)
    book.thumb("b", -1, turn=0)
    book.thumb("a", -1)  # replaces
    assert sorted((t["column"], t["turn"], t["value"]) for t in book.thumbs) == [("a", 1, -1), ("b", 0, -1)]
    assert book.state()["thumbs"] == {m.get("a").id: {"1": -1}, m.get("b").id: {"0": -1}}
    assert next(t for t in book.thumbs if t["column"] == "a")["reply"] == "a on q2"
    book.thumb("a", 0)
    assert [t["column"] for t in book.thumbs] == ["b"]
    with pytest.raises(ValueError, match=r"\+1 \(up\), -1 \(down\)"):
        book.thumb("a", 2)
    with pytest.raises(ValueError, match="no finished reply for turn 5"):
        book.thumb("a", 1, turn=5)
    with pytest.raises(KeyError, match="no column named 'zz'"):
        book.thumb("zz", 1)


# ----- arena ------------------------------------------------------------------------------------------
def widget_like(seed, names=("alpha", "beta", "gamma", "delta")):
    """As the widget does it: manager and book first, then the models."""
    m = ChatManager()
    arena = Arena(seed=seed)
    book = VoteBook(m, arena)  # follows the manager's events: nothing to wire
    for n in names:
        m.add(says(n))
    assert wait_until(lambda: all(c.status == "ready" for c in m.columns.values()))
    return m, book, arena


def test_arena_hides_names_models_and_settings_until_the_vote():
    m, book, arena = widget_like(seed=7)
    m.set_settings("beta", temperature=0.2)
    shown = arena.display(m.snapshot())
    assert [c["name"] for c in shown] == ["Model A", "Model B", "Model C", "Model D"]
    assert all(c["blind"] and c["model"] == "" and c["settings"] == {} and c["spec"] == [] and c["family"] == ""
               and c["real_name"] is None for c in shown)
    turn(m, "hello")
    assert book.choices()[:4] == ["Model A", "Model B", "Model C", "Model D"]
    picked = shown[1]["id"]
    v = book.vote("Model B")
    assert v["choice"] == m.columns[picked].name and v["blind"] is True
    assert {c["label"] for c in v["columns"]} == {"Model A", "Model B", "Model C", "Model D"}
    revealed = arena.display(m.snapshot())
    assert [c["id"] for c in revealed] == [c["id"] for c in shown]  # same order within the conversation
    assert all(not c["blind"] and c["name"] == c["real_name"] != c["label"] for c in revealed)
    assert next(c for c in revealed if c["real_name"] == "beta")["settings"]["temperature"] == 0.2


def test_arena_shuffles_each_conversation_and_is_blind_again_after_clear():
    m, book, arena = widget_like(seed=1)
    orders = []
    for i in range(8):
        orders.append(tuple(c["real_name"] or m.columns[c["id"]].name for c in arena.display(m.snapshot())))
        turn(m, f"q{i}")
        book.vote("tie")
        assert not arena.blind()
        m.clear()
        assert arena.blind() and book.conversation_id == arena.current
    assert len(set(orders)) > 1, "the order must change between conversations"
    # seeded: the same calls give the same orders
    m2, book2, arena2 = widget_like(seed=1)
    assert tuple(m2.columns[c["id"]].name for c in arena2.display(m2.snapshot())) == orders[0]


def test_columns_added_before_the_first_prompt_are_shuffled_too():
    firsts = set()
    for seed in range(12):
        m, book, arena = widget_like(seed=seed)
        firsts.add(m.columns[arena.display(m.snapshot())[0]["id"]].name)
    assert len(firsts) > 1, "the first column shown must not always be the first model added"


def test_arena_scrubs_names_from_errors_and_loading_messages():
    arena = Arena(seed=0)
    snap = [{"id": "c1", "name": "secret-7b", "model": "org/secret-7b", "family": "x", "status": "error",
             "error": "no model at 'org/secret-7b'", "progress": "Loading org/secret-7b…", "settings": {"t": 1},
             "spec": [{}], "history": []}]
    shown = arena.display(snap)[0]
    assert "secret" not in repr(shown).replace("'real_name': None", "")
    assert shown["error"] == "no model at 'a model'" and shown["progress"] == "Loading…"


def test_arena_votes_feed_the_leaderboard_by_real_names():
    m, book, arena = widget_like(seed=3, names=("alpha", "beta"))
    for i in range(3):
        turn(m, f"q{i}")
        label = next(c["label"] for c in arena.display(m.snapshot()) if m.columns[c["id"]].name == "alpha")
        book.vote(label)
        m.clear()
    board = leaderboard(book, rounds=20, seed=0)
    assert board["contestant"].tolist() == ["alpha", "beta"] and board["wins"].tolist() == [3, 0]


def test_histories_replaced_by_copies_stay_the_same_conversation():
    # The manager announces conversations: copies of the same entries (a restore, an edit) are no new one, so the
    # vote on this turn is replaced rather than doubled and the arena keeps its labels.
    m, book, arena = widget_like(seed=3, names=("alpha", "beta"))
    turn(m, "q")
    conv, labels = book.conversation_id, dict(arena.round().labels)
    book.vote("tie")
    m.set_histories({cid: [dict(e) for e in h] for cid, h in m.histories().items()})
    assert book.conversation_id == conv and arena.round().labels == labels
    assert not arena.blind(), "the revealed names stay revealed"
    book.vote("alpha")
    assert [(v["conversation"], v["choice"]) for v in book.votes] == [(conv, "alpha")]


def test_removing_every_column_keeps_the_conversation_and_its_votes():
    m, book = make("a", "b")
    turn(m, "q")
    book.vote("a")
    conv = book.conversation_id
    for cid in list(m.columns):
        m.remove(cid)
    m.add(says("c"))
    book.state()  # what the widget reads after each change
    assert book.conversation_id == conv and book.votes[0]["conversation"] == conv
