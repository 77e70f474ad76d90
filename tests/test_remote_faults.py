"""RemoteChatBOT against endpoints that misbehave: each failure is a clear RemoteBotError (what, where, what to do),
raised from the stream within the timeout, with the text received so far kept; quirks real engines send are fine."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from chatzoo_widget.bots.remote import RemoteBotError, RemoteChatBOT
from test_server_support import FaultServer, chunk_json, free_port

HUMAN = [{"role": "HUMAN", "content": "hello"}]
TIMEOUT = 0.6


async def quirky(conn):
    """What vLLM / Ollama / llama.cpp really send: a role-only first delta, keep-alive comments, `data:` without a
    space, CRLF line ends, an empty-content delta, a usage chunk with null choices."""
    await conn.start_sse()
    await conn.send(": ping\n\n")
    await conn.send(f"data: {chunk_json(role='assistant')}\n\n")
    await conn.send(f"data:{chunk_json('Hel')}\r\n\r\n")
    await conn.send(": keep-alive\n\n")
    await conn.send(f"data: {chunk_json('')}\n\n")
    await conn.send(f"event: message\ndata: {chunk_json('lo')}\n\n")
    await conn.send(f"data: {chunk_json(' there', finish='length')}\n\n")
    await conn.send(f"data: {chunk_json(choices=None, usage={'prompt_tokens': 9, 'completion_tokens': 4})}\n\n")
    await conn.send("data: [DONE]\n\n")
    await conn.end()


async def no_usage(conn):
    await conn.start_sse()
    for word in ("a ", "b ", "c"):
        await conn.send(f"data: {chunk_json(word)}\n\n")
    await conn.send(f"data: {chunk_json(finish='stop')}\n\ndata: [DONE]\n\n")
    await conn.end()


async def empty_choices_usage(conn):
    await conn.start_sse(chunked=False)  # no chunked encoding: the body ends when the connection closes
    await conn.send(f"data: {chunk_json('x')}\n\n")
    await conn.send(f"data: {chunk_json(choices=[], usage={'prompt_tokens': 2, 'completion_tokens': 1})}\n\n")
    await conn.send("data: [DONE]")  # the last event without its blank line


async def finish_without_done(conn):  # some engines end the body after the finish_reason, without [DONE]
    await conn.start_sse()
    await conn.send(f"data: {chunk_json('complete')}\n\n")
    await conn.send(f"data: {chunk_json(finish='stop')}\n\n")
    await conn.end()


async def partial_then(conn, tail: str, cut: bool = False):
    await conn.start_sse()
    await conn.send(f"data: {chunk_json('partial ', role='assistant')}\n\n")
    await conn.send(f"data: {chunk_json('text')}\n\n")
    await asyncio.sleep(0.05)
    if tail:
        await conn.send(tail)
    if not cut:
        await conn.end()


async def cut_midway(conn):  # the connection drops inside a chunked body
    await partial_then(conn, "", cut=True)
    conn.writer.transport.abort()


async def cut_clean(conn):  # the body ends properly, but [DONE] never came
    await partial_then(conn, "")


async def malformed(conn):
    await partial_then(conn, "data: {\"choices\": [oops\n\n")


async def error_event(conn):
    await partial_then(conn, 'data: {"error": {"message": "engine crashed: CUDA OOM", "type": "server_error"}}\n\n')


async def stall_after_first(conn):
    await conn.start_sse()
    await conn.send(f"data: {chunk_json('first')}\n\n")
    await asyncio.sleep(30)


async def stall_headers(conn):
    await asyncio.sleep(30)


def answer(status, body, content_type="application/json", extra=""):
    async def behaviour(conn):
        await conn.respond(status, body, content_type, extra)
    return behaviour


def err(message, code=None, type="invalid_request_error"):
    return json.dumps({"error": {"message": message, "type": type, "param": None, "code": code}})


async def json_answer(conn):  # ignores stream=true
    await conn.respond(200, json.dumps({"id": "x", "object": "chat.completion", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "whole answer"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}))


async def html_answer(conn):
    await conn.respond(200, "<html>login page</html>", "text/html")


def chat_only(behaviour):
    """Like a real engine: the behaviour on /chat/completions, 404 on ChatZoo's settings endpoint."""
    async def wrapped(conn):
        if conn.path.endswith("/chat/completions"):
            await behaviour(conn)
        else:
            await conn.respond(404, '{"detail":"Not Found"}')
    return wrapped


