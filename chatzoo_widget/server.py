"""Serve one ChatZoo bot over an OpenAI-compatible HTTP API.

    python -m chatzoo_widget.server --pretrained_path smollm2-135m --port 8081
    chatzoo-server --pretrained_path ./my-model --api-key "$KEY" --host 0.0.0.0

Endpoints (all under the same optional `Authorization: Bearer KEY`):

- `GET  /v1/models`                 the one model this server serves
- `POST /v1/chat/completions`       OpenAI chat completions, streamed (SSE) or not
- `GET  /v1/chatzoo/settings`       the bot's typed settings spec, defaults, model name and family
- `POST /parameters`                the same, under the original ChatZoo server's name
- `GET  /health`                    liveness and queue state

Unlike the original ChatZoo server (one global generator shared by every client, no auth, CORS `*`), every request
here has its own stream; the model answers one request at a time in a worker thread while the others wait in a
bounded queue (429 past it); a client that disconnects stops its generation; the server binds 127.0.0.1 unless told
otherwise, needs a key when given one, sends no CORS headers unless origins are named, caps body size and
max_tokens, and answers every error as `{"error": {"message", "type", "param", "code"}}`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import json
import logging
import os
import sys
import threading
import time
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, AsyncIterator, Callable, Iterable, Mapping, Sequence

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sse_starlette import EventSourceResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .bots.base import OPENAI_ROLES, ROLES, ChatBOT, ReplyStats
from .bots.settings import SettingsSpec
from .bots.text import partial_marker_length

log = logging.getLogger("chatzoo_widget.server")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8081
DEFAULT_MAX_QUEUE = 16  # requests that may wait while one generates
DEFAULT_MAX_TOKENS_CAP = 4096
DEFAULT_MAX_BODY_BYTES = 1 << 20  # 1 MiB
MAX_STOP_STRINGS = 4
API_KEY_ENV = "CHATZOO_API_KEY"  # read when --api-key is not given, so the key stays out of `ps`

# Request fields that ask for something this server cannot do: refused, so that nobody silently gets something else.
UNSUPPORTED_FIELDS = ("tools", "tool_choice", "functions", "function_call", "audio", "prediction", "logit_bias")
# OpenAI fields that map onto a bot setting of the same name.
OPENAI_SETTING_FIELDS = ("temperature", "top_p", "seed")
# Request fields the server itself understands (never passed to the bot as settings).
PROTOCOL_FIELDS = frozenset({"model", "messages", "stream", "stream_options", "n", "stop", "max_tokens",
                             "max_completion_tokens", *OPENAI_SETTING_FIELDS, *UNSUPPORTED_FIELDS,
                             "response_format", "logprobs", "top_logprobs"})

ROLE_MAP = {OPENAI_ROLES[r]: r for r in ROLES}  # user -> HUMAN, assistant -> BOT
SYSTEM_ROLES = ("system", "developer")


# ----- errors -------------------------------------------------------------------------------------
class APIError(Exception):
    """An error answered to the client in OpenAI's shape."""

    def __init__(self, status: int, message: str, type: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.type, self.param, self.code)


