"""A bot that answers through an OpenAI-compatible HTTP endpoint: a ChatZoo server, vLLM, Ollama, llama.cpp, ...

    bot = RemoteChatBOT("http://127.0.0.1:8081")                  # a ChatZoo server: its typed settings come along
    bot = RemoteChatBOT("http://127.0.0.1:11434/v1", model="llama3", api_key_env="OLLAMA_KEY")
    bot.chat([{"role": "HUMAN", "content": "Hi"}], max_new_tokens=32)

It has the interface of every ChatBOT (chat, stream with statistics and stop, settings_spec). Nothing goes over the
network at construction: the settings spec and the model id are fetched on first need, so a column whose server is
down still loads and shows the error when a prompt is sent. Every failure is a `RemoteBotError` (a RuntimeError)
that says what happened, at which URL, and what to do; text streamed before a failure stays in the ReplyStream.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import threading
import time
from typing import Any, Iterator, Mapping
from urllib.parse import urlsplit

import httpx
from httpx_sse import EventSource, ServerSentEvent

from ..text.stops import StopCutter, clean_stops
from ..wire import DONE, SETTINGS_PATH, SettingsPayload, finish_reason, max_tokens_field, read_error
from .base import ChatBOT, GenerationRequest, Reasoning, openai_messages
from .settings import LOGPROBS, SYSTEM_PROMPT, TOP_LOGPROBS, Setting, SettingsSpec, logprobs_wanted
from .token_logprobs import from_openai_content

#: Settings every OpenAI-compatible endpoint understands; used when the server does not publish a ChatZoo spec.
#: Defaults are OpenAI's; a setting left at its default is not sent, so the server's own default applies.
OPENAI_SETTINGS = SettingsSpec.of([
    Setting("max_new_tokens", "int", 256, 1, 32768, 1, "Most tokens to generate in one reply (sent as max_tokens)"),
    Setting("temperature", "float", 1.0, 0.0, 2.0, 0.05, "Sampling temperature (0 = greedy)"),
    Setting("top_p", "float", 1.0, 0.0, 1.0, 0.01, "Nucleus sampling: keep tokens up to this probability mass"),
    Setting("seed", "int", -1, -1, 2**31 - 1, 1, "Random seed for sampling (-1 = not sent)", target="control"),
    LOGPROBS,
    TOP_LOGPROBS,
    SYSTEM_PROMPT,
])

SPEC_TIMEOUT = 3.0  # seconds to wait for the settings spec / model list on first need
SPEC_RETRY_AFTER = 10.0  # seconds before asking an unreachable server for its spec again
POLL = 0.05  # seconds between checks of the stop event while waiting for the server
MAX_STOP_SENT = 4  # stop strings OpenAI's API takes; any more are cut here only


class RemoteBotError(RuntimeError):
    """A remote endpoint failed. `kind` says how (connection, dns, timeout, auth, not_found, rate_limited,
    unavailable, server_error, bad_request, protocol, cut, config), `url` where, `status` the HTTP status if any."""

    def __init__(self, message: str, *, kind: str, url: str, status: int | None = None):
        super().__init__(message)
        self.kind, self.url, self.status = kind, url, status


class _Secret:
    """Holds an API key; prints as *** everywhere (repr, vars, logs)."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<secret ***>"

    __str__ = __repr__

    def __reduce__(self):  # never pickled into anything
        raise TypeError("API keys are not picklable")


def normalize_base_url(base_url: str) -> str:
    """'http://host:port' or 'http://host:port/v1' (trailing slash or not) -> 'http://host:port/v1'."""
    if not isinstance(base_url, str) or not base_url.strip():
        raise ValueError(f"base_url must be an http(s) URL such as http://127.0.0.1:8081, got {base_url!r}")
    url = base_url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"base_url must be an http(s) URL such as http://127.0.0.1:8081, got {base_url!r}")
    if parts.username or parts.password:
        raise ValueError("base_url must not contain credentials; pass api_key= or api_key_env= instead")
    return url if url.endswith("/v1") else url + "/v1"


def _cause_chain(exc: BaseException) -> Iterator[BaseException]:
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