STREAMS = {"quirky": quirky, "no_usage": no_usage, "empty_choices_usage": empty_choices_usage,
           "finish_without_done": finish_without_done,
           "cut_midway": cut_midway, "cut_clean": cut_clean, "malformed": malformed, "error_event": error_event,
           "stall_after_first": stall_after_first, "json_answer": json_answer, "html_answer": html_answer}

BEHAVIOURS = {
    **{mode: chat_only(b) for mode, b in STREAMS.items()},
    "stall_headers": stall_headers,  # a hung server: nothing answers
    "e401": answer(401, err("Incorrect API key provided", "invalid_api_key")),
    "e404_model": answer(404, err("The model `fault` does not exist", "model_not_found")),
    "e404_path": answer(404, "Not Found", "text/plain"),
    "e429": answer(429, err("Rate limit reached", "rate_limit_exceeded", "rate_limit_error"),
                   extra="Retry-After: 7\r\n"),
    "e503": answer(503, err("model is loading", None, "server_error")),
    "e500_json": answer(500, err("CUDA error: device-side assert triggered", None, "server_error")),
    "e500_text": answer(500, "Internal Server Error\nTraceback (most recent call last): ...", "text/plain"),
    "e500_empty": answer(500, ""),
    "html_everywhere": html_answer,
}


@pytest.fixture(scope="module")
def fs():
    with FaultServer(BEHAVIOURS) as server:
        yield server


def remote(url: str, **kw) -> RemoteChatBOT:
    return RemoteChatBOT(url, model="fault", timeout=kw.pop("timeout", TIMEOUT), **kw)


def fail(bot: RemoteChatBOT, budget: float = TIMEOUT + 1.5):
    """Stream until it fails; return (error, stream, seconds)."""
    start = time.perf_counter()
    stream = bot.stream(HUMAN)  # may ask for the settings spec first: that time counts too
    with pytest.raises(RemoteBotError) as info:
        for _ in stream:
            pass
    elapsed = time.perf_counter() - start
    assert elapsed < budget, f"took {elapsed:.2f}s"
    assert isinstance(info.value, RuntimeError)
    assert stream.stats.finish_reason == "error" and stream.stats.error
    return info.value, stream, elapsed


# ----- what real engines send ------------------------------------------------------------------
def test_tolerates_real_engine_quirks(fs):
    bot = remote(fs.base("quirky"))
    stream = bot.stream(HUMAN)
    assert list(stream) == ["Hel", "lo", " there"]
    assert stream.stats.prompt_tokens == 9 and stream.stats.new_tokens == 4  # usage wins over the chunk count
    assert stream.stats.finish_reason == "length" and stream.stats.time_to_first_token is not None


def test_counts_chunks_without_usage(fs):
    bot = remote(fs.base("no_usage"))
    assert bot.chat(HUMAN) == "a b c"
    assert bot.last_stats.new_tokens == 3 and bot.last_stats.prompt_tokens == 0
    assert bot.last_stats.finish_reason == "stop"


def test_usage_chunk_with_empty_choices_and_unterminated_last_event(fs):
    bot = remote(fs.base("empty_choices_usage"))
    assert bot.chat(HUMAN) == "x" and bot.last_stats.prompt_tokens == 2


def test_finish_reason_then_end_of_body_is_a_complete_reply(fs):
    bot = remote(fs.base("finish_without_done"))
    assert bot.chat(HUMAN) == "complete" and bot.last_stats.finish_reason == "stop"


def test_server_that_ignores_stream_true(fs):
    bot = remote(fs.base("json_answer"))
    assert bot.chat(HUMAN) == "whole answer"
    assert bot.last_stats.new_tokens == 2 and bot.last_stats.prompt_tokens == 5


