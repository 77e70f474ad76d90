"""The FastAPI app: routes, the API key, CORS, the body cap, and errors in OpenAI's shape.

Endpoints (all under the same optional `Authorization: Bearer KEY`):

- `GET  /v1/models`                 the one model this server serves
- `POST /v1/chat/completions`       OpenAI chat completions, streamed (SSE) or not
- `GET  /v1/chatzoo/settings`       the bot's typed settings spec, defaults, model name and family
- `POST /parameters`                the same, under the original ChatZoo server's name
- `GET  /health`                    liveness, and how many requests generate and wait
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
from typing import Any, Callable, Iterable, Mapping

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sse_starlette import EventSourceResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..bots.base import ChatBOT
from ..wire import SETTINGS_PATH, error_body
from .protocol import APIError
from .serving import ChatServing, describe

log = logging.getLogger("chatzoo_widget.server")

DEFAULT_MAX_BATCH = 16  # requests generating at once (decoded together by the model's scheduler)
DEFAULT_MAX_QUEUE = 256  # requests that may wait for a slot; enough that 50 concurrent clients are all served
DEFAULT_MAX_TOKENS_CAP = 4096
DEFAULT_MAX_BODY_BYTES = 1 << 20  # 1 MiB


def _error_response(status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


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


async def wait_disconnect(request: Request) -> None:
    while True:
        message = await request.receive()
        if message.get("type") == "http.disconnect":
            return


async def read_body(request: Request, limit: int) -> bytes:
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


def _add_error_handlers(app: FastAPI) -> None:
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
        return _error_response(500, error_body(f"internal server error: {describe(exc)}", "server_error"))


def _add_routes(app: FastAPI, serving: ChatServing) -> None:
    @app.get("/health")
    async def health():
        return serving.health()

    @app.get("/v1/models")
    async def models():
        return serving.models()

    @app.get("/v1/models/{model_id:path}")
    async def model(model_id: str):
        if model_id != serving.model_name:
            raise APIError(404, f"model {model_id!r} not found; this server serves {serving.model_name!r}",
                           param="model", code="model_not_found")
        return serving.model_card()

    @app.get("/v1" + SETTINGS_PATH)
    async def settings():
        return serving.settings_payload()

    @app.post("/parameters")
    async def parameters():  # the original ChatZoo server's name for the settings
        return serving.settings_payload()

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request):
        raw = await read_body(request, serving.max_body_bytes)
        try:
            body = json.loads(raw or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            raise APIError(400, f"the request body is not valid JSON: {exc}", code="invalid_json") from None
        job = serving.prepare(body)
        headers = {"X-ChatZoo-Ignored-Fields": ",".join(job.ignored)} if job.ignored else {}
        serving.admit(job)
        if job.stream:
            return JobEventSource(serving.sse_events(job), on_close=lambda: serving.end_job(job), headers=headers,
                                  sep="\n", ping=15)
        try:
            result = await serving.complete(job, wait_disconnect(request))
        finally:
            serving.end_job(job)
        if result is None:
            return Response(status_code=499)  # nobody is listening
        return Response(result.model_dump_json(), media_type="application/json", headers=headers)


def create_app(
    bot: ChatBOT,
    *,
    api_key: str | None = None,
    model_name: str | None = None,
    cors_origins: Iterable[str] = (),
    max_batch: int = DEFAULT_MAX_BATCH,
    max_queue: int = DEFAULT_MAX_QUEUE,
    max_tokens_cap: int = DEFAULT_MAX_TOKENS_CAP,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> FastAPI:
    """A FastAPI app serving `bot` with the OpenAI chat completions API (see the module docstring).

    Up to `max_batch` requests generate at once, `max_queue` more wait, later ones get 429.
    """
    serving = ChatServing(bot, model_name=model_name, max_batch=max_batch, max_queue=max_queue,
                          max_tokens_cap=max_tokens_cap, max_body_bytes=max_body_bytes)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        serving.close()

    app = FastAPI(title="ChatZoo server", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.chatzoo = serving
    _add_error_handlers(app)
    _add_routes(app, serving)
    # Inner first: the guard (auth, body cap) runs inside CORS, so preflight requests get CORS answers.
    app.add_middleware(GuardMiddleware, api_key=api_key, max_body_bytes=max_body_bytes)
    origins = list(cors_origins or ())
    if origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_credentials=False,
                           allow_methods=["GET", "POST", "OPTIONS"], allow_headers=["Authorization", "Content-Type"])
    return app
