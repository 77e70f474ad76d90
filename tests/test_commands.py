"""The command table: every browser action gets one answer carrying its request id, success or error."""

from __future__ import annotations

import pathlib
import re

import pytest

from chatzoo_widget import ChatZooWidget
from chatzoo_widget.commands import COMMANDS
from chatzoo_widget.testing import ScriptedBOT, command, front_end, wait_until

COMMANDS_TS = pathlib.Path(__file__).parents[1] / "js" / "src" / "commands.ts"


@pytest.fixture
def widget(sent):
    w = ChatZooWidget([ScriptedBOT("a")])
    assert wait_until(lambda: w.columns[0]["status"] == "ready")
    yield w
    w.close()


def answers(sent):
    return [m for m in sent if m.get("kind") == "answer"]


def test_an_accepted_command_answers_ok_with_its_id(widget, sent):
    front_end(widget, kind="command", id="view1-7", name="send", args={"prompt": "hi"})
    assert answers(sent) == [{"kind": "answer", "id": "view1-7", "name": "send", "ok": True, "result": None}]
    widget.wait(10)
    assert widget.history["a"][0]["content"] == "hi"


def test_an_unknown_command_gets_an_error_answer_naming_it(widget, sent):
    front_end(widget, kind="command", id="v-1", name="explode", args={})
    [answer] = answers(sent)
    assert answer["id"] == "v-1" and answer["ok"] is False and "result" not in answer
    assert "unknown command 'explode'" in answer["error"] and "send" in answer["error"]  # lists the known ones


@pytest.mark.parametrize("name, args, says", [
    ("send", {}, "command 'send' needs the argument 'prompt'"),
    ("send", {"prompt": "x", "when": "now"}, "command 'send' got an unknown argument 'when' (it takes prompt)"),
    ("send", {"prompt": 5}, "command 'send': 'prompt' must be a string, not a whole number"),
    ("thumb", {"column": "c", "value": True}, "'value' must be a whole number or null, not true or false"),
    ("set_settings", {"column": "c", "settings": [1]}, "'settings' must be an object, not a list"),
    ("clear", {"now": 1}, "got an unknown argument 'now' (it takes no arguments)"),
    ("stop", ["c1"], "command 'stop': args must be an object, not list"),
])
def test_bad_arguments_get_an_error_answer_naming_the_argument(widget, sent, name, args, says):
    front_end(widget, kind="command", id="bad-1", name=name, args=args)
    [answer] = answers(sent)
    assert answer["ok"] is False and answer["id"] == "bad-1" and answer["name"] == name
    assert says in answer["error"]
    assert widget.history["a"] == []  # nothing ran


def test_a_refused_action_answers_with_the_reason(widget):
    answer = command(widget, "send", prompt="   ")
    assert answer["ok"] is False and "empty" in answer["error"]
    answer = command(widget, "stop", column="no-such-column")
    assert answer["ok"] is False and "no column named" in answer["error"]  # KeyError's message, without quotes
    assert not answer["error"].startswith("'")


def test_an_unexpected_failure_still_answers(widget, monkeypatch):
    monkeypatch.setattr(widget.manager, "regenerate", lambda: None.attribute)
    answer = command(widget, "regenerate")
    assert answer["ok"] is False and answer["error"].startswith("AttributeError: ")


def test_each_answer_carries_its_own_id(widget, sent):
    front_end(widget, kind="command", id="left-1", name="send", args={"prompt": "one"})
    front_end(widget, kind="command", id="right-1", name="send", args={"prompt": ""})
    by_id = {a["id"]: a for a in answers(sent)}
    assert by_id["left-1"]["ok"] is True and by_id["right-1"]["ok"] is False


def test_results_come_back_in_the_answer(widget, sent):
    answer = command(widget, "export")
    assert answer["ok"] and answer["result"]["filename"] == "chatzoo-comparison.json"
    assert [c["name"] for c in answer["result"]["document"]["columns"]] == ["a"]
    assert not [m for m in sent if m.get("kind") == "export_data"]  # only in the answer: no broadcast of its own


def test_messages_that_are_not_commands_get_no_answer(widget, sent):
    front_end(widget, kind="send", prompt="the old protocol")
    front_end(widget, kind="anywidget-command", id="x", name="send", msg={})
    assert answers(sent) == [] and widget.history["a"] == []


def test_the_front_end_knows_every_command_and_no_other():
    # js/src/commands.ts declares each command's arguments in one interface; the two tables must agree.
    source = COMMANDS_TS.read_text()
    body = re.search(r"export interface CommandArgs \{(.*?)\n\}", source, re.S).group(1)
    declared = set(re.findall(r"^\s+(\w+): ", body, re.M))
    assert declared == set(COMMANDS)


def test_a_command_written_with_postponed_annotations_checks_its_arguments(widget, sent, monkeypatch):
    # this module has `from __future__ import annotations`: the handler's annotations are strings here
    from chatzoo_widget import commands

    def rename_twice(w, name: str, times: int | None = None) -> str:
        return name * (times or 2)

    monkeypatch.setitem(COMMANDS, "rename_twice", None)  # removed again after the test
    commands.command(rename_twice)
    front_end(widget, kind="command", id="v-9", name="rename_twice", args={"name": "ab", "times": "3"})
    front_end(widget, kind="command", id="v-10", name="rename_twice", args={"name": "ab", "times": 3})
    bad, good = answers(sent)
    assert bad["ok"] is False
    assert bad["error"] == "command 'rename_twice': 'times' must be a whole number or null, not a string"
    assert good == {"kind": "answer", "id": "v-10", "name": "rename_twice", "ok": True, "result": "ababab"}
