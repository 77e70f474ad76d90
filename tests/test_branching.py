"""Branching a reply from an alternative token (issue 21 item 2): the new reply starts with the old one's tokens up
to the chosen position, the chosen token in place, and goes on as a greedy generate from that prefix would; the
old reply is kept as an alternative."""

from __future__ import annotations

import pytest
import torch

from chatzoo_widget import ChatZooWidget
from chatzoo_widget.testing import ScriptedBOT
from chatzoo_widget.testing.commands import command

MAX_NEW = 12
SETTINGS = {"max_new_tokens": MAX_NEW, "do_sample": False, "logprobs": True, "top_logprobs": 4}
EAGER = {"compile": False}  # the greedy comparison with a plain generate: the same eager forward pass


@pytest.fixture
def widget(tiny_chat_dir):
    w = ChatZooWidget([{"name": "tiny", "model": str(tiny_chat_dir), "type": "chat", "settings": SETTINGS,
                        "load_options": EAGER}])
    assert w.wait(120)
    yield w
    w.close()


def _ask(w: ChatZooWidget) -> dict:
    w.send("Tell me about zebras.", wait=True, timeout=120)
    entry = w.entries["tiny"][-1]
    assert entry["role"] == "BOT" and len(entry["tokens"]) == MAX_NEW, entry.get("stats")
    return entry


def _alternative(w: ChatZooWidget, entry: dict, k: int) -> dict:
    """An alternative at position k that is not the token the model picked and does not end the reply."""
    bot = w.manager.get("tiny").bot
    eos = bot.eos_token_ids({})
    return next(a for a in entry["tokens"][k]["top_logprobs"][1:] if a["id"] not in eos)


def _greedy_continuation(w: ChatZooWidget, prefix: list[int], n: int) -> list[int]:
    """What a plain greedy `generate` writes after the prompt and `prefix` (end-of-sequence left out)."""
    bot = w.manager.get("tiny").bot
    prompt = bot.get_input(bot.get_prompt([{"role": "HUMAN", "content": "Tell me about zebras."}]))["input_ids"]
    ids = torch.cat([prompt, torch.tensor([prefix])], dim=-1)
    with torch.inference_mode():
        out = bot.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=n,
                                 do_sample=False)
    new = out[0, ids.shape[-1]:].tolist()
    eos = bot.eos_token_ids({})
    return new[:-1] if new and new[-1] in eos else new


@pytest.mark.parametrize("batched", [True, False], ids=["batched", "alone"])
def test_branch_regenerates_from_the_prefix_with_the_chosen_token(widget, monkeypatch, batched):
    if not batched:  # the run-alone path (beam search, families that cannot batch) feeds the prefix the same way
        monkeypatch.setattr(type(widget.manager.get("tiny").bot), "can_batch", lambda self, kw: False)
    old = _ask(widget)
    k = 4
    alt = _alternative(widget, old, k)
    reply = widget.branch("tiny", k, alt["id"], wait=True, timeout=120)
    new = widget.entries["tiny"][-1]
    ids = [t["id"] for t in new["tokens"]]
    assert ids[:k] == [t["id"] for t in old["tokens"][:k]]  # the same first k tokens, fed as ids
    assert ids[k] == alt["id"] and new["tokens"][k]["logprob"] == alt["logprob"]  # the chosen token in place
    prefix = ids[:k + 1]
    assert ids[k + 1:] == _greedy_continuation(widget, prefix, MAX_NEW - k - 1)  # then greedy from the prefix
    assert len(ids) <= MAX_NEW  # the prefix counts against the reply's length
    tokenizer = widget.manager.get("tiny").bot.tokenizer
    assert reply == new["content"] == tokenizer.decode(ids, skip_special_tokens=True).strip()
    # the old reply is kept, and where it branched is recorded
    assert new["alternatives"][0]["content"] == old["content"]
    assert [t["id"] for t in new["alternatives"][0]["tokens"]] == [t["id"] for t in old["tokens"]]
    assert new["branched_from"] == {"token_index": k, "token": alt["token"], "replaced": old["tokens"][k]["token"]}
    assert new["turn"] == old["turn"] and [e["role"] for e in widget.entries["tiny"]] == ["HUMAN", "BOT"]
    assert new["stats"]["mean_logprob"] == pytest.approx(sum(t["logprob"] for t in new["tokens"]) / len(ids))


def test_branching_twice_keeps_every_old_reply(widget):
    first = _ask(widget)
    alt = _alternative(widget, first, 2)
    widget.branch("tiny", 2, alt["token"], wait=True, timeout=120)  # by its text this time
    second = widget.entries["tiny"][-1]
    alt2 = _alternative(widget, second, 6)
    widget.branch("tiny", 6, alt2["id"], wait=True, timeout=120)
    third = widget.entries["tiny"][-1]
    assert [a["content"] for a in third["alternatives"]] == [second["content"], first["content"]]
    assert third["tokens"][2]["id"] == alt["id"] and third["tokens"][6]["id"] == alt2["id"]