def error_body(message: str, type: str = "invalid_request_error", param: str | None = None,
               code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def _error_response(status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


# ----- one model, one generation at a time ----------------------------------------------------------
class GenerationGate:
    """Lets one request generate at a time; up to `max_queue` more wait in FIFO order; past that, 429.

    `admit()` is synchronous (so the 429 decision is exact on the event loop); `acquire()` waits for the turn;
    `release()` runs when the model really stopped (the worker thread ended), not when the client went away.
    """

    def __init__(self, max_queue: int):
        if max_queue < 0:
            raise ValueError(f"max_queue must be >= 0, got {max_queue}")
        self.max_queue = max_queue
        self.busy = False
        self.admitted = 0  # admitted requests that do not generate yet
        self._waiters: deque[asyncio.Future] = deque()

    @property
    def waiting(self) -> int:
        return self.admitted

    def admit(self) -> None:
        if int(self.busy) + self.admitted >= 1 + self.max_queue:
            raise APIError(
                429,
                f"the model is busy: one request is generating and {self.admitted} are waiting, which is this "
                f"server's limit (--max-queue {self.max_queue}); retry shortly",
                type="rate_limit_error", code="queue_full", headers={"Retry-After": "1"},
            )
        self.admitted += 1

    def cancel_admission(self) -> None:
        self.admitted -= 1

    async def acquire(self) -> None:
        """Wait for the model (after `admit`). Cancellation while waiting leaves the queue cleanly."""
        try:
            if not self.busy:
                self.busy = True
                return
            fut = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            try:
                await fut
            except asyncio.CancelledError:
                if fut.done() and not fut.cancelled():  # handed the model just as we were cancelled: pass it on
                    self.release()
                else:
                    with contextlib.suppress(ValueError):
                        self._waiters.remove(fut)
                raise
        finally:
            self.admitted -= 1

    def release(self) -> None:
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)  # hand the model over; busy stays True
                return
        self.busy = False


# ----- stop strings -------------------------------------------------------------------------------
class StopCutter:
    """Cuts streamed text at the first of the stop strings, holding back a tail that may start one."""

    def __init__(self, stops: Sequence[str]):
        self.stops = [s for s in stops if s]
        self.buf = ""
        self.hit = False

    def feed(self, text: str) -> str:
        if not self.stops or self.hit:
            return "" if self.hit else text
        buf = self.buf + text
        found = [i for i in (buf.find(s) for s in self.stops) if i >= 0]
        if found:
            self.hit, self.buf = True, ""
            return buf[: min(found)]
        keep = partial_marker_length(buf, self.stops)
        self.buf = buf[len(buf) - keep:]
        return buf[: len(buf) - keep]

    def flush(self) -> str:
        out, self.buf = ("" if self.hit else self.buf), ""
        return out


# ----- one request --------------------------------------------------------------------------------
@dataclass
class Job:
    query: list[dict[str, str]]
    settings: dict[str, Any]
    stops: list[str]
    stream: bool
    include_usage: bool
    id: str = field(default_factory=lambda: "chatcmpl-" + uuid.uuid4().hex)
    created: int = field(default_factory=lambda: int(time.time()))
    stop_event: threading.Event = field(default_factory=threading.Event)
    stats: ReplyStats | None = None
    ignored: list[str] = field(default_factory=list)
    admitted: bool = False  # holds a place in the gate's queue that nobody has taken up yet


def finish_reason(stats: ReplyStats | None, cut: StopCutter) -> str:
    """OpenAI's finish_reason: "length" when max_tokens ended the reply, else "stop" (a stop string, the end of
    the reply, or a stop the server made)."""
    if cut.hit or stats is None:
        return "stop"
    return "length" if stats.finish_reason == "length" else "stop"


def usage(stats: ReplyStats | None) -> dict[str, int]:
    p = stats.prompt_tokens if stats else 0
    c = stats.new_tokens if stats else 0
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def _content_text(content: Any, i: int) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: text only
        texts = []
        for part in content:
            if isinstance(part, Mapping) and part.get("type") == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            else:
                kind = part.get("type") if isinstance(part, Mapping) else type(part).__name__
                raise APIError(400, f"messages[{i}].content has a {kind!r} part; this server takes text only",
                               param=f"messages[{i}].content")
        return "".join(texts)
    raise APIError(400, f"messages[{i}].content must be a string or a list of text parts",
                   param=f"messages[{i}].content")


def convert_messages(messages: Any) -> tuple[list[dict[str, str]], str | None]:
    """OpenAI messages -> (ChatZoo query of HUMAN/BOT turns, system prompt or None)."""
    if not isinstance(messages, list) or not messages:
        raise APIError(400, "messages must be a non-empty list of {'role', 'content'} objects", param="messages")
    query: list[dict[str, str]] = []
    system: list[str] = []
    for i, msg in enumerate(messages):
        if not isinstance(msg, Mapping) or "role" not in msg:
            raise APIError(400, f"messages[{i}] must be an object with 'role' and 'content'", param=f"messages[{i}]")
        role = msg["role"]
        text = _content_text(msg.get("content"), i)
        if role in SYSTEM_ROLES:
            if query:
                raise APIError(400, f"messages[{i}] is a {role} message after the conversation started; put system "
                                    "messages first", param=f"messages[{i}].role")
            system.append(text)
        elif role in ROLE_MAP:
            query.append({"role": ROLE_MAP[role], "content": text})
        else:
            raise APIError(400, f"messages[{i}] has role {role!r}; this server takes 'system', 'user' and "
                                "'assistant'", param=f"messages[{i}].role")
    if not query or query[-1]["role"] != "HUMAN":
        raise APIError(400, "the last message must be a 'user' message to answer", param="messages")
    return query, ("\n\n".join(system) if system else None)


# ----- the application ----------------------------------------------------------------------------
class ChatZooServer:
    """State behind one app: the bot, its gate and worker thread, the request parsing."""

    def __init__(self, bot: ChatBOT, *, model_name: str | None, max_queue: int, max_tokens_cap: int,
                 max_body_bytes: int):
        if max_tokens_cap < 1:
            raise ValueError(f"max_tokens_cap must be >= 1, got {max_tokens_cap}")
        self.bot = bot
        self.model_name = model_name or bot.name
        self.spec: SettingsSpec = bot.settings_spec()
        self.max_tokens_cap = max_tokens_cap
        self.max_body_bytes = max_body_bytes
        self.gate = GenerationGate(max_queue)
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chatzoo-generate")
        self.created = int(time.time())

    # ----- settings ------------------------------------------------------------------------------
    def served_spec(self) -> SettingsSpec:
        """The bot's spec as this server enforces it: max_new_tokens limited by the cap."""
        spec = self.spec
        if "max_new_tokens" in spec:
            s = spec["max_new_tokens"]
            top = min(s.max if s.max is not None else self.max_tokens_cap, self.max_tokens_cap)
            spec = spec.with_settings(replace(s, max=top, default=min(s.default, top)))
        return spec

    def settings_info(self) -> dict[str, Any]:
        spec = self.served_spec()
        return {
            "object": "chatzoo.settings",
            "model": self.model_name,
            "family": getattr(self.bot, "family", ""),
            "spec": spec.to_json(),
            "defaults": spec.defaults(),
            "max_tokens_cap": self.max_tokens_cap,
        }

    def _setting(self, name: str, value: Any, param: str) -> Any:
        if name not in self.spec:
            raise APIError(400, f"{param!r} is not supported by model {self.model_name!r}: it has no setting "
                                f"{name!r} (its settings: {', '.join(self.spec.names())})", param=param,
                           code="unsupported_parameter")
        try:
            return self.spec[name].validate(value)
        except ValueError as exc:
            raise APIError(400, str(exc), param=param, code="invalid_value") from None

    def build_job(self, body: Any) -> Job:
        if not isinstance(body, dict):
            raise APIError(400, "the request body must be a JSON object")
        model = body.get("model")
        if model is not None and model != self.model_name:
            raise APIError(404, f"model {model!r} not found; this server serves {self.model_name!r} "
                                "(GET /v1/models)", param="model", code="model_not_found")
        query, system = convert_messages(body.get("messages"))
        stream = body.get("stream") or False
        if not isinstance(stream, bool):
            raise APIError(400, "stream must be true or false", param="stream")
        opts = body.get("stream_options") or {}
        if not isinstance(opts, Mapping):
            raise APIError(400, "stream_options must be an object", param="stream_options")
        include_usage = bool(opts.get("include_usage")) and stream
        n = body.get("n")
        if n is not None and n != 1:
            raise APIError(400, f"n must be 1 (one reply per request), got {n!r}", param="n")
        for name in UNSUPPORTED_FIELDS:
            if body.get(name) not in (None, [], {}):
                raise APIError(400, f"{name!r} is not supported by this server", param=name,
                               code="unsupported_parameter")
        fmt = body.get("response_format")
        if fmt is not None and not (isinstance(fmt, Mapping) and fmt.get("type") == "text"):
            raise APIError(400, "response_format other than {'type': 'text'} is not supported", param="response_format",
                           code="unsupported_parameter")
        if body.get("logprobs"):
            raise APIError(400, "logprobs are not supported by this server", param="logprobs",
                           code="unsupported_parameter")

        settings: dict[str, Any] = {}
        # max_tokens: refused above the cap (never clamped: a client asking for more should know it gets less).
        mt_param = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
        mt = body.get(mt_param)
        if mt is None and body.get("max_new_tokens") is not None:
            mt_param, mt = "max_new_tokens", body["max_new_tokens"]
        if mt is not None:
            if isinstance(mt, bool) or not isinstance(mt, int) or mt < 1:
                raise APIError(400, f"{mt_param} must be a positive integer, got {mt!r}", param=mt_param,
                               code="invalid_value")
            if mt > self.max_tokens_cap:
                raise APIError(400, f"{mt_param} is {mt}, above this server's cap of {self.max_tokens_cap} "
                                    f"(--max-tokens-cap); ask for at most {self.max_tokens_cap}", param=mt_param,
                               code="max_tokens_too_large")
            settings["max_new_tokens"] = self._setting("max_new_tokens", mt, mt_param)
        elif "max_new_tokens" in self.spec and self.spec["max_new_tokens"].default > self.max_tokens_cap:
            settings["max_new_tokens"] = self.max_tokens_cap
        for name in OPENAI_SETTING_FIELDS:
            if body.get(name) is not None:
                settings[name] = self._setting(name, body[name], name)
        # ChatZoo extras: any other setting of the bot's spec, by name (top_k, repetition_penalty, num_beams, ...).
        for name in self.spec.names():
            if name in PROTOCOL_FIELDS or name == "max_new_tokens" or body.get(name) is None:
                continue
            if name == "system_prompt" and system is not None:
                raise APIError(400, "give the system prompt either as a system message or as 'system_prompt', "
                                    "not both", param="system_prompt")
            settings[name] = self._setting(name, body[name], name)
        if system is not None:
            if "system_prompt" not in self.spec:
                raise APIError(400, f"model {self.model_name!r} takes no system prompt (its settings have no "
                                    "'system_prompt'); leave out the system message", param="messages",
                               code="unsupported_parameter")
            settings["system_prompt"] = self._setting("system_prompt", system, "messages")

        stop = body.get("stop")
        if stop is None:
            stops: list[str] = []
        elif isinstance(stop, str):
            stops = [stop]
        elif isinstance(stop, list) and all(isinstance(s, str) for s in stop) and len(stop) <= MAX_STOP_STRINGS:
            stops = list(stop)
        else:
            raise APIError(400, f"stop must be a string or a list of at most {MAX_STOP_STRINGS} strings",
                           param="stop")
        known = PROTOCOL_FIELDS | set(self.spec.names()) | {"max_new_tokens"}
        ignored = sorted(k for k in body if k not in known)
        return Job(query, settings, stops, stream, include_usage, ignored=ignored)

    # ----- generation -----------------------------------------------------------------------------
    async def deltas(self, job: Job) -> AsyncIterator[str]:
        """Wait for the model, run the bot in the worker thread, yield its text deltas.

        Closing this generator early (client gone, stop string) sets the job's stop event: the bot stops within
        a token, and the model is handed to the next request once its thread has really ended.
        """
        job.admitted = False  # acquire() takes the admission over
        await self.gate.acquire()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()

        def post(item: tuple[str, Any]) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is gone (server shut down)
                loop.call_soon_threadsafe(queue.put_nowait, item)

        def work() -> None:
            try:
                if job.stop_event.is_set():  # stopped before it started
                    post(("end", None))
                    return
                try:
                    stream = self.bot.stream(job.query, stop_event=job.stop_event, **job.settings)
                except ValueError as exc:  # the bot refused the request before any model work
                    post(("invalid", exc))
                    return
                job.stats = stream.stats
                for delta in stream:
                    post(("delta", delta))
                post(("end", None))
            except BaseException as exc:  # reported to the client; the server goes on
                post(("error", exc))
            finally:
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(self.gate.release)

        try:
            self.executor.submit(work)
        except BaseException:
            self.gate.release()
            raise
        try:
            while True:
                kind, value = await queue.get()
                if kind == "delta":
                    if value:
                        yield value
                elif kind == "end":
                    return
                elif kind == "invalid":
                    raise APIError(400, str(value), code="invalid_request") from value
                else:
                    raise value
        finally:
            job.stop_event.set()

    def chunk(self, job: Job, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        out = {"id": job.id, "object": "chat.completion.chunk", "created": job.created, "model": self.model_name,
               "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        if job.include_usage:
            out["usage"] = None
        return out

    async def sse_events(self, job: Job) -> AsyncIterator[str]:
        """The SSE data lines of one streamed reply (sse-starlette adds `data: `)."""
        cut = StopCutter(job.stops)
        try:
            yield _dumps(self.chunk(job, {"role": "assistant", "content": ""}))
            gen = self.deltas(job)
            async with contextlib.aclosing(gen):
                async for delta in gen:
                    text = cut.feed(delta)
                    if text:
                        yield _dumps(self.chunk(job, {"content": text}))
                    if cut.hit:
                        break
            tail = cut.flush()
            if tail:
                yield _dumps(self.chunk(job, {"content": tail}))
            yield _dumps(self.chunk(job, {}, finish_reason(job.stats, cut)))
            if job.include_usage:
                yield _dumps({"id": job.id, "object": "chat.completion.chunk", "created": job.created,
                              "model": self.model_name, "choices": [], "usage": usage(job.stats)})
            yield "[DONE]"
        except asyncio.CancelledError:
            job.stop_event.set()
            raise
        except APIError as exc:  # headers are sent: report the error as an event, and no [DONE]
            yield _dumps(exc.body())
        except Exception as exc:
            log.warning("generation failed: %s", exc)
            yield _dumps(error_body(f"generation failed: {_describe(exc)}", "server_error", None, "generation_failed"))
        finally:
            job.stop_event.set()

    def end_job(self, job: Job) -> None:
        """After the response (sent, failed or abandoned): stop the model and leave the queue if still in it."""
        job.stop_event.set()
        if job.admitted:
            job.admitted = False
            self.gate.cancel_admission()

    async def complete(self, job: Job, request: Any) -> dict[str, Any] | None:
        """A whole reply; None when the client went away first (its generation is stopped)."""
        cut = StopCutter(job.stops)
        parts: list[str] = []

        async def consume() -> None:
            gen = self.deltas(job)
            async with contextlib.aclosing(gen):
                async for delta in gen:
                    parts.append(cut.feed(delta))
                    if cut.hit:
                        break
            parts.append(cut.flush())

        task = asyncio.ensure_future(consume())
        watcher = asyncio.ensure_future(_wait_disconnect(request))
        try:
            await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            task.cancel()
            raise
        finally:
            watcher.cancel()
        if not task.done():  # the client disconnected
            job.stop_event.set()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            return None
        exc = task.exception()
        if isinstance(exc, APIError):
            raise exc
        if exc is not None:
            raise APIError(500, f"generation failed: {_describe(exc)}", type="server_error",
                           code="generation_failed") from exc
        return {
            "id": job.id, "object": "chat.completion", "created": job.created, "model": self.model_name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(parts)},
                         "logprobs": None, "finish_reason": finish_reason(job.stats, cut)}],
            "usage": usage(job.stats),
        }


