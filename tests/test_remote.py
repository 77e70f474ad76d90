"""RemoteChatBOT against a real ChatZoo server on 127.0.0.1: chat, stream, statistics, settings, stop, keys."""

from __future__ import annotations

import threading
import time

import pytest

from chatzoo_widget.bots import remote as remote_mod
from chatzoo_widget.bots.base import ChatBOT
from chatzoo_widget.bots.remote import OPENAI_SETTINGS, RemoteBotError, RemoteChatBOT, normalize_base_url
from chatzoo_widget.manager import ChatManager
from chatzoo_widget.testing import echo_reply, wait_until
from test_server_support import FaultServer, LiveServer, RecordingBOT, chunk_json, free_port, long_prompt

HUMAN = lambda text: [{"role": "HUMAN", "content": text}]  # noqa: E731


@pytest.fixture(scope="module")
def srv():
    with LiveServer(RecordingBOT(name="scripted", delay=0.002), model_name="zoo-model") as s:
        yield s


def test_chat_and_statistics(srv):
    bot = RemoteChatBOT(srv.url)
    assert isinstance(bot, ChatBOT) and bot.remote
    assert bot.chat(HUMAN("hello remote zoo")) == "Reply 1 to: hello remote zoo"
    stats = bot.last_stats
    assert stats.finish_reason == "stop" and stats.error is None
    assert stats.prompt_tokens == 3 and stats.new_tokens == 6  # from the server's usage chunk
    assert 0 < stats.time_to_first_token < 2 and stats.tokens_per_second > 0 and stats.total_time > 0
    history = HUMAN("q1") + [{"role": "BOT", "content": "a1"}] + HUMAN("q2")
    assert bot.chat(history) == "Reply 2 to: q2"
    assert srv.state.bot.runs[-1].query == history
    assert bot.chat(HUMAN(long_prompt(20)), max_new_tokens=3) == "Reply 1 to: "
    assert bot.last_stats.finish_reason == "length" and bot.last_stats.new_tokens == 3


def test_stream_yields_deltas_in_order(srv):
    bot = RemoteChatBOT(srv.base + "/")  # the /v1 form, with a trailing slash
    stream = bot.stream(HUMAN("a b c"))
    deltas = list(stream)
    assert deltas == ["Reply ", "1 ", "to: ", "a ", "b ", "c"] and stream.text == "Reply 1 to: a b c"
    assert stream.done and stream.stats.new_tokens == 6


def test_settings_spec_and_model_come_from_a_chatzoo_server(srv):
    bot = RemoteChatBOT(srv.url)
    assert bot.model is None  # nothing asked yet
    spec = bot.settings_spec()
    assert spec.names() == srv.state.bot.settings_spec().names()
    assert spec["top_k"].max == 200 and spec["max_new_tokens"].default == 64
    assert bot.model == "zoo-model" and bot.name == f"127.0.0.1:{srv.port}"
    info = bot.describe()
    assert info["spec_source"] == "chatzoo" and info["server_family"] == "scripted" and info["remote"]
    with pytest.raises(ValueError, match="top_k"):  # typed settings are checked before any request
        bot.stream(HUMAN("x"), top_k=1000)


def test_settings_reach_the_server_bot(srv):
    bot = RemoteChatBOT(srv.url, model="zoo-model", name="remote zoo")
    assert bot.chat(HUMAN("hi"), system_prompt="be kind", top_k=5, num_beams=2, do_sample=False, seed=11,
                    temperature=0.0, max_new_tokens=30) == "Reply 1 to: hi"
    run = srv.state.bot.runs[-1]
    assert run.prompt_kwargs == {"system_prompt": "be kind"}
    assert run.control == {"seed": 11, "logprobs": False, "top_logprobs": 0}  # logprobs: off by default
    assert run.gen_kwargs == {"max_new_tokens": 30, "temperature": 0.0, "top_p": 0.9, "top_k": 5,
                              "repetition_penalty": 1.0, "num_beams": 2, "do_sample": False}
    # settings left at their defaults are not sent, so the server's own defaults apply
    body = bot.request_body(_request(bot, HUMAN("x")))
    assert body["max_tokens"] == 64 and body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert set(body) == {"model", "messages", "stream", "stream_options", "max_tokens"}