def test_bad_branches_name_what_is_wrong(widget):
    old = _ask(widget)
    with pytest.raises(ValueError, match=r"token_index 99 is out of range: tiny's last reply has 12 tokens"):
        widget.branch("tiny", 99, 1)
    with pytest.raises(ValueError, match=r"'no such token' is not among the alternatives at token 0 .*they are: "):
        widget.branch("tiny", 0, "no such token")
    with pytest.raises(ValueError, match="token to branch to is its text or its id"):
        widget.branch("tiny", 0, 1.5)
    assert widget.entries["tiny"][-1] == old  # nothing changed


def test_a_reply_without_token_probabilities_cannot_branch(tiny_chat_dir):
    w = ChatZooWidget([ScriptedBOT("plain", reply="just words")])
    try:
        w.send("hi", wait=True, timeout=30)
        with pytest.raises(ValueError, match="plain cannot branch: its model cannot continue a reply"):
            w.branch("plain", 0, "x")
    finally:
        w.close()
    with pytest.raises(ValueError, match="cannot continue a reply from a given start"):
        ScriptedBOT("plain").stream([{"role": "HUMAN", "content": "hi"}], prefix="Hello")


def test_logprobs_off_says_how_to_branch(tiny_chat_dir):
    w = ChatZooWidget([{"name": "tiny", "model": str(tiny_chat_dir), "type": "chat",
                        "settings": {"max_new_tokens": 4, "do_sample": False}, "load_options": EAGER}])
    try:
        w.send("hi", wait=True, timeout=120)
        with pytest.raises(ValueError, match="no token probabilities to branch from: turn on the column's logprobs"):
            w.branch("tiny", 0, 1)
    finally:
        w.close()


def test_tokens_are_fetched_by_command_not_synced(widget):
    old = _ask(widget)
    model = widget._column_set.models[widget.manager.get("tiny").id]
    synced = model.history["entries"][-1]
    assert "tokens" not in synced and synced["has_tokens"] is True  # the history messages stay small
    cid = widget.manager.get("tiny").id
    answer = command(widget, "entry_tokens", column=cid, turn=old["turn"])
    assert answer["ok"], answer
    tokens = answer["result"]["tokens"]
    assert [t["token"] for t in tokens] == [t["token"] for t in old["tokens"]]
    assert tokens[0]["top_logprobs"][0].keys() == {"token", "logprob", "id"}  # slimmed: no bytes
    assert answer["result"]["can_branch"] is True
    alt = _alternative(widget, old, 1)
    stale = command(widget, "branch", column=cid, token_index=1, token=alt["id"], turn=old["turn"] + 1)
    assert not stale["ok"] and "only the latest reply can branch" in stale["error"]
    assert command(widget, "branch", column=cid, token_index=1, token=alt["id"], turn=old["turn"])["ok"]
    assert widget.manager.wait(120)
    assert widget.entries["tiny"][-1]["tokens"][1]["id"] == alt["id"]
    synced = model.history["entries"][-1]
    assert synced["branched_from"]["token_index"] == 1 and "tokens" not in synced["alternatives"][0]


# ----- remote columns: the start as a final assistant message to continue (vLLM's continue_final_message) -------
class _ContinuingServer:
    """A server in vLLM's shape: the first reply comes with token probabilities; a final assistant message with
    `continue_final_message` is continued (the answer holds the continuation only, as vLLM's does)."""

    WORDS = ["Hello", " there", " friend"]

    def __init__(self, refuse: bool = False):
        import http.server
        import json
        import threading

        fake = self
        self.bodies: list[dict] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _json(self, payload):
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._json({"object": "list", "data": [{"id": "fake-vllm", "object": "model"}]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.bodies.append(body)
                if refuse and body.get("continue_final_message"):  # as a server without vLLM's fields answers
                    data = json.dumps({"error": {"message": "Unrecognized request argument supplied: "
                                                 "continue_final_message", "type": "invalid_request_error"}}).encode()
                    self.send_response(400)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                alt = {"token": " here", "logprob": -1.5, "bytes": list(b" here")}
                content = [{"token": w, "logprob": -0.1, "bytes": list(w.encode()),
                            "top_logprobs": [{"token": w, "logprob": -0.1, "bytes": list(w.encode())}, alt]}
                           for w in fake.WORDS]
                text = " pal." if body.get("continue_final_message") else "".join(fake.WORDS)
                self._json({"id": "x", "object": "chat.completion", "created": 0, "model": "fake-vllm",
                            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                         "logprobs": {"content": content[:1] if body.get("continue_final_message")
                                                      else content}, "finish_reason": "stop"}]})

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def test_a_remote_column_branches_by_sending_the_start_to_continue():
    server = _ContinuingServer()
    w = ChatZooWidget([{"name": "remote", "url": server.base, "settings": {"logprobs": True, "top_logprobs": 2}}])
    try:
        assert w.wait(30)
        w.send("Greet me.", wait=True, timeout=30)
        assert w.entries["remote"][-1]["content"] == "Hello there friend"
        assert w.branch("remote", 1, " here", wait=True, timeout=30) == "Hello here pal."
        sent = server.bodies[-1]
        assert sent["messages"][-2:] == [{"role": "user", "content": "Greet me."},
                                         {"role": "assistant", "content": "Hello here"}]
        assert sent["continue_final_message"] is True and sent["add_generation_prompt"] is False
        new = w.entries["remote"][-1]
        assert [t["token"] for t in new["tokens"][:2]] == ["Hello", " here"]  # the start's tokens, then the server's
        assert new["alternatives"][0]["content"] == "Hello there friend"
        with pytest.raises(ValueError, match=r"5 is not among the alternatives at token 0 \('Hello'\); they are: "
                                             r"'Hello', ' here'$"):
            w.branch("remote", 0, 5)  # a remote reply's tokens have no ids: by text only
    finally:
        w.close()
        server.close()


