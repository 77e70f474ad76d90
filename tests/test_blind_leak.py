"""Arena mode: while a conversation is blind, no byte that goes to the browser names a column's model or name.

Everything is recorded beneath the widget, at the comm (every comm_open and comm_msg: synced state, custom
messages, echoes), plus what reaches stdout and stderr (a kernel forwards those into cells). The models carry
secret strings, so any leak, however it got out, is found by a plain substring search.
"""

from __future__ import annotations

import json
import threading

import comm
import pytest

from chatzoo_widget import ChatZooWidget, commands
from chatzoo_widget.bots.process import free_port
from chatzoo_widget.compare.blind import BlindFilter
from chatzoo_widget.testing import ScriptedBOT, command, wait_until

SECRETS = ["zq-alpha-7f3e", "zq-alpha-model-x1", "zq-beta-91c2", "zq-gamma-c0de", "zq-delta-ckpt",
           "zq-remote-e5", "zq-remote-model-id", "zq-eps-added", "zq-zeta-unknown"]


class Wire:
    """Every byte the kernel would send to the browser, in order."""

    def __init__(self) -> None:
        self.chunks: list[str] = []
        self.lock = threading.Lock()

    def record(self, msg_type: str, data, metadata, buffers) -> None:
        text = json.dumps({"type": msg_type, "data": data, "metadata": metadata}, default=str, ensure_ascii=False)
        text += "".join(bytes(b).decode("latin-1") for b in buffers or [])
        with self.lock:
            self.chunks.append(text)

    def mark(self) -> int:
        with self.lock:
            return len(self.chunks)

    def since(self, mark: int = 0) -> str:
        with self.lock:
            return "\n".join(self.chunks[mark:])

    def messages(self, mark: int = 0) -> list[dict]:
        with self.lock:
            return [json.loads(c) for c in self.chunks[mark:]]


@pytest.fixture
def wire(monkeypatch):
    w = Wire()

    class RecordingComm(comm.DummyComm):
        def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
            w.record(msg_type, data, metadata, buffers)

    monkeypatch.setattr(comm, "create_comm", lambda *a, **k: RecordingComm(*a, **k))
    return w


def leaks(text: str) -> list[str]:
    low = text.lower()
    return [s for s in SECRETS if s in low]


class ExplodingBOT(ScriptedBOT):
    """Fails mid-reply with an error that names its model, its path and its URL, as real failures do."""

    def stream_generate(self, request):
        yield "partial "
        raise RuntimeError(f"CUDA error in {self.name} (/models/zq-gamma-c0de/model.safetensors); "
                           f"also see zq-alpha-7f3e")


def labels(w) -> dict[str, str]:
    """Real name -> label, read on the Python side (which keeps the real names)."""
    rnd = w._arena.round(w._book.conversation_id)
    return {w.manager.columns[cid].name: label for cid, label in rnd.labels.items() if cid in w.manager.columns}


