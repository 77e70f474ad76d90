"""Export, reload and restore a comparison; the reply table; DPO preference pairs."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from chatzoo_widget.compare import (FORMAT, Arena, VoteBook, export, export_preference_pairs, load, preference_pairs,
                                    restore, to_dataframe)
from chatzoo_widget.manager import ChatManager
from chatzoo_widget.testing import ScriptedBOT, wait_until


def loader(name, **options):
    return ScriptedBOT(name, reply=lambda q, n=name: f"{n} on {q[-1]['content']}")


def make(*names):
    m = ChatManager(loader=loader)
    for n in names:
        m.add(n)
    assert wait_until(lambda: all(c.status == "ready" for c in m.columns.values()))
    return m, VoteBook(m)


def turn(m, prompt):
    m.send(prompt)
    assert m.wait(5)


@pytest.fixture
def session():
    """Two conversations: one voted and cleared, one still on screen with a vote, a thumb and settings."""
    m, book = make("a", "b", "c")
    m.system_prompt = "Answer in English."
    m.set_settings("c", temperature=0.2)
    turn(m, "old question")
    book.vote("tie")
    m.clear()
    turn(m, "first")
    book.vote("b")
    turn(m, "second")
    book.vote("a")
    book.thumb("c", -1)
    return m, book


def test_table_has_one_row_per_reply_with_votes_and_thumbs(session):
    m, book = session
    df = to_dataframe(m, book)
    assert len(df) == 3 + 3 * 2  # the cleared conversation comes from its vote, the current one from histories
    cur = df[df["source"] == "current"].set_index(["turn", "column"])
    assert cur.loc[(1, "a"), "reply"] == "a on second" and cur.loc[(1, "a"), "prompt"] == "second"
    assert cur.loc[(1, "a"), "vote_result"] == "best" and cur.loc[(1, "b"), "vote_result"] == "worse"
    assert cur.loc[(0, "b"), "vote"] == "b" and cur.loc[(1, "c"), "thumb"] == -1
    assert cur.loc[(1, "c"), "settings"]["temperature"] == 0.2
    assert cur.loc[(1, "a"), "new_tokens"] == 3 and cur.loc[(1, "a"), "finish_reason"] == "stop"
    past = df[df["source"] == "vote"]
    assert set(past["prompt"]) == {"old question"} and set(past["vote_result"]) == {"tie"}


@pytest.mark.parametrize("ext", [".jsonl", ".csv"])
def test_flat_exports_are_the_table(session, tmp_path, ext):
    m, book = session
    path = export(tmp_path / f"cmp{ext}", m, book)
    if ext == ".jsonl":
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        assert rows[0]["settings"]["max_new_tokens"] == 64 and rows[0]["thumb"] is None
    else:
        rows = pd.read_csv(path).to_dict("records")
        assert json.loads(rows[0]["settings"])["max_new_tokens"] == 64
    assert len(rows) == 9 and {r["column"] for r in rows} == {"a", "b", "c"}
    assert sorted(r["reply"] for r in rows if r["turn"] == 1) == ["a on second", "b on second", "c on second"]


def test_json_export_load_restore_round_trip(session, tmp_path):
    m, book = session
    path = export(tmp_path / "cmp.json", m, book)
    doc = load(path)
    assert (doc["format"], doc["version"]) == (FORMAT, 1)
    assert [c["name"] for c in doc["columns"]] == ["a", "b", "c"] and doc["system_prompt"] == "Answer in English."
    # into a fresh session: columns are added, histories, settings, votes and thumbs come back
    m2 = ChatManager(loader=loader)
    book2 = VoteBook(m2)
    restore(doc, m2, book2)
    assert wait_until(lambda: all(c.status == "ready" for c in m2.columns.values()))
    before = {c["name"]: c["history"] for c in m.snapshot()}
    assert {c["name"]: c["history"] for c in m2.snapshot()} == before
    assert m2.effective_settings(m2.get("c"))["temperature"] == 0.2 and m2.system_prompt == "Answer in English."
    assert book2.votes == json.loads(json.dumps(book.votes)) and book2.thumbs == book.thumbs
    assert book2.conversation_id == book.conversation_id
    # the restored conversation goes on: re-voting its last turn replaces the saved vote
    book2.vote("c")
    assert [v["choice"] for v in book2.votes] == ["tie", "b", "c"]
    turn(m2, "third")
    assert m2.get("a").history[-1]["content"] == "a on third"


def test_export_refuses_unknown_extensions_and_missing_folders_without_losing_anything(session, tmp_path):
    m, book = session
    votes = [dict(v) for v in book.votes]
    with pytest.raises(ValueError, match=r"unsupported extension '\.xlsx'; supported: \.jsonl, \.json, \.csv"):
        export(tmp_path / "cmp.xlsx", m, book)
    missing = tmp_path / "nope"
    with pytest.raises(FileNotFoundError, match="the folder .*nope.* does not exist"):
        export(missing / "cmp.json", m, book)
    assert not missing.exists() and list(tmp_path.iterdir()) == []
    assert book.votes == votes and len(m.get("a").history) == 4
    export(tmp_path / "cmp.json", m, book)  # and it still works once the path is right


def test_load_says_what_is_wrong_and_where(tmp_path):
    m, book = make("a", "b")
    turn(m, "q")
    book.vote("a")
    good = json.loads(export(tmp_path / "good.json", m, book).read_text())

    def write(doc, name="bad.json"):
        path = tmp_path / name
        path.write_text(json.dumps(doc))
        return path

    with pytest.raises(ValueError, match="version 2 is not supported; this ChatZoo Widget reads version 1"):
        load(write({**good, "version": 2}))
    with pytest.raises(ValueError, match="not a ChatZoo Widget comparison"):
        load(write({"hello": 1}))
    cols = json.loads(json.dumps(good["columns"]))
    del cols[1]["history"][1]["content"]
    with pytest.raises(ValueError, match=r"bad.json: columns\[1\].history\[1\]: missing field 'content'"):
        load(write({**good, "columns": cols}))
    votes = json.loads(json.dumps(good["votes"]))
    del votes[0]["columns"][0]["model"]
    with pytest.raises(ValueError, match=r"votes\[0\].columns\[0\]: missing field 'model'"):
        load(write({**good, "votes": votes}))
    votes = json.loads(json.dumps(good["votes"]))
    votes[0]["choice"] = "zed"
    with pytest.raises(ValueError, match=r"votes\[0\].choice: 'zed' is none of its columns"):
        load(write({**good, "votes": votes}))
    with pytest.raises(ValueError, match="votes\\[0\\].turn: expected int, got str"):
        load(write({**good, "votes": [{**good["votes"][0], "turn": "0"}]}))
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load(tmp_path / "broken.json")
    with pytest.raises(ValueError, match="cannot be reloaded; export to .json"):
        load(export(tmp_path / "flat.csv", m, book))
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "absent.json")


def test_preference_pairs_in_trl_conversational_format(session, tmp_path):
    m, book = session
    pairs = preference_pairs(book)
    # the tie gives none; "b" best of 3 and "a" best of 3 give two pairs each
    assert len(pairs) == 4
    first = pairs[0]
    assert set(first) == {"prompt", "chosen", "rejected"}
    assert first["prompt"] == [{"role": "system", "content": "Answer in English."},
                               {"role": "user", "content": "first"}]
    assert first["chosen"] == [{"role": "assistant", "content": "b on first"}]
    assert [p["rejected"][0]["content"] for p in pairs[:2]] == ["a on first", "c on first"]
    # multi-turn: the prompt is the winner's conversation so far
    assert pairs[2]["prompt"] == [{"role": "system", "content": "Answer in English."},
                                  {"role": "user", "content": "first"},
                                  {"role": "assistant", "content": "a on first"},
                                  {"role": "user", "content": "second"}]
    assert pairs[2]["chosen"][0]["content"] == "a on second"
    meta = preference_pairs(book, metadata=True)[0]
    assert (meta["chosen_model"], meta["rejected_model"], meta["turn"]) == ("b", "a", 0)
    path = export_preference_pairs(tmp_path / "pairs.jsonl", book)
    assert [json.loads(x) for x in path.read_text().splitlines()] == pairs
    with pytest.raises(ValueError, match="not .csv"):
        export_preference_pairs(tmp_path / "pairs.csv", book)


def test_identical_replies_and_ties_give_no_pairs():
    m = ChatManager()
    for n in ("x", "y"):
        m.add(ScriptedBOT(n, reply="same"))
    wait_until(lambda: all(c.status == "ready" for c in m.columns.values()))
    book = VoteBook(m)
    turn(m, "q")
    book.vote("x")
    assert preference_pairs(book) == []
    book.vote("bad")
    assert preference_pairs(book.votes) == []


def test_restore_into_an_arena_shows_a_voted_conversation_with_names(session, tmp_path):
    m, book = session
    doc = load(export(tmp_path / "cmp.json", m, book))
    m2 = ChatManager(loader=loader)
    arena = Arena(seed=0)
    book2 = VoteBook(m2, arena)
    restore(doc, m2, book2)
    assert wait_until(lambda: all(c.status == "ready" for c in m2.columns.values()))
    shown = arena.display(m2.snapshot())
    assert sorted(c["real_name"] for c in shown) == ["a", "b", "c"] and not any(c["blind"] for c in shown)
