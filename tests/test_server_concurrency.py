"""The server runs up to --max-batch requests at once, each with its own reply and its own stop: 50 concurrent
OpenAI clients on default flags are all answered, a client that leaves cancels only its request, and a full queue
is a 429. Servers bind 127.0.0.1; every wait is bounded."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest

from chatzoo_widget.server import DEFAULT_MAX_BATCH
from chatzoo_widget.testing import echo_reply, wait_until
from test_server_support import LiveServer, RecordingBOT, long_prompt

openai = pytest.importorskip("openai")
USER = lambda text: {"role": "user", "content": text}  # noqa: E731


async def _ask(client, model: str, prompt: str, **extra) -> str:
    parts = []
    stream = await client.chat.completions.create(model=model, messages=[USER(prompt)], stream=True, **extra)
    async for chunk in stream:
        parts += [c.delta.content or "" for c in chunk.choices]
    return "".join(parts)


def ask_all(srv: LiveServer, model: str, prompts: list[str], timeout: float = 120, **extra) -> list[str]:
    """Stream every prompt at once through the openai SDK; the replies, in order."""
    async def run() -> list[str]:
        async with openai.AsyncOpenAI(base_url=srv.base, api_key="none", max_retries=0, timeout=timeout) as client:
            return await asyncio.gather(*(_ask(client, model, p, **extra) for p in prompts))

    return asyncio.run(asyncio.wait_for(run(), timeout))


def health(srv: LiveServer) -> dict:
    return httpx.get(srv.url + "/health", timeout=5).json()


def test_fifty_concurrent_streams_on_default_flags_get_their_own_replies():
    bot = RecordingBOT(name="scripted", delay=0.005)
    with LiveServer(bot) as s:  # default --max-batch and --max-queue
        prompts = [f"client {i} asks about number {i * 7}" for i in range(50)]
        replies = ask_all(s, "scripted", prompts, timeout=60)
        assert wait_until(lambda: health(s)["running"] == 0, timeout=5)
    assert replies == [echo_reply([{"role": "HUMAN", "content": p}]) for p in prompts]
    assert len(bot.runs) == 50
    assert 1 < bot.max_active <= DEFAULT_MAX_BATCH  # they really ran together, and no more than the batch


def test_tiny_model_fifty_concurrent_streams_match_their_greedy_reply_alone(request):
    try:
        bot = request.getfixturevalue("tiny_bot")
    except pytest.FixtureLookupError:
        pytest.skip("tiny_bot fixture (tests/conftest.py) not available")
    distinct = [f"tell me about item {i}" for i in range(10)]
    settings = {"do_sample": False, "max_new_tokens": 8}
    alone: dict[str, str] = {}

    def run_alone():  # in a worker thread, as the server runs it
        alone.update({p: bot.chat([{"role": "HUMAN", "content": p}], **settings) for p in distinct})

    t = threading.Thread(target=run_alone)
    t.start()
    t.join(120)
    assert len(alone) == len(distinct) and len(set(alone.values())) > 1  # real, distinct texts: a mix-up would show
    prompts = [distinct[i % len(distinct)] for i in range(50)]
    with LiveServer(bot, model_name="tiny") as s:
        replies = ask_all(s, "tiny", prompts, max_tokens=8, extra_body={"do_sample": False})
    assert replies == [alone[p] for p in prompts]


def _collect(srv: LiveServer, prompt: str, out: dict, key: str) -> None:
    r = httpx.post(srv.base + "/chat/completions", json={"messages": [USER(prompt)]}, timeout=30)
    out[key] = r.json()["choices"][0]["message"]["content"] if r.status_code == 200 else r.status_code


def test_max_batch_bounds_the_batch_and_a_full_queue_is_429():
    bot = RecordingBOT(name="slow", delay=0.03)
    with LiveServer(bot, max_batch=3, max_queue=2) as s:
        results: dict[str, object] = {}
        prompts = {tag: f"{tag} " + long_prompt(40) for tag in "ABCDE"}
        clients = [threading.Thread(target=_collect, args=(s, p, results, t)) for t, p in prompts.items()]
        for c in clients:
            c.start()
        assert wait_until(lambda: (health(s)["running"], health(s)["waiting"]) == (3, 2), timeout=5), health(s)
        assert bot.active == 3
        r = httpx.post(s.base + "/chat/completions", json={"messages": [USER("F")], "stream": True}, timeout=10)
        assert r.status_code == 429 and r.headers["retry-after"] == "1"
        err = r.json()["error"]
        assert err["type"] == "rate_limit_error" and "--max-queue 2" in err["message"]
        for c in clients:
            c.join(30)
        assert results == {t: echo_reply([{"role": "HUMAN", "content": p}]) for t, p in prompts.items()}
        assert bot.max_active == 3 and len(bot.runs) == 5
        assert httpx.post(s.base + "/chat/completions", json={"messages": [USER("F")]}).status_code == 200


def test_a_client_that_leaves_cancels_only_its_own_request_and_frees_its_slot():
    bot = RecordingBOT(name="slow", delay=0.03)
    with LiveServer(bot, max_batch=2, max_queue=4) as s:
        results: dict[str, object] = {}
        stays = "A " + long_prompt(60)  # about 2 s of words
        a = threading.Thread(target=_collect, args=(s, stays, results, "A"))
        a.start()
        assert wait_until(lambda: bot.runs and bot.runs[0].words > 0)
        waiting = threading.Thread(target=_collect, args=(s, "E waits", results, "E"))
        with httpx.stream("POST", s.base + "/chat/completions", timeout=10,
                          json={"messages": [USER("D " + long_prompt(200))], "stream": True}) as r:
            lines = r.iter_lines()
            assert next(lines).startswith("data:")
            waiting.start()  # both slots are taken (A, D): E waits
            assert wait_until(lambda: health(s)["waiting"] == 1, timeout=5), health(s)
            got = 0
            for line in lines:
                got += line.startswith("data:")
                if got == 3:
                    break  # D goes away mid-reply (closing the iterator closes the connection)
            left_at = time.monotonic()
        a.join(30), waiting.join(30)
        run_a, run_d, run_e = (next(r for r in bot.runs if r.query[-1]["content"][0] == t) for t in "ADE")
        assert run_d.done.is_set() and run_d.words < 20  # D was cancelled ...
        assert run_d.ended_at - left_at < 0.5  # ... within a token or so of leaving
        assert run_e.started_at < run_a.ended_at  # and its slot went to E while A still generated
        assert results == {"A": echo_reply([{"role": "HUMAN", "content": stays}]),
                           "E": echo_reply([{"role": "HUMAN", "content": "E waits"}])}
        assert run_a.words == len(results["A"].split(" "))  # A was never stopped
        assert wait_until(lambda: health(s)["running"] == 0, timeout=5)


def test_streams_and_whole_replies_mix_under_load():
    bot = RecordingBOT(name="scripted", delay=0.002)
    with LiveServer(bot, max_batch=4) as s:
        results: dict[str, object] = {}
        whole = [threading.Thread(target=_collect, args=(s, f"whole {i}", results, f"w{i}")) for i in range(6)]
        for t in whole:
            t.start()
        streamed = ask_all(s, "scripted", [f"streamed {i}" for i in range(6)], timeout=30)
        for t in whole:
            t.join(30)
    assert streamed == [echo_reply([{"role": "HUMAN", "content": f"streamed {i}"}]) for i in range(6)]
    assert results == {f"w{i}": echo_reply([{"role": "HUMAN", "content": f"whole {i}"}]) for i in range(6)}
    assert bot.max_active <= 4

