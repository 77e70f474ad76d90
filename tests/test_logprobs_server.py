"""The server answers `logprobs` as the OpenAI API does (issue 21 item 4), and RemoteChatBOT reads them (item 1)."""

from __future__ import annotations

import json

import httpx
import pytest

from chatzoo_widget.testing import ScriptedBOT
from test_server_openapi import CHUNK, COMPLETION, ERROR, assert_valid
from test_server_support import LiveServer, sse_data

USER = {"role": "user", "content": "Hello, how are you today?"}
Q = [{"role": "HUMAN", "content": USER["content"]}]
GREEDY = {"temperature": 0, "max_tokens": 10}


@pytest.fixture(scope="module")
def bot(tiny_chat_dir):
    from chatzoo_widget.registry import load_bot

    b = load_bot(tiny_chat_dir, type="chat", name="logprobs-served")
    yield b
    b.close()


@pytest.fixture(scope="module")
def srv(bot):
    with LiveServer(bot, model_name="tiny") as s:
        yield s


def post(srv, body, **kw):
    return httpx.post(srv.base + "/chat/completions", json={"messages": [USER], **body}, timeout=60, **kw)


def streamed(srv, body):
    with httpx.stream("POST", srv.base + "/chat/completions", json={"messages": [USER], "stream": True, **body},
                      timeout=60) as r:
        assert r.status_code == 200
        return [e for e in sse_data(list(r.iter_lines())) if e != "[DONE]"]


def test_whole_and_streamed_logprobs_agree_with_each_other_and_the_local_bot(srv, bot):
    whole = post(srv, {**GREEDY, "logprobs": True, "top_logprobs": 3})
    assert whole.status_code == 200, whole.text
    body = whole.json()
    assert_valid(body, COMPLETION)
    content = body["choices"][0]["logprobs"]["content"]
    assert body["choices"][0]["logprobs"]["refusal"] is None
    assert len(content) == body["usage"]["completion_tokens"] == 10
    assert all(set(t) == {"token", "logprob", "bytes", "top_logprobs"} and len(t["top_logprobs"]) == 3
               for t in content)

    events = [json.loads(e) for e in streamed(srv, {**GREEDY, "logprobs": True, "top_logprobs": 3})]
    for event in events:
        assert_valid(event, CHUNK)
    pieces = [t for e in events for c in e["choices"] if c.get("logprobs") for t in c["logprobs"]["content"]]
    assert [t["token"] for t in pieces] == [t["token"] for t in content]
    assert [t["logprob"] for t in pieces] == pytest.approx([t["logprob"] for t in content], abs=1e-5)
    text = "".join(c["delta"].get("content") or "" for e in events for c in e["choices"])
    assert text == body["choices"][0]["message"]["content"]

    local = bot.stream(Q, logprobs=True, top_logprobs=3, do_sample=False, max_new_tokens=10)
    local.consume()
    assert [t["token"] for t in local.stats.tokens] == [t["token"] for t in content]
    assert [t["logprob"] for t in local.stats.tokens] == pytest.approx([t["logprob"] for t in content], abs=1e-4)
    assert [[a["bytes"] for a in t["top_logprobs"]] for t in local.stats.tokens] == \
        [[a["bytes"] for a in t["top_logprobs"]] for t in content]


def test_no_logprobs_asked_none_answered(srv):
    body = post(srv, GREEDY).json()
    assert body["choices"][0]["logprobs"] is None
    assert all(c["logprobs"] is None for e in streamed(srv, GREEDY) for c in json.loads(e)["choices"])
    only = post(srv, {**GREEDY, "logprobs": True}).json()["choices"][0]["logprobs"]["content"]
    assert only and all(t["top_logprobs"] == [] for t in only)


@pytest.mark.parametrize("body, message, code", [
    ({"logprobs": True, "top_logprobs": 21},
     "Invalid 'top_logprobs': integer above maximum value. Expected a value <= 20, but got 21 instead.",
     "integer_above_max_value"),
    ({"logprobs": True, "top_logprobs": -1},
     "Invalid 'top_logprobs': integer below minimum value. Expected a value >= 0, but got -1 instead.",
     "integer_below_min_value"),
    ({"top_logprobs": 5}, "The 'top_logprobs' parameter is only allowed when 'logprobs' is enabled.", None),
    ({"logprobs": False, "top_logprobs": 2},
     "The 'top_logprobs' parameter is only allowed when 'logprobs' is enabled.", None),
    ({"logprobs": "yes"}, "Invalid type for 'logprobs': expected a boolean, but got a string instead.",
     "invalid_type"),
    ({"logprobs": True, "top_logprobs": 2.5},
     "Invalid type for 'top_logprobs': expected an integer, but got a decimal instead.", "invalid_type"),
])
def test_bad_logprobs_requests_get_openais_400(srv, body, message, code):
    r = post(srv, {**GREEDY, **body})
    assert r.status_code == 400
    assert_valid(r.json(), ERROR)
    error = r.json()["error"]
    assert error["message"] == message and error["code"] == code and error["type"] == "invalid_request_error"
    assert error["param"] in ("logprobs", "top_logprobs")


# ----- RemoteChatBOT reads them ---------------------------------------------------------------------------
def test_remote_bot_reads_logprobs_from_our_server_streamed(srv, bot):
    from chatzoo_widget.bots.remote import RemoteChatBOT

    remote = RemoteChatBOT(srv.url)
    stream = remote.stream(Q, logprobs=True, top_logprobs=2, do_sample=False, max_new_tokens=10)
    stream.consume()
    tokens = stream.stats.tokens
    local = bot.stream(Q, logprobs=True, top_logprobs=2, do_sample=False, max_new_tokens=10)
    local.consume()
    assert [t["token"] for t in tokens] == [t["token"] for t in local.stats.tokens]
    assert [t["logprob"] for t in tokens] == pytest.approx([t["logprob"] for t in local.stats.tokens], abs=1e-4)
    assert all(len(t["top_logprobs"]) == 2 and t["bytes"] for t in tokens)
    assert stream.stats.perplexity == pytest.approx(local.stats.perplexity, rel=1e-4)
    assert stream.stats.logprobs_unavailable is None
    remote.close()


def test_remote_bot_asks_only_when_on(srv):
    from chatzoo_widget.bots.remote import RemoteChatBOT

    remote = RemoteChatBOT(srv.url)
    remote.settings_spec()
    from chatzoo_widget.bots.base import GenerationRequest, ReplyStats

    def body_of(**settings):
        gen, prompt, control = remote.merge_settings(settings)
        return remote.request_body(GenerationRequest(Q, gen, prompt, control, None, ReplyStats()))

    assert "logprobs" not in body_of() and "top_logprobs" not in body_of(top_logprobs=4)
    on = body_of(logprobs=True, top_logprobs=4)
    assert on["logprobs"] is True and on["top_logprobs"] == 4
    stream = remote.stream(Q, max_new_tokens=4)
    stream.consume()
    assert stream.stats.tokens is None and stream.stats.logprobs_unavailable is None
    remote.close()


def test_a_server_that_returns_none_is_shown_as_unavailable_not_as_an_error():
    from chatzoo_widget.bots.remote import RemoteChatBOT

    with LiveServer(ScriptedBOT(name="scripted")) as plain:  # its bot reports no probabilities
        remote = RemoteChatBOT(plain.url)
        stream = remote.stream(Q, logprobs=True, top_logprobs=3)
        assert stream.consume()
        assert stream.stats.finish_reason == "stop" and stream.stats.error is None
        assert stream.stats.tokens is None
        assert "returned no token probabilities" in stream.stats.logprobs_unavailable
        remote.close()
