"""Helpers shared by the server and remote-bot tests (no tests here).

- `LiveServer`: a real uvicorn server on 127.0.0.1 and a free port, in a thread, serving `create_app(bot, ...)`.
- `RecordingBOT`: a ScriptedBOT that records every generation it runs (settings it got, words emitted, whether it
  was stopped, how many ran at once), so tests can check what really happened on the server side.
- `FaultServer`: a raw asyncio HTTP server that misbehaves on purpose, one behaviour per URL prefix.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import uvicorn

from chatzoo_widget.bots.process import free_port  # noqa: F401  (tests import it from here)
from chatzoo_widget.server import create_app
from chatzoo_widget.testing import ScriptedBOT


class LiveServer:
    """`with LiveServer(bot, api_key=...) as srv:` then `srv.url` (root) and `srv.base` (root + /v1)."""

    def __init__(self, bot: Any = None, *, port: int | None = None, app: Any = None, **app_options: Any):
        self.app = app if app is not None else create_app(bot, **app_options)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.base = self.url + "/v1"
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning",
                                timeout_graceful_shutdown=1, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True, name=f"uvicorn-{self.port}")

    @property
    def state(self):
        return self.app.state.chatzoo

    def __enter__(self) -> "LiveServer":
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"uvicorn did not start on port {self.port}")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@dataclass
class Run:
    query: list[dict[str, str]]
    gen_kwargs: dict[str, Any]
    prompt_kwargs: dict[str, Any]
    control: dict[str, Any]
    stop_event: threading.Event
    words: int = 0
    done: threading.Event = field(default_factory=threading.Event)
    started_at: float = field(default_factory=time.monotonic)
    ended_at: float | None = None


class RecordingBOT(ScriptedBOT):
    """ScriptedBOT that records each generation (see module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.runs: list[Run] = []
        self.active = 0
        self.max_active = 0
        self._count_lock = threading.Lock()

    def stream_generate(self, request):
        run = Run(request.query, dict(request.gen_kwargs), dict(request.prompt_kwargs), dict(request.control),
                  request.stop_event)
        self.runs.append(run)
        with self._count_lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            for word in super().stream_generate(request):
                run.words += 1
                yield word
        finally:
            with self._count_lock:
                self.active -= 1
            run.ended_at = time.monotonic()
            run.done.set()


def long_prompt(n: int = 60) -> str:
    return " ".join(f"w{i}" for i in range(n))


def sse_data(lines: list[str]) -> list[str]:
    """The data payloads of an SSE body's lines."""
    return [line[5:].lstrip() for line in lines if line.startswith("data:")]


# ----- a misbehaving endpoint ------------------------------------------------------------------
def chunk_json(content: str | None = None, *, role: str | None = None, finish: str | None = None,
               usage: dict | None = None, choices: Any = "default") -> str:
    delta: dict[str, Any] = {}
    if role:
        delta["role"] = role
    if content is not None:
        delta["content"] = content
    body: dict[str, Any] = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "fault"}
    body["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish}] if choices == "default" else choices
    if usage is not None:
        body["usage"] = usage
    return json.dumps(body)


Behaviour = Callable[["FaultConn"], Any]


class FaultConn:
    """One accepted request: path, headers, JSON body; helpers to answer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, method: str, path: str,
                 headers: dict[str, str], body: bytes):
        self.reader, self.writer = reader, writer
        self.method, self.path, self.headers, self.raw = method, path, headers, body

    @property
    def json(self) -> Any:
        return json.loads(self.raw) if self.raw else None

    async def respond(self, status: int, body: bytes | str, content_type: str = "application/json",
                      extra: str = "") -> None:
        body = body.encode() if isinstance(body, str) else body
        head = (f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
                f"{extra}Connection: close\r\n\r\n")
        self.writer.write(head.encode() + body)
        await self.writer.drain()

    async def start_sse(self, chunked: bool = True) -> None:
        te = "Transfer-Encoding: chunked\r\n" if chunked else ""
        self.chunked = chunked
        self.writer.write(f"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n{te}Connection: close\r\n\r\n"
                          .encode())
        await self.writer.drain()

    async def send(self, text: str) -> None:
        data = text.encode()
        if self.chunked:
            data = f"{len(data):x}\r\n".encode() + data + b"\r\n"
        self.writer.write(data)
        await self.writer.drain()

    async def end(self) -> None:
        if self.chunked:
            self.writer.write(b"0\r\n\r\n")
            await self.writer.drain()


class FaultServer:
    """A raw asyncio HTTP/1.1 server in a thread: requests to /<mode>/v1/... run `behaviours[mode]`."""

    def __init__(self, behaviours: dict[str, Behaviour]):
        self.behaviours = behaviours
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="fault-server")
        self._tasks: set[asyncio.Task] = set()

    def base(self, mode: str) -> str:
        return f"{self.url}/{mode}/v1"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._tasks.add(asyncio.current_task())
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
            body = await reader.readexactly(int(headers.get("content-length", 0) or 0))
            conn = FaultConn(reader, writer, method, path, headers, body)
            self.requests.append((method, path, headers, conn.json if body else None))
            mode = path.strip("/").split("/")[0]
            behaviour = self.behaviours.get(mode)
            if behaviour is None:
                await conn.respond(404, "no such mode", "text/plain")
            else:
                await behaviour(conn)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(asyncio.current_task())
            writer.close()

    def __enter__(self) -> "FaultServer":
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", self.port), self._loop)
        self._server = fut.result(timeout=5)
        return self

    def __exit__(self, *exc: Any) -> None:
        async def shutdown():
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.sleep(0.05)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
