"""Remote columns in the widget: a URL column answers, its API key never reaches the widget's state, and a
dead endpoint fails only its own column."""

from __future__ import annotations

import json

from chatzoo_widget import ChatZooWidget
from chatzoo_widget.testing import ScriptedBOT, command
from test_server_support import LiveServer, RecordingBOT, free_port


def test_url_column_with_key_from_the_environment(monkeypatch):
    monkeypatch.setattr(ChatZooWidget, "send_message", lambda self, msg: None)
    monkeypatch.setenv("ZOO_TEST_KEY", "tok-VERY-SECRET")
    dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    with LiveServer(RecordingBOT(name="scripted"), api_key="tok-VERY-SECRET", model_name="zoo-model") as srv:
        w = ChatZooWidget([
            {"name": "remote", "url": srv.base, "model": "zoo-model", "api_key_env": "ZOO_TEST_KEY"},
            {"name": "dead", "url": dead},
            ScriptedBOT("local"),
        ])
        assert w.wait(30)
        replies = w.send("hello remote", wait=True, timeout=60)
        assert replies["remote"] == "Reply 1 to: hello remote"
        assert replies["local"] == "Reply 1 to: hello remote"
        dead_reply = w.columns[1]["history"][-1]["stats"]
        assert dead_reply["finish_reason"] == "error" and "127.0.0.1" in dead_reply["error"]
        remote = w.columns[0]
        assert {s["name"] for s in remote["spec"]} >= {"max_new_tokens", "top_k"}, "spec read from the server"
        state = json.dumps([{k: v for k, v in w.get_state().items() if k not in ("_esm", "_css")},
                            *(c.get_state() for c in w.columns)])  # the column models too
        assert "VERY-SECRET" not in state and "ZOO_TEST_KEY" not in state
        # The "+" form takes a URL too.
        assert command(w, "add_model", name="added", model=srv.base)["ok"]
        assert w.wait(30)
        assert w.columns[-1]["name"] == "added" and w.columns[-1]["status"] == "ready"
        w.close()