def _request(bot, query, **settings):
    from chatzoo_widget.bots.base import GenerationRequest, ReplyStats

    gen, prompt, control = bot.merge_settings(settings)
    return GenerationRequest(query, gen, prompt, control, threading.Event(), ReplyStats())


def test_stop_closes_the_stream_and_frees_the_server_model():
    server_bot = RecordingBOT(name="slow", delay=0.05)
    with LiveServer(server_bot) as s:
        bot = RemoteChatBOT(s.url, timeout=10)
        stop = threading.Event()
        stream = bot.stream(HUMAN(long_prompt(200)), stop_event=stop)
        for i, _ in enumerate(stream):
            if i == 2:
                stop.set()
                stopped_at = time.perf_counter()
        assert time.perf_counter() - stopped_at < 1.0  # the local stream ends at once (polls every 0.05 s)
        assert stream.stats.finish_reason == "cancelled" and stream.text.startswith("Reply 1 to:")
        run = server_bot.runs[0]
        assert run.done.wait(3) and run.stop_event.is_set() and run.words < 15  # and the server model stopped
        assert bot.chat(HUMAN("again")) == "Reply 1 to: again"


def test_stop_while_waiting_for_the_first_token():
    server_bot = RecordingBOT(name="slow-start", first_delay=5.0)
    with LiveServer(server_bot) as s:
        bot = RemoteChatBOT(s.url, model="slow-start", timeout=30)
        stop = threading.Event()
        threading.Timer(0.3, stop.set).start()
        start = time.perf_counter()
        stream = bot.stream(HUMAN("x"), stop_event=stop)
        assert stream.consume() == "" and stream.stats.finish_reason == "cancelled"
        assert time.perf_counter() - start < 1.5
        assert wait_until(lambda: server_bot.runs and server_bot.runs[0].done.is_set(), timeout=3)


def test_api_key_from_argument_or_environment_never_printed(monkeypatch):
    with LiveServer(RecordingBOT(name="scripted"), api_key="tok-SECRET-42") as s:
        bot = RemoteChatBOT(s.url, api_key="tok-SECRET-42")
        assert bot.chat(HUMAN("x")) == "Reply 1 to: x"
        shown = " ".join([repr(bot), str(bot.describe()), str(vars(bot)), str(bot.__dict__.values())])
        assert "SECRET" not in shown
        monkeypatch.setenv("MY_ZOO_KEY", "tok-SECRET-42")
        env_bot = RemoteChatBOT(s.url, api_key_env="MY_ZOO_KEY")
        assert env_bot.chat(HUMAN("y")) == "Reply 1 to: y" and "SECRET" not in str(vars(env_bot))
        monkeypatch.delenv("MY_ZOO_KEY")
        with pytest.raises(RemoteBotError, match="MY_ZOO_KEY.*not set"):
            env_bot.chat(HUMAN("z"))
        monkeypatch.setenv("OPENAI_API_KEY", "tok-SECRET-42")  # never sent unless asked for
        with pytest.raises(RemoteBotError, match="401") as info:
            RemoteChatBOT(s.url, model="scripted").chat(HUMAN("z"))
        assert info.value.kind == "auth" and "api_key" in str(info.value)
        import pickle

        with pytest.raises(TypeError):
            pickle.dumps(bot._api_key)


