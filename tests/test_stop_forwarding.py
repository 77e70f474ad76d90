"""Stop strings travel with the request: the server hands them to its bot (whose decoder cuts them and stops the
model at once), a remote bot sends them to its server and still cuts locally when a server ignores them."""

from __future__ import annotations

import json

import httpx

from chatzoo_widget.bots.remote import MAX_STOP_SENT, RemoteChatBOT
from test_server_support import FaultServer, LiveServer, RecordingBOT, chunk_json, long_prompt, sse_data

HUMAN = lambda text: [{"role": "HUMAN", "content": text}]  # noqa: E731


class StopRecordingBOT(RecordingBOT):
    """Records the stop strings each request reached the bot with."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.stops: list[tuple[str, ...]] = []

    def stream_generate(self, request):
        self.stops.append(request.stop)
        return super().stream_generate(request)


def test_the_server_hands_stop_strings_to_its_bot():
    with LiveServer(StopRecordingBOT(name="rec")) as s:
        body = {"model": "rec", "messages": [{"role": "user", "content": long_prompt(20)}], "stop": ["w3", "zz"]}
        r = httpx.post(s.base + "/chat/completions", json=body, timeout=30).json()
        assert s.state.bot.stops == [("w3", "zz")]
        assert r["choices"][0]["message"]["content"] == "Reply 1 to: w0 w1 w2 "  # cut by the server's safety net
        assert r["choices"][0]["finish_reason"] == "stop"


def test_a_served_model_stops_at_the_stop_string_itself(tiny_bot):
    """A local model behind the server: its decoder cuts the stop string and the model stops there (few tokens
    past it), the client gets the text before it, streamed or not."""
    settings = dict(do_sample=False, max_new_tokens=40)
    full = tiny_bot.chat(HUMAN("hello"), **settings)
    marker = full[len(full) // 2:len(full) // 2 + 2]
    assert marker.strip(), full
    with LiveServer(tiny_bot) as s:
        body = {"messages": [{"role": "user", "content": "hello"}], "max_tokens": 40, "temperature": 0,
                "stop": [marker]}
        r = httpx.post(s.base + "/chat/completions", json=body, timeout=60).json()
        assert r["choices"][0]["message"]["content"] == full[:full.index(marker)]
        assert r["choices"][0]["finish_reason"] == "stop"
        assert r["usage"]["completion_tokens"] < tiny_bot.last_stats.new_tokens
        with httpx.stream("POST", s.base + "/chat/completions", json={**body, "stream": True}, timeout=60) as resp:
            chunks = [json.loads(d) for d in sse_data(list(resp.iter_lines()))[:-1]]
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
        assert text == r["choices"][0]["message"]["content"] and chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_remote_bot_sends_stop_and_its_server_cuts():
    with LiveServer(StopRecordingBOT(name="rec")) as s:
        bot = RemoteChatBOT(s.url)
        stream = bot.stream(HUMAN(long_prompt(20)), stop=["w3 w4"])
        assert stream.consume() == "Reply 1 to: w0 w1 w2 "
        assert stream.stats.finish_reason == "stop"
        assert s.state.bot.stops == [("w3 w4",)]


def test_remote_bot_cuts_locally_when_the_server_ignores_stop():
    seen = []

    async def deaf(conn):  # an engine that ignores `stop` and streams the stop string split across chunks
        if conn.path.endswith("/chat/completions"):
            seen.append(conn.json)
            await conn.start_sse()
            for piece in ["Hello, E", "N", "D of it", " and more"]:
                await conn.send(f"data: {chunk_json(piece)}\n\n")
            await conn.send(f"data: {chunk_json(None, finish='length')}\n\ndata: [DONE]\n\n")
            await conn.end()
        elif conn.path.endswith("/models"):
            await conn.respond(200, '{"object":"list","data":[{"id":"deaf-model"}]}')
        else:
            await conn.respond(404, '{"detail":"Not Found"}')

    with FaultServer({"deaf": deaf}) as fs:
        bot = RemoteChatBOT(fs.base("deaf"))
        stops = ["END", "x1", "x2", "x3", "x4", ""]
        stream = bot.stream(HUMAN("hi"), stop=stops)
        deltas = list(stream)
        assert "".join(deltas) == "Hello, " and not any("E" in d for d in deltas)  # never a piece of "END"
        assert stream.stats.finish_reason == "stop"
        assert seen[-1]["stop"] == ["END", "x1", "x2", "x3"][:MAX_STOP_SENT]  # OpenAI takes 4; empty ones dropped
        # without stop strings nothing is sent or cut
        assert bot.chat(HUMAN("hi")) == "Hello, END of it and more" and "stop" not in seen[-1]