@pytest.mark.timeout(120)
def test_nothing_sent_to_the_browser_names_a_model_while_blind(wire, capfd):
    dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    w = ChatZooWidget([
        {"name": "zq-alpha-7f3e", "model": ScriptedBOT("zq-alpha-model-x1", reply="the sky is blue today", delay=0.02)},
        {"name": "zq-beta-91c2", "model": ScriptedBOT("zq-beta-91c2", reply="grass is green they say", delay=0.02)},
        {"name": "zq-gamma-c0de", "model": ExplodingBOT("zq-gamma-c0de")},
        "/nonexistent/zq-delta-ckpt",                                     # its load fails, naming the path
        {"name": "zq-remote-e5", "url": dead, "model": "zq-remote-model-id", "settings": {"max_new_tokens": 8}},
    ], arena=True, seed=7)
    assert w.wait(30)
    ids = list(w.manager.columns)
    # opaque ids: random, of one length, never the add order (c0, c1, ...)
    assert len({len(c) for c in ids}) == 1 and len(ids[0]) > 8 and ids != [f"c{i}" for i in range(len(ids))], ids

    # send; the failing model, the failed load and the dead server all report errors
    w.send("what colour is the sky?", wait=True, timeout=60)
    errors = [c["history"][-1]["stats"]["error"] for c in w.manager.snapshot()
              if c["history"] and c["history"][-1]["stats"]["finish_reason"] == "error"]
    assert any("zq-gamma-c0de" in e for e in errors) and any("127.0.0.1" in e for e in errors), errors
    # send while busy (the refusal names the busy columns), then stop
    w.send("a slow one", wait=False)
    assert "still answering" in command(w, "send", prompt="too soon")["error"]
    assert command(w, "stop", column=None)["ok"]
    w.wait(30)
    # a command naming an unknown column lists the columns: the real names in the kernel, labels in the answer
    raw = commands.run(w, {"kind": "command", "id": "raw", "name": "stop", "args": {"column": "no-such-column"}})
    assert "zq-beta-91c2" in raw["error"]
    mark = wire.mark()
    answer = command(w, "stop", column="no-such-column")
    on_the_wire = [m["data"]["content"] for m in wire.messages(mark) if m["data"].get("content", {}).get("kind") == "answer"]
    assert len(on_the_wire) == 1 and "no column named" in on_the_wire[0]["error"] and "Model A" in on_the_wire[0]["error"]
    assert not leaks(json.dumps(on_the_wire))
    assert answer == on_the_wire[0]  # what `command` returns is what the browser got
    assert command(w, "regenerate")["ok"]
    w.wait(30)
    # a refused setting, on a shown column
    alpha = next(cid for cid, c in w.manager.columns.items() if c.name == "zq-alpha-7f3e")
    assert command(w, "set_settings", column=alpha, settings={"temperature": 99})["error"]
    # remove the failed load; add a model through the "+" form (unknown: its load fails) and from Python
    delta = next(cid for cid, c in w.manager.columns.items() if "zq-delta-ckpt" in c.model)
    assert command(w, "remove_model", column=delta)["ok"]
    assert command(w, "add_model", name="", model="zq-zeta-unknown")["ok"]
    w.add_model(ScriptedBOT("zq-eps-added", reply="late arrival here"))
    assert w.wait(30)
    assert command(w, "thumb", column=alpha, value=1, turn=1)["ok"]
    assert command(w, "set_settings", column="zq-zeta-unknown", settings={"temperature": 0.5})["error"]
    # a batch run (the vote bar must offer the vote again afterwards)
    df = w.run_batch(["name a fruit", ["my name is Ada", "what is my name?"]])
    assert len(df) and "zq-alpha-7f3e" in set(df["column"])  # the Python side keeps the real names
    assert "batch" not in (w.vote_state.get("reason") or "")
    assert command(w, "export")["ok"]
    exported = [m["data"]["content"]["result"] for m in wire.messages()
                if m["data"].get("content", {}).get("name") == "export"]
    assert exported and exported[-1]["document"]["columns"][0]["name"].startswith("Model ")
    # the download's own blind shape: labelled columns in label order, without models or settings
    shown = exported[-1]["document"]["columns"]
    assert [c["name"] for c in shown] == sorted(c["name"] for c in shown)
    assert all(c["model"] == "" and c["settings"] == {} for c in shown)
    # the column models, history messages, frames and a reply's fetched details all went through the filter
    detail = command(w, "entry_detail", column=alpha, turn=0)
    assert detail["ok"], detail["error"]
    assert detail["result"]["rendered_prompt"] is None and detail["result"]["prompt_hidden"]
    sent_kinds = {m["data"].get("content", {}).get("kind") for m in wire.messages()}
    assert {"entries", "frame", "answer"} <= sent_kinds
    assert sum(m["type"] == "comm_open" and "info" in m["data"]["state"] for m in wire.messages()) >= 5
    before_vote = wire.since()
    out, err = capfd.readouterr()
    assert not leaks(before_vote), leaks(before_vote)
    assert not leaks(out + err), (out + err)[-2000:]
    # the Python API keeps the names
    assert {"zq-alpha-7f3e", "zq-beta-91c2"} <= set(w.history)
    # messages about several columns list their labels in label order, never in the order models were added
    text = " ".join(json.dumps(m) for m in wire.messages())
    assert "still answering" in text and "Model B, Model A" not in text and "Model C, Model A" not in text

    # the vote reveals: the names now show
    mark = wire.mark()
    assert command(w, "vote", choice=labels(w)["zq-beta-91c2"])["ok"]
    after = wire.since(mark)
    assert "zq-alpha-7f3e" in after and "zq-beta-91c2" in after
    assert w.votes[-1]["choice"] == "zq-beta-91c2"

    # a new conversation is blind again, though the leaderboard and the past vote name the models
    mark = wire.mark()
    assert command(w, "clear")["ok"]
    assert wait_until(lambda: not any(c["history"] for c in w.manager.snapshot()), 10)
    assert wait_until(lambda: w._blind.view.blind, 10)
    w.send("second round", wait=True, timeout=60)
    assert command(w, "thumb", column=alpha, value=-1)["ok"]
    assert command(w, "export")["ok"]
    assert "Model A" in command(w, "vote", choice="Model Z")["error"]  # refused: the answer lists the choices
    second = wire.since(mark)
    assert not leaks(second), leaks(second)
    states = [m["data"].get("state", {}) for m in wire.messages(mark)]
    assert any(s.get("leaderboard_table") == {} for s in states), "the leaderboard is held back while blind"
    assert command(w, "vote", choice="tie")["ok"]
    assert "zq-alpha-7f3e" in wire.since(mark)
    w.close()