def test_openai_fallback_spec_for_other_servers():
    seen = []

    async def plain(conn):  # an OpenAI-compatible engine without ChatZoo's settings endpoint
        if conn.path.endswith("/models"):
            await conn.respond(200, '{"object":"list","data":[{"id":"engine-model"},{"id":"other"}]}')
        elif conn.path.endswith("/chat/completions"):
            seen.append(conn.json)
            await conn.start_sse()
            await conn.send(f"data: {chunk_json('hi', role='assistant')}\n\n")
            await conn.send(f"data: {chunk_json(None, finish='stop')}\n\ndata: [DONE]\n\n")
            await conn.end()
        else:
            await conn.respond(404, '{"detail":"Not Found"}')

    with FaultServer({"plain": plain}) as fs:
        bot = RemoteChatBOT(fs.base("plain"))
        assert bot.settings_spec().names() == OPENAI_SETTINGS.names()
        assert bot.describe()["spec_source"] == "openai"
        assert bot.chat(HUMAN("x"), temperature=0.2, system_prompt="sys", seed=3) == "hi"
        assert bot.model == "engine-model"
        body = seen[-1]
        assert body["model"] == "engine-model" and body["temperature"] == 0.2 and body["seed"] == 3
        assert body["messages"] == [{"role": "system", "content": "sys"}, {"role": "user", "content": "x"}]
        assert "top_p" not in body and "system_prompt" not in body
        with pytest.raises(ValueError, match="top_k"):
            bot.stream(HUMAN("x"), top_k=3)  # not a setting of a plain OpenAI endpoint


def test_lazy_when_the_server_is_down_then_works_once_it_is_up(monkeypatch):
    monkeypatch.setattr(remote_mod, "SPEC_RETRY_AFTER", 0.0)
    port = free_port()
    start = time.perf_counter()
    bot = RemoteChatBOT(f"http://127.0.0.1:{port}", timeout=5)  # nothing listens yet: construction still works
    assert bot.settings_spec().names() == OPENAI_SETTINGS.names()
    assert time.perf_counter() - start < 2
    with pytest.raises(RemoteBotError, match="connection refused") as info:
        bot.chat(HUMAN("x"))
    assert info.value.kind == "connection" and str(port) in str(info.value)
    with LiveServer(RecordingBOT(name="late"), port=port):
        assert bot.chat(HUMAN("now")) == "Reply 1 to: now"
        assert bot.describe()["spec_source"] == "chatzoo" and "top_k" in bot.settings_spec()


def test_base_url_forms():
    assert normalize_base_url("http://h:1") == "http://h:1/v1"
    assert normalize_base_url("http://h:1/v1/") == "http://h:1/v1"
    assert normalize_base_url("https://h/api") == "https://h/api/v1"
    for bad in ("h:1", "ftp://h", "", "http://user:pw@h:1"):
        with pytest.raises(ValueError):
            RemoteChatBOT(bad)


def test_manager_column_over_remote_bot(srv):
    events = []
    manager = ChatManager(on_event=events.append)
    column = manager.add(RemoteChatBOT(srv.url, name="far zoo"))
    manager.send("hello from the widget")
    assert wait_until(lambda: any(e["kind"] == "turn_end" for e in events), timeout=10)
    end = next(e for e in events if e["kind"] == "turn_end")
    assert end["text"] == echo_reply(HUMAN("hello from the widget")) and end["stats"]["finish_reason"] == "stop"
    assert manager.get(column.id).name == "far zoo"


def test_registry_routes_urls_to_remote_bot(srv):
    registry = pytest.importorskip("chatzoo_widget.registry")
    bot = registry.load_bot(srv.url, name="via registry")
    assert isinstance(bot, RemoteChatBOT) and bot.name == "via registry"
    assert bot.chat(HUMAN("routed")) == "Reply 1 to: routed"


def test_tiny_model_served_and_used_remotely(request):
    try:
        tiny = request.getfixturevalue("tiny_bot")
    except pytest.FixtureLookupError:
        pytest.skip("tiny_bot fixture (tests/conftest.py) not available")
    expected: list[str] = []
    t = threading.Thread(target=lambda: expected.append(tiny.chat(HUMAN("hello"), do_sample=False,
                                                                  max_new_tokens=10)))
    t.start()
    t.join(120)
    with LiveServer(tiny) as s:
        bot = RemoteChatBOT(s.url)
        assert bot.settings_spec().names() == tiny.settings_spec().names()
        assert bot.chat(HUMAN("hello"), do_sample=False, max_new_tokens=10) == expected[0]
        assert bot.last_stats.new_tokens == tiny.last_stats.new_tokens
        assert bot.last_stats.prompt_tokens == tiny.last_stats.prompt_tokens
