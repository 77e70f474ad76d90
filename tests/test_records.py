"""The record types (chatzoo_widget/records/): the records the code makes are the declared ones, the loader
checks them naming the record and the field, an export reloads every field, and js/src/records.ts follows them."""

from __future__ import annotations

import copy
import json
import pathlib
import subprocess
import sys

import pytest

from chatzoo_widget import records
from chatzoo_widget.bots.base import ReplyStats
from chatzoo_widget.compare import JudgeBook, VoteBook, comparison_document, export, load, run_batch, to_dataframe
from chatzoo_widget.compare.manifest import manifest
from chatzoo_widget.manager import ChatManager
from chatzoo_widget.records import (BATCH_COLUMNS, JUDGED_BATCH_COLUMNS, TABLE_COLUMNS, ComparisonDocument, Entry,
                                    Judgment, Manifest, check, fields)
from chatzoo_widget.testing import ScriptedBOT, wait_until

ROOT = pathlib.Path(__file__).resolve().parents[1]
RECORDS_TS = ROOT / "js" / "src" / "records.ts"


def thinking_reply(name):
    return lambda q: f"<think>{name} thinks</think>{name} says {q[-1]['content']}"


def judge_bot():
    """Prefers the answer shown first when it names column a (a verdict for one pair, ties for the others)."""
    return ScriptedBOT("judge", reply=lambda q: "A is better. [[A]]" if "a says" in q[-1]["content"].split(
        "Assistant B's Answer")[0] else "Alike. [[C]]")


@pytest.fixture
def session():
    """Every kind of record: thinking replies, a vote, a thumb, a continue-with, an edited prompt, judgments."""
    m = ChatManager(loader=lambda name, **o: ScriptedBOT(name, reply=thinking_reply(name)))
    for name in ("a", "b", "c"):
        m.add(name)
    assert wait_until(lambda: all(c.status == "ready" for c in m.columns.values()))
    m.system_prompt = "Be brief."
    m.set_settings("b", temperature=0.3)
    book = VoteBook(m)
    m.send("first")
    assert m.wait(5)
    book.vote("a")
    book.thumb("b", -1)
    m.continue_with(m.get("a").id)
    m.send("second")
    assert m.wait(5)
    m.edit_last("second, again")
    assert m.wait(5)
    judges = JudgeBook(m, book)
    judges.judge(judge_bot()).wait(10)
    assert judges.judgments
    yield m, book, judges
    m.close()


def document(session) -> dict:
    m, book, judges = session
    return json.loads(json.dumps(comparison_document(m, book, judgments=judges.judgments, with_manifests=True)))


# ----- the records the code makes are the declared ones ------------------------------------------------
def test_every_record_in_an_export_is_declared(session):
    doc = document(session)
    check(doc, ComparisonDocument, "export", strict=True)  # strict: a key the types lack fails
    entries = [e for c in doc["columns"] for e in c["history"]]
    keys = {k for e in entries for k in e}
    assert {"reasoning", "continued_with", "alternatives", "edited", "rendered_prompt"} <= keys
    assert doc["votes"] and doc["thumbs"] and doc["judgments"] and set(doc["manifests"]) == {"a", "b", "c"}


def test_reply_stats_are_the_stats_record():
    stats = ReplyStats(prompt_tokens=3, new_tokens=2, rendered_prompt="x", prefill_done=3).to_dict()
    assert tuple(stats) == fields(records.Stats)
    check(stats, records.Stats, strict=True)


def test_manifests_and_history_entries_are_declared(session):
    m, _, _ = session
    for column in m.columns.values():
        check(manifest(m, column.id), Manifest, "manifest", strict=True)
        for i, entry in enumerate(column.history):
            check(entry, Entry, f"history[{i}]", strict=True)


def test_tables_have_the_declared_columns(session):
    m, book, judges = session
    for columns in (TABLE_COLUMNS, BATCH_COLUMNS):  # each table shows the table statistics, in their order
        assert [c for c in columns if c in records.TABLE_STATS] == list(records.TABLE_STATS)
    assert list(to_dataframe(m, book).columns) == TABLE_COLUMNS
    df = run_batch(m, ["one", ["two", "three"]], judge=judge_bot())
    assert list(df.columns) == JUDGED_BATCH_COLUMNS and JUDGED_BATCH_COLUMNS[:len(BATCH_COLUMNS)] == BATCH_COLUMNS
    assert df.attrs["judgments"]
    for j in df.attrs["judgments"]:
        check(j, Judgment, "batch judgment", strict=True)
    assert list(run_batch(m, ["one"]).columns) == BATCH_COLUMNS


# ----- export -> load keeps every field ------------------------------------------------------------------
def test_json_export_reloads_every_field(session, tmp_path):
    m, book, judges = session
    written = json.loads(export(tmp_path / "run.json", m, book, judgments=judges.judgments).read_text())
    assert load(tmp_path / "run.json") == written  # nothing dropped, nothing changed, nothing added
    assert written["columns"][0]["history"][1]["reasoning"] == "a thinks"
    assert written["votes"][0]["columns"][1]["reasoning"] == "b thinks"