# ----- faults ----------------------------------------------------------------------------------
def test_connection_refused():
    port = free_port()
    error, stream, _ = fail(remote(f"http://127.0.0.1:{port}"))
    assert error.kind == "connection" and f"127.0.0.1:{port}" in str(error)
    assert "refused" in str(error) and "Start the server" in str(error)


def test_dns_failure():
    error, _, _ = fail(remote("http://no-such-host.invalid:8081", timeout=3), budget=5)
    assert error.kind in ("dns", "timeout", "connection")
    assert "no-such-host.invalid" in str(error) and "check" in str(error)


def test_timeout_waiting_for_headers(fs):
    error, stream, elapsed = fail(remote(fs.base("stall_headers")), budget=TIMEOUT + 1.0)
    assert error.kind == "timeout" and f"{TIMEOUT:g} s" in str(error) and "timeout=" in str(error)
    assert fs.base("stall_headers") in str(error) and elapsed >= TIMEOUT * 0.9
    # once the spec fetch is out of the way, the chat request itself times out just as fast
    bot = remote(fs.base("stall_headers"))
    bot.settings_spec()
    time.sleep(1.0)
    error, stream, elapsed = fail(bot, budget=TIMEOUT + 1.0)
    assert error.kind == "timeout" and "/chat/completions" in str(error)


def test_timeout_mid_stream_keeps_partial_text(fs):
    error, stream, elapsed = fail(remote(fs.base("stall_after_first")))
    assert error.kind == "timeout" and stream.text == "first" and elapsed >= TIMEOUT * 0.9


@pytest.mark.parametrize("mode, kind, status, words", [
    ("e401", "auth", 401, ["Incorrect API key", "api_key"]),
    ("e404_model", "not_found", 404, ["does not exist", "/v1/models", "model="]),
    ("e404_path", "not_found", 404, ["base_url"]),
    ("e429", "rate_limited", 429, ["Rate limit reached", "wait 7 s"]),
    ("e503", "unavailable", 503, ["model is loading", "try again"]),
    ("e500_json", "server_error", 500, ["CUDA error", "log"]),
    ("e500_text", "server_error", 500, ["Internal Server Error", "log"]),
    ("e500_empty", "server_error", 500, ["(empty body)"]),
])
def test_http_errors(fs, mode, kind, status, words):
    error, stream, _ = fail(remote(fs.base(mode)))
    assert (error.kind, error.status) == (kind, status)
    assert fs.base(mode) + "/chat/completions" in str(error) and str(status) in str(error)
    for w in words:
        assert w in str(error), (w, str(error))
    assert stream.text == ""


@pytest.mark.parametrize("mode, kind, words", [
    ("cut_midway", "cut", ["broke mid-reply", "kept"]),
    ("cut_clean", "cut", ["without [DONE]", "kept"]),
    ("malformed", "protocol", ["malformed", "oops", "OpenAI-compatible"]),
    ("error_event", "server_error", ["engine crashed: CUDA OOM", "kept"]),
])
def test_broken_streams_keep_partial_text(fs, mode, kind, words):
    error, stream, _ = fail(remote(fs.base(mode)))
    assert error.kind == kind and fs.base(mode) in str(error)
    for w in words:
        assert w in str(error), (w, str(error))
    assert stream.text == "partial text"
    assert stream.stats.new_tokens == 2


def test_not_an_openai_server(fs):
    error, _, _ = fail(remote(fs.base("html_answer")))
    assert error.kind == "protocol" and "text/html" in str(error) and "OpenAI-compatible" in str(error)


def test_spec_falls_back_when_the_settings_endpoint_fails(fs):
    for mode in ("e404_path", "e500_json", "html_everywhere", "stall_headers"):
        bot = remote(fs.base(mode), timeout=0.5)
        start = time.perf_counter()
        assert "max_new_tokens" in bot.settings_spec() and "top_k" not in bot.settings_spec()
        assert time.perf_counter() - start < 1.5


def test_model_lookup_failure_is_clear(fs):
    bot = RemoteChatBOT(fs.base("e503"), timeout=TIMEOUT)  # model=None: asks /v1/models, which fails
    with pytest.raises(RemoteBotError, match="503") as info:
        bot.chat(HUMAN)
    assert "/v1/models" in str(info.value) and info.value.kind == "unavailable"
