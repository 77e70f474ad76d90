"""The OpenAI-compatible ChatZoo server, driven over real HTTP on 127.0.0.1 (httpx and the official openai client)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from chatzoo_widget.bots.settings import GENERATION_SETTINGS, SettingsSpec
from chatzoo_widget.server import StopCutter, build_parser
from chatzoo_widget.testing import ScriptedBOT, echo_reply, wait_until
from test_server_support import LiveServer, RecordingBOT, free_port, long_prompt, sse_data

ROOT = Path(__file__).resolve().parent.parent
USER = lambda text: {"role": "user", "content": text}  # noqa: E731


def completion(srv: LiveServer, body: dict, **kw) -> httpx.Response:
    return httpx.post(srv.base + "/chat/completions", json=body, timeout=kw.pop("timeout", 20), **kw)


def stream_lines(srv: LiveServer, body: dict, headers: dict | None = None) -> tuple[httpx.Response, list[str]]:
    with httpx.stream("POST", srv.base + "/chat/completions", json={**body, "stream": True}, headers=headers,
                      timeout=20) as r:
        return r, list(r.iter_lines())


def assert_error(r: httpx.Response, status: int, *words: str, param: str | None = "skip") -> dict:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    for w in words:
        assert w in err["message"], (w, err["message"])
    if param != "skip":
        assert err["param"] == param
    return err


@pytest.fixture(scope="module")
def srv():
    with LiveServer(RecordingBOT(name="scripted"), max_queue=64) as s:
        yield s


# ----- shapes ------------------------------------------------------------------------------------
def test_models_settings_health(srv):
    models = httpx.get(srv.base + "/models").json()
    assert models["object"] == "list" and [m["id"] for m in models["data"]] == ["scripted"]
    info = httpx.get(srv.base + "/chatzoo/settings").json()
    assert info["model"] == "scripted" and info["family"] == "scripted"
    spec = SettingsSpec.from_json(info["spec"])
    assert spec.names() == srv.state.bot.settings_spec().names()
    assert info["defaults"]["max_new_tokens"] == 64 and spec["temperature"].max == 2.0
    assert httpx.post(srv.url + "/parameters").json() == info  # the original server's name for it
    health = httpx.get(srv.url + "/health").json()
    assert health["status"] == "ok" and health["generating"] is False


def test_non_stream_completion(srv):
    r = completion(srv, {"model": "scripted", "messages": [USER("hello zoo")]})
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-") and body["model"] == "scripted"
    (choice,) = body["choices"]
    assert choice["message"] == {"role": "assistant", "content": "Reply 1 to: hello zoo", "refusal": None}
    assert choice["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": 2, "completion_tokens": 5, "total_tokens": 7}


def test_stream_chunks_usage_and_done(srv):
    r, lines = stream_lines(srv, {"messages": [USER("stream me please")], "stream_options": {"include_usage": True}})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    data = sse_data(lines)
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert {c["id"] for c in chunks} == {chunks[0]["id"]}
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "Reply 1 to: stream me please"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop" and chunks[-2]["usage"] is None
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == {"prompt_tokens": 3, "completion_tokens": 6,
                                                                    "total_tokens": 9}
    # without include_usage: no usage chunk, no usage field
    _, lines = stream_lines(srv, {"messages": [USER("x")]})
    chunks = [json.loads(d) for d in sse_data(lines)[:-1]]
    assert all(c["choices"] and "usage" not in c for c in chunks)


def test_openai_client_stream_and_not():
    openai = pytest.importorskip("openai")
    with LiveServer(ScriptedBOT(name="scripted"), api_key="k-123") as s:
        client = openai.OpenAI(base_url=s.base, api_key="k-123", max_retries=0, timeout=20)
        assert [m.id for m in client.models.list()] == ["scripted"]
        out = client.chat.completions.create(model="scripted", messages=[USER("hi there")], max_tokens=3)
        assert out.choices[0].message.content == "Reply 1 to: " and out.choices[0].finish_reason == "length"
        assert out.usage.completion_tokens == 3
        parts, usage, finish = [], None, None
        for chunk in client.chat.completions.create(model="scripted", messages=[USER("hi there")], stream=True,
                                                    stream_options={"include_usage": True}):
            if chunk.usage:
                usage = chunk.usage
            for c in chunk.choices:
                parts.append(c.delta.content or "")
                finish = c.finish_reason or finish
        assert "".join(parts) == "Reply 1 to: hi there" and finish == "stop"
        assert usage.completion_tokens == 5 and usage.total_tokens == usage.prompt_tokens + 5
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=s.base, api_key="wrong", max_retries=0).models.list()
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="gpt-4o", messages=[USER("x")])


def test_openai_client_sees_generation_error():
    openai = pytest.importorskip("openai")
    with LiveServer(ScriptedBOT(name="flaky", fail_after=2)) as s:
        client = openai.OpenAI(base_url=s.base, api_key="none", max_retries=0, timeout=20)
        with pytest.raises(openai.InternalServerError, match="failed after 2 words"):
            client.chat.completions.create(model="flaky", messages=[USER("a b c d")])
        got = []
        with pytest.raises(openai.APIError, match="failed after 2 words"):
            for chunk in client.chat.completions.create(model="flaky", messages=[USER("a b c d")], stream=True):
                got += [c.delta.content or "" for c in chunk.choices]
        assert "".join(got) == "Reply 1 "  # what streamed before the failure arrived
        r = httpx.post(s.base + "/chat/completions", json={"messages": [USER("a")], "stream": True})
        assert "[DONE]" not in r.text and '"generation_failed"' in r.text  # an error event, then the end
        assert httpx.get(s.url + "/health").json()["generating"] is False  # the server goes on


# ----- requests reach the bot as typed settings --------------------------------------------------
def test_roles_system_prompt_and_settings_reach_generate(srv):
    bot = srv.state.bot
    n = len(bot.runs)
    r = completion(srv, {
        "messages": [{"role": "system", "content": "be brief"}, USER("q1"), {"role": "assistant", "content": "a1"},
                     {"role": "user", "content": [{"type": "text", "text": "q2"}]}],
        "temperature": 0, "top_p": 0.5, "seed": 7, "top_k": 3, "repetition_penalty": 1.5, "num_beams": 2,
        "do_sample": False, "max_tokens": 20,
        "eos_token_id": 0, "output_scores": True, "user": "someone",  # not settings: never reach generate
    })
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == "Reply 2 to: q2"
    assert r.headers["x-chatzoo-ignored-fields"] == "eos_token_id,output_scores,user"
    run = bot.runs[n]
    assert run.query == [{"role": "HUMAN", "content": "q1"}, {"role": "BOT", "content": "a1"},
                         {"role": "HUMAN", "content": "q2"}]
    assert run.prompt_kwargs == {"system_prompt": "be brief"}
    assert run.control == {"seed": 7, "logprobs": False, "top_logprobs": 0}  # logprobs: off by default
    assert run.gen_kwargs == {"max_new_tokens": 20, "temperature": 0.0, "top_p": 0.5, "top_k": 3,
                              "repetition_penalty": 1.5, "num_beams": 2, "do_sample": False}


def test_invalid_settings_and_requests(srv):
    err = assert_error(completion(srv, {"messages": [USER("refused")], "temperature": 5}), 400, "temperature",
                       "from 0 to 2", param="temperature")
    assert err["type"] == "invalid_request_error"
    assert_error(completion(srv, {"messages": [USER("refused")], "top_k": "many"}), 400, "top_k", param="top_k")
    assert_error(completion(srv, {"messages": [USER("refused")], "num_beams": 9}), 400, "num_beams", "1 to 8")
    assert_error(completion(srv, {"messages": [USER("refused")], "n": 2}), 400, "n must be 1", param="n")
    assert_error(completion(srv, {"messages": [USER("refused")], "tools": [{"type": "function"}]}), 400, "tools")
    assert_error(completion(srv, {"messages": [USER("refused")], "stop": [1, 2]}), 400, "stop")
    assert_error(completion(srv, {"messages": [USER("refused"), {"role": "assistant", "content": "y"}]}), 400, "last")
    assert_error(completion(srv, {"messages": [USER("refused"), {"role": "tool", "content": "y"}]}), 400, "'tool'")
    assert_error(completion(srv, {"messages": [USER("refused"), {"role": "system", "content": "late"}]}), 400, "first")
    assert_error(completion(srv, {"messages": []}), 400, "messages")
    assert_error(completion(srv, {"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}), 400,
                 "text only")
    assert_error(completion(srv, {"model": "gpt-4o", "messages": [USER("refused")]}), 404, "gpt-4o", "scripted")
    assert_error(completion(srv, {"messages": [{"role": "system", "content": "a"}, USER("refused")],
                                  "system_prompt": "b"}), 400, "not both")
    assert_error(httpx.post(srv.base + "/chat/completions", content=b"{nope"), 400, "not valid JSON")
    assert_error(httpx.post(srv.base + "/chat/completions", json=[1]), 400, "JSON object")
    assert_error(httpx.get(srv.url + "/nowhere"), 404, "/nowhere")
    assert_error(httpx.get(srv.base + "/chat/completions"), 405, "GET")
    assert len([r for r in srv.state.bot.runs if r.query[-1]["content"] == "refused"]) == 0  # none of these generated


def test_bot_without_system_prompt_refuses_system_message():
    class NoSystem(ScriptedBOT):
        def settings_spec(self):
            return GENERATION_SETTINGS

    with LiveServer(NoSystem(name="plain")) as s:
        assert_error(completion(s, {"messages": [{"role": "system", "content": "be nice"}, USER("x")]}), 400,
                     "no system prompt")
        assert completion(s, {"messages": [USER("x")]}).json()["choices"][0]["message"]["content"] == "Reply 1 to: x"


def test_bot_refusing_a_request_is_a_400():
    class Picky(ScriptedBOT):
        def stream(self, query, stop_event=None, **settings):
            if "forbidden" in query[-1]["content"]:
                raise ValueError("this bot does not answer 'forbidden'")
            return super().stream(query, stop_event, **settings)

    with LiveServer(Picky(name="picky")) as s:
        assert_error(completion(s, {"messages": [USER("forbidden")]}), 400, "does not answer")
        _, lines = stream_lines(s, {"messages": [USER("forbidden")]})
        assert json.loads(sse_data(lines)[-1])["error"]["type"] == "invalid_request_error"
        assert completion(s, {"messages": [USER("fine")]}).status_code == 200


def test_length_and_stop_strings(srv):
    r = completion(srv, {"messages": [USER("one two three")], "max_tokens": 2}).json()
    assert r["choices"][0]["message"]["content"] == "Reply 1 " and r["choices"][0]["finish_reason"] == "length"
    assert r["usage"]["completion_tokens"] == 2
    # the stop string spans two streamed words; the reply is cut before it and generation stops there
    r = completion(srv, {"messages": [USER(long_prompt(40))], "stop": ["w3 w4", "never"]}).json()
    assert r["choices"][0]["message"]["content"] == "Reply 1 to: w0 w1 w2 "
    assert r["choices"][0]["finish_reason"] == "stop"
    with LiveServer(RecordingBOT(name="slow", delay=0.02)) as slow:
        r = completion(slow, {"messages": [USER(long_prompt(100))], "stop": "w3"}).json()
        run = slow.state.bot.runs[0]
        assert r["choices"][0]["message"]["content"] == "Reply 1 to: w0 w1 w2 "
        assert run.done.wait(5) and run.stop_event.is_set() and run.words < 12
    _, lines = stream_lines(srv, {"messages": [USER(long_prompt(40))], "stop": "w3 w4"})
    chunks = [json.loads(d) for d in sse_data(lines)[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "Reply 1 to: w0 w1 w2 "
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_stop_cutter_holds_back_partial_matches():
    cut = StopCutter(["END", "\n\n"])
    assert cut.feed("abc E") == "abc " and cut.feed("N") == "" and cut.feed("x") == "ENx"
    assert cut.feed("y\n") == "y" and cut.feed("\nz") == "" and cut.hit and cut.flush() == ""
    assert StopCutter([]).feed("E") == "E"


# ----- safe by default --------------------------------------------------------------------------
def test_api_key_guards_every_endpoint():
    with LiveServer(ScriptedBOT(name="scripted"), api_key="s3cret") as s:
        calls = [("GET", s.base + "/models"), ("GET", s.base + "/chatzoo/settings"), ("POST", s.url + "/parameters"),
                 ("GET", s.url + "/health"), ("POST", s.base + "/chat/completions")]
        for method, url in calls:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
                r = httpx.request(method, url, headers=headers, json={"messages": [USER("x")]})
                err = assert_error(r, 401, "API key")
                assert err["code"] == "invalid_api_key" and r.headers["www-authenticate"] == "Bearer"
            ok = httpx.request(method, url, headers={"Authorization": "Bearer s3cret"}, json={"messages": [USER("x")]})
            assert ok.status_code == 200, (url, ok.text)


def test_body_size_cap():
    with LiveServer(ScriptedBOT(name="scripted"), max_body_bytes=2000) as s:
        big = {"messages": [USER("x" * 3000)]}
        assert_error(completion(s, big), 413, "2000 bytes")

        def chunked():  # no Content-Length: the server counts as it reads
            yield json.dumps(big).encode()

        assert_error(httpx.post(s.base + "/chat/completions", content=chunked()), 413, "2000 bytes")
        assert completion(s, {"messages": [USER("x" * 100)]}).status_code == 200


def test_max_tokens_cap():
    with LiveServer(ScriptedBOT(name="scripted"), max_tokens_cap=10) as s:
        err = assert_error(completion(s, {"messages": [USER("x")], "max_tokens": 11}), 400, "cap of 10",
                           param="max_tokens")
        assert err["code"] == "max_tokens_too_large"
        assert_error(completion(s, {"messages": [USER("x")], "max_completion_tokens": 50}), 400, "cap of 10",
                     param="max_completion_tokens")
        assert completion(s, {"messages": [USER("x")], "max_tokens": 10}).status_code == 200
        # no max_tokens: the bot's default (64) is limited to the cap, and the published spec says so
        r = completion(s, {"messages": [USER(long_prompt(30))]}).json()
        assert r["usage"]["completion_tokens"] == 10 and r["choices"][0]["finish_reason"] == "length"
        spec = SettingsSpec.from_json(httpx.get(s.base + "/chatzoo/settings").json()["spec"])
        assert spec["max_new_tokens"].max == 10 and spec["max_new_tokens"].default == 10


def test_no_cors_unless_origins_given():
    origin = {"Origin": "http://notebook.test"}
    preflight = {**origin, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type"}
    with LiveServer(ScriptedBOT(name="scripted")) as s:
        assert "access-control-allow-origin" not in httpx.get(s.base + "/models", headers=origin).headers
        assert "access-control-allow-origin" not in httpx.options(s.base + "/chat/completions",
                                                                  headers=preflight).headers
    with LiveServer(ScriptedBOT(name="scripted"), api_key="k", cors_origins=["http://notebook.test"]) as s:
        r = httpx.options(s.base + "/chat/completions", headers=preflight)  # preflight carries no key
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "http://notebook.test"
        r = httpx.get(s.base + "/models", headers={**origin, "Authorization": "Bearer k"})
        assert r.headers["access-control-allow-origin"] == "http://notebook.test"
        evil = httpx.get(s.base + "/models", headers={"Origin": "http://evil.test", "Authorization": "Bearer k"})
        assert "access-control-allow-origin" not in evil.headers


def test_cli_defaults_are_safe():
    args = build_parser().parse_args(["--pretrained_path", "m"])
    assert args.host == "127.0.0.1" and args.api_key is None and args.cors_origins == []
    assert args.max_batch == 16 and args.max_queue >= 50  # 50 concurrent clients are all served by default
    args = build_parser().parse_args(["--pretrained_path", "m", "--cors-origin", "http://a", "--cors-origin",
                                      "http://b", "--quantization", "4bit", "--trust-remote-code", "--max-queue", "3",
                                      "--max-batch", "4"])
    assert [o for g in args.cors_origins for o in g] == ["http://a", "http://b"]
    assert args.quantization == "4bit" and args.trust_remote_code and args.max_queue == 3 and args.max_batch == 4


# ----- a bounded batch, a bounded queue, cancellation ----------------------------------------------
def test_queue_bound_gives_429_and_one_generation_at_a_time():
    bot = RecordingBOT(name="slow", delay=0.03)
    with LiveServer(bot, max_batch=1, max_queue=1) as s:
        results: dict[str, str] = {}

        def client(tag: str) -> None:
            r = completion(s, {"messages": [USER(f"{tag} " + long_prompt(40))]})
            results[tag] = r.json()["choices"][0]["message"]["content"]

        a = threading.Thread(target=client, args=("A",))
        a.start()
        assert wait_until(lambda: len(bot.runs) == 1 and bot.runs[0].words > 0)
        b = threading.Thread(target=client, args=("B",))
        b.start()
        assert wait_until(lambda: httpx.get(s.url + "/health").json()["waiting"] == 1)
        err = assert_error(completion(s, {"messages": [USER("C")]}), 429, "busy", "--max-queue 1")
        assert err["type"] == "rate_limit_error"
        r = completion(s, {"messages": [USER("C")], "stream": True})  # streaming requests are refused the same way
        assert_error(r, 429, "busy")
        a.join(15), b.join(15)
        assert results == {t: echo_reply([{"role": "HUMAN", "content": f"{t} " + long_prompt(40)}]) for t in "AB"}
        assert bot.max_active == 1 and len(bot.runs) == 2
        assert bot.runs[1].query[-1]["content"].startswith("B")
        assert completion(s, {"messages": [USER("C")]}).status_code == 200  # the queue emptied


def test_event_loop_stays_free_while_generating():
    bot = RecordingBOT(name="slow", delay=0.05)
    with LiveServer(bot) as s:
        t = threading.Thread(target=completion, args=(s, {"messages": [USER(long_prompt(60))]}))
        t.start()
        assert wait_until(lambda: bot.runs and bot.runs[0].words > 1)
        start = time.perf_counter()
        for _ in range(5):
            assert httpx.get(s.url + "/health").json()["generating"] is True
        assert time.perf_counter() - start < 1.5  # the reply takes 3 s: the loop was not blocked by it
        t.join(15)


def test_stream_disconnect_stops_generation():
    bot = RecordingBOT(name="slow", delay=0.05)
    with LiveServer(bot) as s:
        with httpx.stream("POST", s.base + "/chat/completions", timeout=10,
                          json={"messages": [USER(long_prompt(200))], "stream": True}) as r:
            got = 0
            for line in r.iter_lines():
                got += line.startswith("data:")
                if got == 4:
                    break  # the client goes away mid-reply
        run = bot.runs[0]
        assert run.done.wait(3), "generation kept running after the client left"
        assert run.stop_event.is_set() and run.words < 20
        words = run.words
        time.sleep(0.3)
        assert run.words == words
        assert wait_until(lambda: httpx.get(s.url + "/health").json()["generating"] is False, timeout=3)
        assert completion(s, {"messages": [USER("next")]}).json()["choices"][0]["message"]["content"] == \
            "Reply 1 to: next"


def test_non_stream_disconnect_stops_generation():
    bot = RecordingBOT(name="slow", delay=0.05)
    with LiveServer(bot) as s:
        with pytest.raises(httpx.ReadTimeout):
            completion(s, {"messages": [USER(long_prompt(200))]}, timeout=0.4)
        assert wait_until(lambda: bot.runs and bot.runs[0].done.is_set(), timeout=3)
        assert bot.runs[0].stop_event.is_set() and bot.runs[0].words < 30


def test_client_leaving_the_queue_never_generates():
    bot = RecordingBOT(name="slow", delay=0.03)
    with LiveServer(bot, max_batch=1, max_queue=4) as s:
        a = threading.Thread(target=completion, args=(s, {"messages": [USER("A " + long_prompt(15))]}))
        a.start()
        assert wait_until(lambda: bot.runs and bot.runs[0].words > 0)
        with pytest.raises(httpx.ReadTimeout):
            completion(s, {"messages": [USER("B")]}, timeout=0.2)  # waits in the queue, then leaves
        with httpx.stream("POST", s.base + "/chat/completions", timeout=10,
                          json={"messages": [USER("C")], "stream": True}) as r:
            next(r.iter_lines())  # the role chunk comes at once; C then waits in the queue and leaves
        a.join(15)
        assert wait_until(lambda: httpx.get(s.url + "/health").json()["waiting"] == 0, timeout=3)
        time.sleep(0.2)
        assert [run.query[-1]["content"][0] for run in bot.runs] == ["A"]
        assert completion(s, {"messages": [USER("D")]}).status_code == 200


# ----- the command line -------------------------------------------------------------------------
def test_cli_serves_tiny_model(request):
    try:
        import chatzoo_widget.registry  # noqa: F401
        model_dir = request.getfixturevalue("tiny_chat_dir")
    except (ImportError, pytest.FixtureLookupError):
        pytest.skip("registry or tiny_chat_dir fixture not available")
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "CHATZOO_API_KEY": "cli-key"}
    proc = subprocess.Popen([sys.executable, "-m", "chatzoo_widget.server", "--pretrained_path", str(model_dir),
                             "--type", "chat", "--port", str(port), "--name", "tiny", "--log-level", "warning"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        auth = {"Authorization": "Bearer cli-key"}

        def up() -> bool:
            try:
                return httpx.get(url + "/health", headers=auth, timeout=1).status_code == 200
            except httpx.HTTPError:
                return proc.poll() is not None

        assert wait_until(up, timeout=60, interval=0.2) and proc.poll() is None, proc.stdout.read()
        assert httpx.get(url + "/v1/models").status_code == 401  # the key came from $CHATZOO_API_KEY
        r = httpx.post(url + "/v1/chat/completions", headers=auth, timeout=60,
                       json={"model": "tiny", "messages": [USER("hello")], "max_tokens": 8, "do_sample": False})
        assert r.status_code == 200, r.text
        assert r.json()["usage"]["completion_tokens"] >= 1
    finally:
        proc.terminate()
        proc.wait(10)