def _describe(exc: BaseException) -> str:
    return str(exc) if str(exc) else type(exc).__name__


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


class JobEventSource(EventSourceResponse):
    """An EventSourceResponse that runs `on_close` however the response ends, even when the client left before
    the stream started (then the generator never runs and its own cleanup could not)."""

    def __init__(self, content: Any, *, on_close: Callable[[], None], **kwargs: Any):
        super().__init__(content, **kwargs)
        self._on_close = on_close

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._on_close()


async def _wait_disconnect(request: Any) -> None:
    while True:
        message = await request.receive()
        if message.get("type") == "http.disconnect":
            return


async def read_body(request: Any, limit: int) -> bytes:
    """The request body, refused with 413 past `limit` bytes (whatever Content-Length claimed)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise APIError(413, f"request body is larger than this server's limit of {limit} bytes",
                           code="request_too_large")
        chunks.append(chunk)
    return b"".join(chunks)


class GuardMiddleware:
    """Pure ASGI: API key on every request (when set), and Content-Length above the body cap refused early."""

    def __init__(self, app: Any, api_key: str | None, max_body_bytes: int):
        self.app = app
        self._key = api_key.encode() if api_key else None
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        if self._key is not None:
            auth = headers.get(b"authorization", b"")
            scheme, _, token = auth.partition(b" ")
            if scheme.lower() != b"bearer" or not hmac.compare_digest(token.strip(), self._key):
                msg = ("missing API key: send the header 'Authorization: Bearer <key>'" if not auth
                       else "invalid API key")
                response = _error_response(401, error_body(msg, "invalid_request_error", None, "invalid_api_key"),
                                           {"WWW-Authenticate": "Bearer"})
                await response(scope, receive, send)
                return
        length = headers.get(b"content-length")
        if length is not None:
            try:
                too_big = int(length) > self.max_body_bytes
            except ValueError:
                too_big = False
            if too_big:
                response = _error_response(413, error_body(
                    f"request body is larger than this server's limit of {self.max_body_bytes} bytes",
                    "invalid_request_error", None, "request_too_large"))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(
    bot: ChatBOT,
    *,
    api_key: str | None = None,
    model_name: str | None = None,
    cors_origins: Iterable[str] = (),
    max_queue: int = DEFAULT_MAX_QUEUE,
    max_tokens_cap: int = DEFAULT_MAX_TOKENS_CAP,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
):
    """A FastAPI app serving `bot` with the OpenAI chat completions API (see the module docstring)."""
    server = ChatZooServer(bot, model_name=model_name, max_queue=max_queue, max_tokens_cap=max_tokens_cap,
                           max_body_bytes=max_body_bytes)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        server.executor.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="ChatZoo server", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.chatzoo = server

    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError):
        return _error_response(exc.status, exc.body(), exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
        message = {404: f"no endpoint {request.url.path}; see GET /v1/models, POST /v1/chat/completions, "
                        "GET /v1/chatzoo/settings",
                   405: f"{request.method} is not allowed on {request.url.path}"}.get(exc.status_code, str(exc.detail))
        return _error_response(exc.status_code, error_body(message, "invalid_request_error", None, kind),
                               getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _server_error(request: Request, exc: Exception):
        log.exception("unexpected error on %s", request.url.path)
        return _error_response(500, error_body(f"internal server error: {_describe(exc)}", "server_error"))

    @app.get("/health")
    async def health():
        return {"status": "ok", "model": server.model_name, "generating": server.gate.busy,
                "waiting": server.gate.waiting, "max_queue": server.gate.max_queue}

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [{"id": server.model_name, "object": "model", "created": server.created,
                                            "owned_by": "chatzoo"}]}

    @app.get("/v1/models/{model_id:path}")
    async def model(model_id: str):
        if model_id != server.model_name:
            raise APIError(404, f"model {model_id!r} not found; this server serves {server.model_name!r}",
                           param="model", code="model_not_found")
        return {"id": server.model_name, "object": "model", "created": server.created, "owned_by": "chatzoo"}

    @app.get("/v1/chatzoo/settings")
    async def settings():
        return server.settings_info()

    @app.post("/parameters")
    async def parameters():
        return server.settings_info()

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request):
        raw = await read_body(request, server.max_body_bytes)
        try:
            body = json.loads(raw or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            raise APIError(400, f"the request body is not valid JSON: {exc}", code="invalid_json") from None
        job = server.build_job(body)
        headers = {"X-ChatZoo-Ignored-Fields": ",".join(job.ignored)} if job.ignored else {}
        server.gate.admit()  # 429 here, before any response starts
        job.admitted = True
        if job.stream:
            return JobEventSource(server.sse_events(job), on_close=lambda: server.end_job(job), headers=headers,
                                   sep="\n", ping=15)
        try:
            result = await server.complete(job, request)
        finally:
            server.end_job(job)
        if result is None:
            return Response(status_code=499)  # nobody is listening
        return JSONResponse(result, headers=headers)

    # Inner first: the guard (auth, body cap) runs inside CORS, so preflight requests get CORS answers.
    app.add_middleware(GuardMiddleware, api_key=api_key, max_body_bytes=max_body_bytes)
    origins = list(cors_origins or ())
    if origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_credentials=False,
                           allow_methods=["GET", "POST", "OPTIONS"], allow_headers=["Authorization", "Content-Type"])
    return app


# ----- command line -------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="chatzoo-server",
        description="Serve one chat model with an OpenAI-compatible API (ChatZoo Widget).",
    )
    p.add_argument("--pretrained_path", "--pretrained-path", dest="pretrained_path", required=True,
                   help="model alias (e.g. smollm2-135m), local folder or hub path")
    p.add_argument("--type", default=None, help="bot type (family) for paths the registry does not know")
    p.add_argument("--tokenizer_path", "--tokenizer-path", dest="tokenizer_path", default=None,
                   help="load the tokenizer from here instead")
    p.add_argument("--host", default=DEFAULT_HOST, help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p.add_argument("--dtype", default=None, help="model dtype (float32, bfloat16, float16, auto)")
    p.add_argument("--quantization", choices=["8bit", "4bit"], default=None, help="bitsandbytes quantization")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for generation (default: all cores)")
    p.add_argument("--trust-remote-code", "--trust_remote_code", dest="trust_remote_code", action="store_true",
                   help="run the model repository's own code (only for repositories you trust)")
    p.add_argument("--api-key", "--api_key", dest="api_key", default=None,
                   help=f"require 'Authorization: Bearer KEY' on every request (or set ${API_KEY_ENV})")
    p.add_argument("--name", default=None, help="model name served in /v1/models (default: the bot's name)")
    p.add_argument("--cors-origin", "--cors_origin", dest="cors_origins", action="append", nargs="+", default=[],
                   metavar="ORIGIN", help="allow browser requests from this origin (repeatable); none by default")
    p.add_argument("--max-queue", "--max_queue", dest="max_queue", type=int, default=DEFAULT_MAX_QUEUE,
                   help="requests that may wait while one generates; more get 429 (default %(default)s)")
    p.add_argument("--max-tokens-cap", "--max_tokens_cap", dest="max_tokens_cap", type=int,
                   default=DEFAULT_MAX_TOKENS_CAP, help="largest max_tokens a request may ask (default %(default)s)")
    p.add_argument("--max-body-bytes", "--max_body_bytes", dest="max_body_bytes", type=int,
                   default=DEFAULT_MAX_BODY_BYTES, help="largest request body (default %(default)s)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    return p


def load_from_args(args: argparse.Namespace) -> ChatBOT:
    from .registry import load_bot

    options: dict[str, Any] = {}
    for name in ("dtype", "quantization"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    if args.trust_remote_code:
        options["trust_remote_code"] = True
    if args.threads is not None:
        options["num_threads"] = args.threads
    return load_bot(args.pretrained_path, type=args.type, tokenizer_path=args.tokenizer_path, name=args.name,
                    **options)


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    api_key = args.api_key or os.environ.get(API_KEY_ENV) or None
    origins = [o for group in args.cors_origins for o in group]
    if args.host not in ("127.0.0.1", "localhost", "::1") and not api_key:
        print(f"warning: serving on {args.host} without --api-key: anyone who can reach this port can use the model",
              file=sys.stderr)
    print(f"loading {args.pretrained_path} ...", file=sys.stderr, flush=True)
    bot = load_from_args(args)
    app = create_app(bot, api_key=api_key, model_name=args.name, cors_origins=origins, max_queue=args.max_queue,
                     max_tokens_cap=args.max_tokens_cap, max_body_bytes=args.max_body_bytes)
    import uvicorn

    name = app.state.chatzoo.model_name
    print(f"serving {name!r} at http://{args.host}:{args.port}/v1 (auth: {'on' if api_key else 'off'})",
          file=sys.stderr, flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