def test_an_older_file_without_optional_fields_loads_with_them_filled(session, tmp_path):
    doc = document(session)
    for key in ("thumbs", "judgments", "arena", "manifests", "system_prompt", "conversation", "exported_at"):
        del doc[key]
    for vote in doc["votes"]:
        for key in ("outcome", "winner", "blind", "timestamp"):
            del vote[key]
        for col in vote["columns"]:
            for key in ("history", "stats", "system_prompt", "label", "id", "reasoning", "rendered_prompt"):
                del col[key]
    (tmp_path / "old.json").write_text(json.dumps(doc))
    loaded = load(tmp_path / "old.json")
    assert loaded["thumbs"] == [] and loaded["judgments"] == [] and loaded["arena"] is None
    vote = loaded["votes"][0]
    assert (vote["outcome"], vote["winner"], vote["blind"]) == ("best", "a", False)
    assert vote["columns"][0]["history"] == [] and vote["columns"][0]["stats"] == {}


# ----- the loader names the record and the field ----------------------------------------------------------
def _drop(key):
    return lambda obj: obj.pop(key)


def _set(key, value):
    return lambda obj: obj.__setitem__(key, value)


BREAKS = [
    # (where in the document, what to do there, the message)
    (lambda d: d["columns"][0]["history"][1], _drop("turn"),
     "run.json: columns[0].history[1]: missing field 'turn' (Entry records need role, content, turn)"),
    (lambda d: d["columns"][0]["history"][0], _set("role", "USER"),
     "run.json: columns[0].history[0].role: expected 'HUMAN' or 'BOT', got 'USER' (Entry.role)"),
    (lambda d: d["columns"][0]["history"][1]["stats"], _set("new_tokens", "3"),
     "run.json: columns[0].history[1].stats.new_tokens: expected int or null, got str (Stats.new_tokens)"),
    (lambda d: d["columns"][1]["history"][1]["alternatives"][0], _drop("content"),
     "run.json: columns[1].history[1].alternatives[0]: missing field 'content' (Entry records need role, content, "
     "turn)"),
    (lambda d: d["columns"][0]["history"][2]["edited"][0], _set("prompt", 7),
     "run.json: columns[0].history[2].edited[0].prompt: expected str, got int (EditedTurn.prompt)"),
    (lambda d: d["columns"][2], _set("settings", []),
     "run.json: columns[2].settings: expected object, got list (SavedColumn.settings)"),
    (lambda d: d["votes"][0], _set("turn", "0"), "run.json: votes[0].turn: expected int, got str (Vote.turn)"),
    (lambda d: d["votes"][0]["columns"][1], _drop("reply"),
     "run.json: votes[0].columns[1]: missing field 'reply' (ReplyRecord records need name, model, settings, reply)"),
    (lambda d: d["thumbs"][0], _set("value", "down"), "run.json: thumbs[0].value: expected int, got str (Thumb.value)"),
    (lambda d: d["judgments"][0], _set("orders", ["A", "D"]),
     "run.json: judgments[0].orders[1]: expected 'A' or 'B' or 'C' or null, got 'D' (Judgment.orders)"),
    (lambda d: d["judgments"][0], _drop("judge"),
     "run.json: judgments[0]: missing field 'judge' (Judgment records need conversation, turn, a, b, orders, "
     "rationales, judge)"),
    (lambda d: d["manifests"]["a"], _set("keep_reasoning", "yes"),
     "run.json: manifests.a.keep_reasoning: expected bool or null, got str (Manifest.keep_reasoning)"),
    (lambda d: d, _set("thumbs", None), "run.json: thumbs: expected list, got null (ComparisonDocument.thumbs)"),
    (lambda d: d["votes"], lambda votes: votes.append("tie"),
     "run.json: votes[1]: expected a Vote record (an object), got str"),
]


@pytest.mark.parametrize("where, damage, message", BREAKS, ids=[b[2].split(":")[1].strip() for b in BREAKS])
def test_load_rejects_a_missing_or_ill_typed_field_naming_the_record_and_field(session, tmp_path, where, damage,
                                                                                message):
    doc = document(session)
    export_path = tmp_path / "run.json"
    export_path.write_text(json.dumps(doc))
    load(export_path)  # the undamaged document loads
    damage(where(doc))
    export_path.write_text(json.dumps(doc))
    with pytest.raises(ValueError) as raised:
        load(export_path)
    assert str(raised.value) == message


def test_unknown_fields_load_but_fail_the_strict_check(session):
    doc = document(session)
    doc["votes"][0]["note"] = "from a newer version"
    check(copy.deepcopy(doc), ComparisonDocument, "run.json")
    with pytest.raises(ValueError, match=r"run.json: votes\[0\]: field 'note' is not declared in records.Vote"):
        check(doc, ComparisonDocument, "run.json", strict=True)


# ----- js/src/records.ts is generated from the records -----------------------------------------------------
def test_records_ts_is_up_to_date():
    assert RECORDS_TS.read_text(encoding="utf-8") == records.typescript(), (
        "js/src/records.ts is out of date: run `python -m chatzoo_widget.records --ts > js/src/records.ts`")


def test_a_field_added_in_python_only_makes_records_ts_stale():
    class Thumb(records.Thumb):  # the thumb record with one more field, as a careless change would make it
        note: str

    generated = records.typescript(tuple(Thumb if r is records.Thumb else r for r in records.RECORDS))
    assert "  note: string;\n}" in generated
    assert generated != RECORDS_TS.read_text(encoding="utf-8")


def test_the_generator_command_prints_records_ts():
    out = subprocess.run([sys.executable, "-m", "chatzoo_widget.records", "--ts"], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    assert out.stdout == records.typescript()