class RemoteChatBOT(ChatBOT):
    """A ChatBOT over an OpenAI-compatible chat completions endpoint.

    Args:
        base_url: http(s)://host:port, with or without the /v1 suffix.
        model: model id to ask for; None takes the first id of GET /v1/models (asked on first need).
        api_key: sent as `Authorization: Bearer ...`; kept out of repr, describe() and logs.
        timeout: seconds to wait for a connection or for the next bytes of a reply.
        name: display name (default: the model id, else host:port).
        api_key_env: name of an environment variable holding the key, read at each request (not stored).
            There is no implicit OPENAI_API_KEY fallback: a key is only sent where you asked for it.
    """

    family = "remote"
    remote = True  # the manager gives remote columns no CPU threads
    #: a branch's start goes as a final assistant message with vLLM's continue_final_message; a server that refuses
    #: it (400) gets a "cannot branch" error
    continues_prefix = True

    def __init__(self, base_url: str, model: str | None = None, api_key: str | None = None, timeout: float = 60.0,
                 name: str | None = None, api_key_env: str | None = None):
        self.base_url = normalize_base_url(base_url)
        self.model = model
        self._api_key = _Secret(api_key) if api_key else None
        self.api_key_env = api_key_env
        if timeout is None or timeout <= 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        self.timeout = float(timeout)
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None
        self._spec: SettingsSpec | None = None  # the server's spec, once it answered
        self._spec_source = "openai"  # "chatzoo" when the server published its spec
        self._spec_failed_at: float | None = None
        self._server_info: dict[str, Any] = {}
        self._spec_error: tuple[float, RemoteBotError] | None = None  # (when, why) the last spec fetch failed
        super().__init__(name or model or urlsplit(self.base_url).netloc)

    # ----- plumbing ------------------------------------------------------------------------------
    @property
    def client(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(timeout=httpx.Timeout(self.timeout), follow_redirects=False,
                                            limits=httpx.Limits(max_connections=32, max_keepalive_connections=8))
            return self._client

    def close(self) -> None:
        """Close the HTTP connections (the bot can still be used; they reopen on demand)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "text/event-stream, application/json"}
        key = None
        if self._api_key is not None:
            key = self._api_key.get()
        elif self.api_key_env:
            key = os.environ.get(self.api_key_env)
            if not key:
                raise RemoteBotError(
                    f"api_key_env names the environment variable {self.api_key_env!r}, but it is not set; set it "
                    f"(or pass api_key=) before sending to {self.base_url}", kind="config", url=self.base_url)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _url(self, path: str) -> str:
        return self.base_url + path

    def _transport_error(self, exc: BaseException, url: str, timeout: float | None = None) -> RemoteBotError:
        """Turn an httpx exception into a RemoteBotError that says what to do."""
        timeout = self.timeout if timeout is None else timeout
        host = urlsplit(url).netloc
        if isinstance(exc, httpx.TimeoutException):
            phase = {httpx.ConnectTimeout: "to connect", httpx.ReadTimeout: "for data",
                     httpx.WriteTimeout: "to send the request", httpx.PoolTimeout: "for a free connection"}
            what = next((v for k, v in phase.items() if isinstance(exc, k)), "")
            return RemoteBotError(
                f"timed out after {timeout:g} s waiting {what} from {url}. The server may be overloaded, the model "
                f"slow to start, or the host unreachable; check the server, or raise timeout= (now {timeout:g} s).",
                kind="timeout", url=url)
        chain = list(_cause_chain(exc))
        if any(isinstance(e, socket.gaierror) for e in chain) or any(
                s in str(e) for e in chain for s in ("Name or service not known", "nodename nor servname",
                                                     "Temporary failure in name resolution", "getaddrinfo failed")):
            return RemoteBotError(
                f"cannot resolve the host name {urlsplit(url).hostname!r} of {url}: check the host in base_url "
                f"(a typo, or a machine name this computer cannot look up).", kind="dns", url=url)
        if any(isinstance(e, ConnectionRefusedError) for e in chain) or "refused" in str(exc).lower():
            return RemoteBotError(
                f"connection refused by {host} ({url}): nothing is listening there. Start the server (for example "
                f"`python -m chatzoo_widget.server --pretrained_path MODEL --port {urlsplit(url).port or 80}`) "
                "or check the host and port in base_url.", kind="connection", url=url)
        if isinstance(exc, httpx.ConnectError):
            return RemoteBotError(f"cannot connect to {url}: {exc or type(exc).__name__}. Check that the server "
                                  "runs and that base_url is right.", kind="connection", url=url)
        if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
            return RemoteBotError(
                f"the connection to {url} broke mid-reply ({exc or type(exc).__name__}); the server may have "
                "crashed or restarted. The text received so far is kept; send again to retry.", kind="cut", url=url)
        return RemoteBotError(f"request to {url} failed: {type(exc).__name__}: {exc}", kind="connection", url=url)

    def _status_error(self, response: httpx.Response, body: bytes) -> RemoteBotError:
        url, status = str(response.request.url), response.status_code
        message, code = read_error(body)
        reason = response.reason_phrase or ""
        head = f"{url} answered {status} {reason}".rstrip() + f": {message}"
        if status in (401, 403):
            how = (f"the key from ${self.api_key_env}" if self.api_key_env and self._api_key is None else
                   "the key passed as api_key" if self._api_key is not None else "no key")
            return RemoteBotError(f"{head}. The server refused {how}; pass the right key with api_key= or "
                                  "api_key_env=.", kind="auth", url=url, status=status)
        if status == 404:
            if code == "model_not_found" or "model" in message.lower():
                return RemoteBotError(f"{head}. Model {self.model!r} is not served there; GET {self._url('/models')} "
                                      "lists the ids it serves (or pass model=None to take the first).",
                                      kind="not_found", url=url, status=status)
            return RemoteBotError(f"{head}. No chat completions endpoint at this URL; base_url should be the "
                                  "server's root or its /v1 prefix.", kind="not_found", url=url, status=status)
        if status == 429:
            after = response.headers.get("retry-after")
            return RemoteBotError(f"{head}. The server is busy or rate-limited; wait"
                                  f"{f' {after} s' if after else ''} and send again.", kind="rate_limited",
                                  url=url, status=status)
        if status in (502, 503, 504):
            return RemoteBotError(f"{head}. The server is unavailable (loading, overloaded or behind a failing "
                                  "proxy); try again shortly.", kind="unavailable", url=url, status=status)
        if status >= 500:
            return RemoteBotError(f"{head}. The server failed; its log has the details.", kind="server_error",
                                  url=url, status=status)
        if status in (400, 413, 422):
            return RemoteBotError(f"{head}. The server refused the request; check the settings sent.",
                                  kind="bad_request", url=url, status=status)
        return RemoteBotError(f"{head}.", kind="server_error" if status >= 500 else "bad_request", url=url,
                              status=status)

    def _get_json(self, path: str, timeout: float) -> Any:
        url = self._url(path)
        try:
            response = self.client.get(url, headers=self._headers(), timeout=timeout)
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, url, timeout) from None
        if response.status_code != 200:
            raise self._status_error(response, response.content)
        try:
            return response.json()
        except ValueError:
            raise RemoteBotError(f"{url} did not answer JSON ({response.text[:100]!r}); is base_url an "
                                 "OpenAI-compatible server?", kind="protocol", url=url) from None

    # ----- settings ------------------------------------------------------------------------------
    def _fetch_spec(self) -> None:
        """Ask a ChatZoo server for its spec (once it answers). Other servers keep the OpenAI settings."""
        with self._lock:
            if self._spec is not None:
                return
            if self._spec_failed_at is not None and time.monotonic() - self._spec_failed_at < SPEC_RETRY_AFTER:
                return
        try:
            payload = SettingsPayload.model_validate(self._get_json(SETTINGS_PATH, min(self.timeout, SPEC_TIMEOUT)))
            spec = payload.settings_spec()
            info = payload.model_dump(include={"model", "family", "max_tokens_cap"})
            source = "chatzoo"
        except RemoteBotError as exc:
            if exc.kind in ("connection", "dns", "timeout", "rate_limited", "unavailable", "server_error", "config",
                            "auth", "cut"):
                with self._lock:  # unreachable for now: fall back, and ask again later
                    self._spec_failed_at = time.monotonic()
                    self._spec_error = (time.perf_counter(), exc)
                return
            spec, info, source = OPENAI_SETTINGS, {}, "openai"  # not a ChatZoo server
        except (KeyError, TypeError, ValueError):
            spec, info, source = OPENAI_SETTINGS, {}, "openai"
        with self._lock:
            self._spec, self._server_info, self._spec_source = spec, info, source
            if self.model is None and info.get("model"):
                self.model = str(info["model"])

    def settings_spec(self) -> SettingsSpec:
        """The server's typed settings when it is a ChatZoo server, else the standard OpenAI ones."""
        self._fetch_spec()
        return self._spec or OPENAI_SETTINGS

    def resolve_model(self) -> str:
        """The model id requests name: the one given, else the server's first model (asked once)."""
        if self.model is not None:
            return self.model
        self._fetch_spec()
        if self.model is not None:
            return self.model
        data = self._get_json("/models", self.timeout)
        try:
            model = str(data["data"][0]["id"])
        except (KeyError, IndexError, TypeError):
            raise RemoteBotError(f"{self._url('/models')} lists no models; pass model= explicitly.",
                                 kind="protocol", url=self._url("/models")) from None
        with self._lock:
            if self.model is None:
                self.model = model
        return self.model

    # ----- one reply -----------------------------------------------------------------------------
    def get_prompt(self, query: list[dict[str, str]], system_prompt: str = "") -> list[dict[str, str]]:
        return openai_messages(query, system_prompt)

    def request_body(self, request: GenerationRequest) -> dict[str, Any]:
        """The JSON body for one reply: messages, max_tokens, and the settings that differ from the defaults."""
        spec = self._spec or OPENAI_SETTINGS
        settings = {**request.gen_kwargs, **request.control}
        prompt_kwargs = dict(request.prompt_kwargs)
        system_prompt = prompt_kwargs.pop("system_prompt", "")
        body: dict[str, Any] = {
            "model": self.resolve_model(),
            "messages": self.get_prompt(request.query, system_prompt),
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if "max_new_tokens" in settings:
            budget = settings.pop("max_new_tokens")
            if request.prefix is not None and request.prefix.tokens:
                # The start counts against the reply's length, as on a local model; a server's max_tokens (vLLM's,
                # ours) counts only what it adds after a continued message.
                budget = max(1, budget - len(request.prefix.tokens))
            body.update(max_tokens_field(budget))
        top = logprobs_wanted(settings)
        settings.pop("logprobs", None), settings.pop("top_logprobs", None)
        if top is not None:  # OpenAI refuses top_logprobs without logprobs: both or neither
            body.update(logprobs=True, top_logprobs=top)
        stops = clean_stops(request.stop)
        if stops:  # the server stops generating there; the reply is cut here too (stream_generate)
            body["stop"] = list(stops[:MAX_STOP_SENT])
        if request.prefix is not None:  # a branch: the server continues the reply's start (vLLM's fields)
            body["messages"].append({"role": "assistant", "content": request.prefix.text})
            body.update(continue_final_message=True, add_generation_prompt=False)
        for name, value in {**settings, **prompt_kwargs}.items():
            default = spec[name].default if name in spec else None
            if value == default or (name == "seed" and value is not None and value < 0):
                continue  # the server's own default applies
            body[name] = value
        return body

    def stream_generate(self, request: GenerationRequest) -> Iterator[str]:
        failed = self._spec_error
        if (self._spec is None and failed is not None and time.perf_counter() - failed[0] < 1.0
                and failed[1].kind in ("connection", "dns", "timeout")):
            raise failed[1]  # the server did not answer a moment ago (spec fetch): fail now, not twice as late
        body = self.request_body(request)
        request.stats.rendered_prompt = json.dumps(body["messages"], ensure_ascii=False, indent=1)
        url = self._url("/chat/completions")
        headers = self._headers()
        events: queue.Queue = queue.Queue()
        state: dict[str, Any] = {"response": None, "abandoned": False, "lock": threading.Lock()}
        reader = threading.Thread(target=self._read, args=(url, body, headers, events, state), daemon=True,
                                  name=f"chatzoo-remote-{self.name}")
        reader.start()
        stats, clock, stop = request.stats, request.clock, request.stop_event
        cut = StopCutter(request.stop)  # a safety net: servers that ignore `stop`, and stops past MAX_STOP_SENT
        chunks = reasoning_chunks = 0
        head = request.prefix.text if request.prefix is not None else ""  # the reply's given start
        wants_logprobs = logprobs_wanted(request.control) is not None
        usage: Mapping[str, Any] | None = None
        finish: str | None = None
        done = False
        try:
            while True:
                try:
                    kind, value = events.get(timeout=POLL)
                except queue.Empty:
                    if stop.is_set():
                        return
                    continue
                if stop.is_set():
                    return
                if kind == "error":
                    raise self._no_prefill(value, request) or value
                if kind == "done":
                    done = True
                    break
                if kind == "eof":
                    break
                # kind == "chunk": one parsed JSON object
                if isinstance(value.get("usage"), Mapping):
                    usage = value["usage"]
                for choice in value.get("choices") or ():
                    if not isinstance(choice, Mapping):
                        continue
                    delta = choice.get("delta") or choice.get("message") or {}
                    text = delta.get("content") if isinstance(delta, Mapping) else None
                    # vLLM, SGLang and DeepSeek send thinking as reasoning_content; Ollama and OpenRouter as reasoning
                    thought = (delta.get("reasoning_content") or delta.get("reasoning")) if isinstance(
                        delta, Mapping) else None
                    if choice.get("finish_reason"):
                        finish = choice["finish_reason"]
                    if wants_logprobs:
                        self._read_logprobs(choice, stats)
                    if head and (text or thought):  # a branch's start shows once the server answered
                        yield head
                        head = ""
                    if isinstance(thought, str) and thought:
                        chunks += 1
                        clock.tokens(1)
                        reasoning_chunks += 1
                        yield Reasoning(thought)
                    if text:
                        chunks += 1
                        clock.tokens(1)
                        shown = cut.feed(text)
                        if shown:
                            yield shown
                        if cut.hit:  # closes the connection (finally): the server stops generating
                            request.hit_stop, finish = True, "stop"
                            return
                if value.get("__complete__"):  # a non-streamed JSON answer: that was all
                    done = True
                    break
            # Some engines end the body after the finish_reason or the usage chunk (which comes only once the reply
            # is over) without [DONE]; an SSE parser also drops a last event that lacks its blank line.
            if not done and finish is None and usage is None:
                raise RemoteBotError(
                    f"the stream from {url} ended without [DONE] after {chunks} text chunks: the connection was cut "
                    "mid-reply (server crash, restart or proxy timeout). The text received so far is kept; send "
                    "again to retry.", kind="cut", url=url)
            tail = head + cut.flush()  # held back in case a stop string followed
            if tail:
                yield tail
        finally:
            state["abandoned"] = True
            if not done:  # stopped or failed mid-reply: close the connection now
                self._abort(state)
            if usage:
                if isinstance(usage.get("prompt_tokens"), int):
                    stats.prompt_tokens = usage["prompt_tokens"]
                if isinstance(usage.get("completion_tokens"), int) and not stop.is_set():
                    stats.new_tokens = usage["completion_tokens"]
                details = usage.get("completion_tokens_details")
                if isinstance(details, Mapping) and isinstance(details.get("reasoning_tokens"), int):
                    stats.reasoning_tokens = details["reasoning_tokens"]
            if reasoning_chunks and not stats.reasoning_tokens:
                stats.reasoning_tokens = reasoning_chunks  # one chunk is about one token on these servers
            if finish is not None:
                stats.finish_reason = finish_reason(finish)
            if wants_logprobs and stats.tokens is None:
                stats.logprobs_unavailable = f"{url} returned no token probabilities (logprobs)"

    @staticmethod
    def _no_prefill(error: Any, request: GenerationRequest) -> RemoteBotError | None:
        """A server that refuses to continue a branch's start: say so (its own reason after)."""
        if request.prefix is None or not isinstance(error, RemoteBotError) or error.status not in (400, 422):
            return None
        return RemoteBotError(f"cannot branch: {error.url} does not continue an assistant message (it refused "
                              f"continue_final_message): {error}", kind=error.kind, url=error.url, status=error.status)

    @staticmethod
    def _read_logprobs(choice: Mapping[str, Any], stats: Any) -> None:
        """A choice's `logprobs.content` (OpenAI's shape: ours, vLLM's, llama.cpp's) onto `stats.tokens`."""
        logprobs = choice.get("logprobs")
        content = from_openai_content(logprobs.get("content")) if isinstance(logprobs, Mapping) else None
        if content is not None:
            if stats.tokens is None:
                stats.tokens = []
            stats.tokens.extend(content)

    @staticmethod
    def _abort(state: dict[str, Any]) -> None:
        """Close the response now, even while the reader thread waits in a read (shutdown wakes it)."""
        with state["lock"]:
            response = state.get("response")
            if response is None:  # the reader is not (or no longer) reading
                return
            try:
                stream = response.extensions.get("network_stream")
                sock = stream.get_extra_info("socket") if stream is not None else None
                if sock is not None:
                    sock.shutdown(socket.SHUT_RDWR)
            except (OSError, AttributeError):
                pass

    def _read(self, url: str, body: dict[str, Any], headers: dict[str, str], events: queue.Queue,
              state: dict[str, Any]) -> None:
        """Reader thread: POST, then read the response into `events`; transport errors become RemoteBotErrors."""
        try:
            with self.client.stream("POST", url, json=body, headers=headers) as response:
                try:
                    with state["lock"]:
                        state["response"] = response
                    if state["abandoned"]:
                        return
                    self._read_response(response, url, events, state)
                finally:
                    with state["lock"]:
                        state["response"] = None
        except httpx.HTTPError as exc:
            if not state["abandoned"]:
                events.put(("error", self._transport_error(exc, url)))
        except Exception as exc:  # never leave the consumer waiting
            if not state["abandoned"]:
                events.put(("error", RemoteBotError(f"reading the reply from {url} failed: {type(exc).__name__}: "
                                                    f"{exc}", kind="protocol", url=url)))

    def _read_response(self, response: httpx.Response, url: str, events: queue.Queue, state: dict[str, Any]) -> None:
        """Check the status and parse the server-sent events (httpx-sse) into chunk, done, eof or error."""
        if response.status_code != 200:
            events.put(("error", self._status_error(response, response.read())))
            return
        ctype = response.headers.get("content-type", "")
        if "text/event-stream" not in ctype:
            events.put(self._whole_answer(response, url, ctype))
            return
        for sse in EventSource(response).iter_sse():  # comments (keep-alives) and event names are skipped
            if state["abandoned"]:
                return
            event = self._parse_event(sse, url)
            if event is None:
                continue
            events.put(event)
            if event[0] in ("done", "error"):
                return
        events.put(("eof", None))

    def _parse_event(self, sse: ServerSentEvent, url: str) -> tuple[str, Any] | None:
        """One server-sent event -> ("chunk", a JSON object), ("done", None), ("error", RemoteBotError), or None
        for an event without data."""
        data = sse.data
        if not data:
            return None
        if data.strip() == DONE:
            return ("done", None)
        try:
            obj = json.loads(data)
        except ValueError:
            shown = data if len(data) <= 120 else data[:120] + "..."
            return ("error", RemoteBotError(
                f"{url} sent a malformed stream event (not JSON): {shown!r}. The endpoint may not be "
                "OpenAI-compatible, or a proxy altered the stream.", kind="protocol", url=url))
        if not isinstance(obj, Mapping):
            return ("error", RemoteBotError(f"{url} sent a stream event that is not a JSON object: {data[:120]!r}",
                                            kind="protocol", url=url))
        if obj.get("error"):
            msg, _ = read_error(data)
            return ("error", RemoteBotError(f"{url} reported an error mid-reply: {msg}. The text received so far "
                                            "is kept.", kind="server_error", url=url))
        return ("chunk", obj)

    def _whole_answer(self, response: httpx.Response, url: str, ctype: str) -> tuple[str, Any]:
        """A server that ignored stream=true and answered one JSON object: take its message."""
        raw = response.read()
        try:
            obj = json.loads(raw)
            if not isinstance(obj, Mapping) or not isinstance(obj.get("choices"), list):
                raise ValueError
        except ValueError:
            return ("error", RemoteBotError(
                f"{url} answered {ctype or 'no content type'} instead of an event stream "
                f"({raw[:100]!r}); is base_url an OpenAI-compatible server?", kind="protocol", url=url))
        return ("chunk", {**obj, "__complete__": True})

    # ----- what the widget shows -----------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        info = {**super().describe(), "url": self.base_url, "model": self.model, "remote": True,
                "spec_source": self._spec_source}
        if self._server_info.get("family"):
            info["server_family"] = self._server_info["family"]
        return info

    def __repr__(self) -> str:
        return f"<RemoteChatBOT {self.name!r} at {self.base_url} model={self.model!r}>"

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