def test_a_server_that_does_not_continue_an_assistant_message_says_it_cannot_branch():
    server = _ContinuingServer(refuse=True)
    w = ChatZooWidget([{"name": "remote", "url": server.base, "settings": {"logprobs": True, "top_logprobs": 2}}])
    try:
        assert w.wait(30)
        w.send("Greet me.", wait=True, timeout=30)
        old = w.entries["remote"][-1]
        w.branch("remote", 1, " here", wait=True, timeout=30)
        failed = w.entries["remote"][-1]
        assert failed["stats"]["finish_reason"] == "error"
        assert failed["stats"]["error"].startswith(f"cannot branch: {server.base}/chat/completions does not continue "
                                                   "an assistant message")
        assert "continue_final_message" in failed["stats"]["error"]  # the server's own reason follows
        assert failed["alternatives"][0]["content"] == old["content"]  # the old reply is still there
    finally:
        w.close()
        server.close()


def test_a_column_served_by_our_server_branches_as_the_same_model_does_locally(tiny_chat_dir):
    """Our server continues the final assistant message (vLLM's continue_final_message): a remote column branched
    there writes what the same model branched locally writes (greedy), from the same start."""
    from chatzoo_widget.registry import load_bot
    from test_server_support import LiveServer

    served = load_bot(tiny_chat_dir, type="chat", name="served", compile=False)
    with LiveServer(served, model_name="zoo-model") as srv:
        w = ChatZooWidget([{"name": "tiny", "model": str(tiny_chat_dir), "type": "chat", "settings": SETTINGS,
                            "load_options": EAGER},
                           {"name": "ours", "url": srv.base, "settings": SETTINGS}])
        try:
            assert w.wait(120)
            old = _ask(w)
            remote_old = w.entries["ours"][-1]
            assert [t["token"] for t in remote_old["tokens"]] == [t["token"] for t in old["tokens"]]
            k = 3
            tokenizer = served.tokenizer
            # an alternative whose text tokenises back to itself: the remote start goes as text
            alt = next(a for a in old["tokens"][k]["top_logprobs"][1:] if a["id"] not in served.eos_token_ids({})
                       and tokenizer("".join(t["token"] for t in old["tokens"][:k]) + a["token"],
                                     add_special_tokens=False)["input_ids"]
                       == [t["id"] for t in old["tokens"][:k]] + [a["id"]])
            local = w.branch("tiny", k, alt["id"], wait=True, timeout=120)
            remote = w.branch("ours", k, alt["token"], wait=True, timeout=120)
            new, remote_new = w.entries["tiny"][-1], w.entries["ours"][-1]
            assert remote_new["stats"]["finish_reason"] != "error", remote_new["stats"].get("error")
            assert remote == local  # the same start, then the same greedy continuation
            assert [t["token"] for t in remote_new["tokens"]] == [t["token"] for t in new["tokens"]]
            assert [t["logprob"] for t in remote_new["tokens"]] == pytest.approx(
                [t["logprob"] for t in new["tokens"]], abs=1e-4)
            assert remote_new["tokens"][k]["token"] == alt["token"]
            assert remote_new["branched_from"] == {"token_index": k, "token": alt["token"],
                                                   "replaced": old["tokens"][k]["token"]}
            assert remote_new["alternatives"][0]["content"] == remote_old["content"]
            assert len(remote_new["tokens"]) <= MAX_NEW  # the start counts against max_new_tokens, as locally
        finally:
            w.close()
            served.close()


def test_tokens_stay_hidden_while_an_arena_is_blind():
    w = ChatZooWidget([ScriptedBOT("a", reply="one"), ScriptedBOT("b", reply="two")], arena=True)
    try:
        w.send("hi", wait=True, timeout=30)
        cid = w.manager.get("a").id
        answer = command(w, "entry_tokens", column=cid, turn=0)
        assert not answer["ok"] and answer["error"] == "Token probabilities are hidden until the vote: the " \
            "tokenizer would give the model away."
    finally:
        w.close()