def test_a_name_split_over_two_deltas_is_caught():
    f = BlindFilter()
    f.update(blind=True, conversation="x", columns=[{"id": "c9", "name": "zq-alpha-7f3e", "label": "Model A"}])
    parts = [f.message({"kind": "delta", "column": "c9", "turn": 0, "text": t}) for t in ("I am zq-al", "pha-7f3e!")]
    text = "".join(p["text"] for p in parts if p)
    assert text == "I am Model A!", text
    assert f.message({"kind": "turn_end", "column": "c9", "turn": 0, "text": "zq-ALPHA-7f3e"})["text"] == "Model A"


def test_not_blind_passes_everything_through():
    f = BlindFilter()
    f.update(blind=False, conversation="x", columns=[{"id": "c9", "name": "zq-alpha-7f3e", "label": "Model A"}])
    assert f.message({"kind": "delta", "column": "c9", "turn": 0, "text": "zq-alpha-7f3e"})["text"] == "zq-alpha-7f3e"
    assert f.state({"notice": "zq-alpha-7f3e"}) == {"notice": "zq-alpha-7f3e"}


def test_shared_models_and_urls_become_a_model():
    f = BlindFilter()
    f.update(blind=True, conversation="x", columns=[
        {"id": "a", "name": "cold", "label": "Model A", "secrets": ["smollm2-135m", "http://h:1/v1"]},
        {"id": "b", "name": "hot", "label": "Model B", "secrets": ["smollm2-135m"]}])
    out = f.state({"notice": "cold and hot share smollm2-135m; hot failed at http://h:1/v1/chat/completions (h:1)"})
    assert out["notice"] == "Model A and Model B share a model; Model B failed at Model A/chat/completions (Model A)"
    assert f.state({"notice": "cannot send while hot, cold still answering"})["notice"] == \
        "cannot send while Model A, Model B still answering"


def test_batch_run_ends_with_the_vote_offered_again():
    w = ChatZooWidget([ScriptedBOT("a"), ScriptedBOT("b")])
    w.send("hi", wait=True)
    w.run_batch(["one", "two"])
    assert wait_until(lambda: w.vote_state.get("can_vote") is True, 5), w.vote_state
    w.close()


def test_credentials_in_urls_never_leave_the_kernel(wire):
    w = ChatZooWidget([{"name": "remote", "url": "http://user:pa55word-zq@127.0.0.1:9/v1"},
                       {"name": "q", "url": "http://127.0.0.1:9/v1?api_key=sk-zq-777&x=1"}])
    w.wait(10)
    sent = wire.since()
    assert "pa55word-zq" not in sent and "sk-zq-777" not in sent
    assert "http://***@127.0.0.1:9/v1" in sent and "api_key=***&x=1" in sent
    assert "pa55word-zq" in w.manager.snapshot()[0]["model"]  # the kernel side is unchanged
    w.close()
