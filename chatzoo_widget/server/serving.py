"""The serving logic, apart from the routes: a request becomes a `bot.stream` call in a worker thread of its own,
and its deltas become OpenAI chunks or one whole response.

Up to `max_batch` requests run at once, each in its own thread with its own stop event; the bot's scheduler
(one per loaded model) decodes the concurrent calls together. A request whose client leaves sets only its own
stop event: its generation ends within a token and its slot goes to the next request.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Awaitable

from pydantic import ValidationError

from ..bots.base import ChatBOT, ReplyStats
from ..text.stops import StopCutter
from ..wire import DONE, SettingsPayload, error_body, finish_reason
from .admission import RequestSlots
from ..bots.token_logprobs import openai_content
from .continuation import Continuation, PrefixSkipper
from .prompt_scoring import prompt_ids, score_prompt, why_cannot_score
from .protocol import (APIError, AssistantMessage, ChatCompletionChunk, ChatCompletionRequest, ChatCompletionResponse,
                       Choice, ChoiceLogprobs, ChunkChoice, Delta, Health, ModelCard, ModelList, Usage, completion_id,
                       from_validation_error, now)
from .translate import RequestTranslator

log = logging.getLogger("chatzoo_widget.server")


@dataclass
class Job:
    """One request on its way through the server."""

    query: list[dict[str, str]]
    settings: dict[str, Any]
    stops: list[str]
    stream: bool
    include_usage: bool
    ignored: list[str] = field(default_factory=list)
    id: str = field(default_factory=completion_id)
    created: int = field(default_factory=now)
    stop_event: threading.Event = field(default_factory=threading.Event)
    stats: ReplyStats | None = None
    admitted: bool = False  # holds a place in the queue that nobody has taken up yet
    logprobs: bool = False  # the client asked for logprobs
    continuation: Continuation = field(default_factory=Continuation)  # a start to continue, the prompt to score
    prompt_logprobs: list[Any] | None = None  # the prompt's scores, once computed


def _finish(stats: ReplyStats | None, cut: StopCutter) -> str:
    """"stop" after a stop string or a stop the server made; else the reply's own reason, as OpenAI names it."""
    return "stop" if cut.hit or stats is None else finish_reason(stats.finish_reason)


def _usage(stats: ReplyStats | None) -> Usage:
    return Usage.of(stats.prompt_tokens if stats else 0, stats.new_tokens if stats else 0)


def describe(exc: BaseException) -> str:
    return str(exc) if str(exc) else type(exc).__name__


class ChatServing:
    """State behind one app: the bot, its request slots and worker threads, and the request translation."""

    def __init__(self, bot: ChatBOT, *, model_name: str | None, max_batch: int, max_queue: int,
                 max_tokens_cap: int, max_body_bytes: int):
        self.bot = bot
        self.model_name = model_name or bot.name
        self.translator = RequestTranslator(bot.settings_spec(), self.model_name, max_tokens_cap)
        self.max_body_bytes = max_body_bytes
        self.slots = RequestSlots(max_batch, max_queue)
        # One thread per generating request: the slots never let more than max_batch in.
        self.executor = ThreadPoolExecutor(max_workers=max_batch, thread_name_prefix="chatzoo-generate")
        self.created = now()

    # ----- what the endpoints answer -------------------------------------------------------------
    def settings_payload(self) -> SettingsPayload:
        return SettingsPayload.of(self.model_name, getattr(self.bot, "family", ""), self.translator.served_spec(),
                                  self.translator.max_tokens_cap)

    def model_card(self) -> ModelCard:
        return ModelCard(id=self.model_name, created=self.created)

    def models(self) -> ModelList:
        return ModelList(data=[self.model_card()])

    def health(self) -> Health:
        s = self.slots
        return Health(model=self.model_name, generating=s.running > 0, running=s.running, waiting=s.waiting,
                      max_batch=s.max_batch, max_queue=s.max_queue)

    # ----- one request ---------------------------------------------------------------------------
    def prepare(self, body: Any) -> Job:
        """A parsed JSON body -> a Job, or an APIError (400/404) before any model work."""
        if not isinstance(body, dict):
            raise APIError(400, "the request body must be a JSON object")
        try:
            req = ChatCompletionRequest.model_validate(body)
        except ValidationError as exc:
            raise from_validation_error(exc) from None
        t = self.translator.translate(req)
        job = Job(t.query, t.settings, t.stops, req.stream, req.include_usage, ignored=t.ignored,
                  logprobs=t.logprobs, continuation=t.continuation)
        self._check_continuation(job)
        return job

    def _check_continuation(self, job: Job) -> None:
        """vLLM's continue_final_message and prompt_logprobs: refused (400) where the model cannot; a continued
        start's tokens are added to max_new_tokens, which counts the tokens generated after it (as vLLM's)."""
        prefix = job.continuation.prefix
        if prefix is not None:
            if not getattr(self.bot, "continues_prefix", False):
                raise APIError(400, f"model {self.model_name!r} cannot continue an assistant message "
                                    "(continue_final_message)", param="continue_final_message",
                               code="unsupported_parameter")
            spec = self.translator.served_spec()
            counted = self.bot.count_tokens(prefix)
            if counted and "max_new_tokens" in spec:  # the bot counts its given start against max_new_tokens
                setting = spec["max_new_tokens"]
                asked = job.settings.get("max_new_tokens", setting.default)
                job.settings["max_new_tokens"] = asked + counted if setting.max is None else \
                    min(asked + counted, max(setting.max, asked))
        if job.continuation.prompt_logprobs is not None:
            why = why_cannot_score(self.bot)
            if why is not None:
                raise APIError(400, f"prompt_logprobs: {why}", param="prompt_logprobs", code="unsupported_parameter")

    def admit(self, job: Job) -> None:
        """Take a place in the queue now (429 here, before any response starts)."""
        self.slots.admit()
        job.admitted = True

    def end_job(self, job: Job) -> None:
        """After the response (sent, failed or abandoned): stop the model and leave the queue if still in it."""
        job.stop_event.set()
        if job.admitted:
            job.admitted = False
            self.slots.cancel_admission()

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)

    # ----- generation ----------------------------------------------------------------------------
    async def deltas(self, job: Job) -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
        """Wait for a slot, run the bot in a worker thread, yield its text deltas, each with the token entries
        (logprobs on) that arrived with it: (text, tokens); the last may carry tokens only.

        Closing this generator early (client gone, stop string) sets the job's stop event: the bot stops within
        a token, and the slot goes to the next request once its thread has really ended.
        """
        job.admitted = False  # acquire() takes the admission over
        await self.slots.acquire()
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
                prefix = job.continuation.prefix
                try:
                    if job.continuation.prompt_logprobs is not None:
                        ids = prompt_ids(self.bot, job.query, job.settings, prefix)
                        job.prompt_logprobs = score_prompt(self.bot, ids, job.continuation.prompt_logprobs)
                    # The bot cuts at the stop strings itself (its model stops there at once); the StopCutter of
                    # sse_events/complete cuts again, for bots that ignore `stop`.
                    stream = self.bot.stream(job.query, stop_event=job.stop_event, stop=job.stops, prefix=prefix,
                                             **job.settings)
                except ValueError as exc:  # the bot refused the request before any model work
                    post(("invalid", exc))
                    return
                job.stats = stream.stats
                skip = PrefixSkipper(prefix)  # the answer holds what the model added to a continued start
                sent = 0
                for delta in stream:
                    tokens = stream.stats.tokens or []
                    post(("delta", (skip.feed(delta), tokens[sent:])))  # a copy, taken in this thread
                    sent = len(tokens)
                rest = (stream.stats.tokens or [])[sent:]
                if rest:
                    post(("delta", ("", rest)))
                post(("end", None))
            except BaseException as exc:  # reported to the client; the server goes on
                post(("error", exc))
            finally:
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(self.slots.release)

        try:
            self.executor.submit(work)
        except BaseException:
            self.slots.release()
            raise
        try:
            while True:
                kind, value = await queue.get()
                if kind == "delta":
                    if value[0] or value[1]:
                        yield value
                elif kind == "end":
                    return
                elif kind == "invalid":
                    raise APIError(400, str(value), code="invalid_request") from value
                else:
                    raise value
        finally:
            job.stop_event.set()

    # ----- streamed: OpenAI chunks ---------------------------------------------------------------
    def _chunk(self, job: Job, delta: Delta, finish: str | None = None,
               tokens: list[dict[str, Any]] | None = None) -> str:
        logprobs = ChoiceLogprobs(content=openai_content(tokens)) if job.logprobs and tokens else None
        chunk = ChatCompletionChunk(id=job.id, created=job.created, model=self.model_name,
                                    choices=[ChunkChoice(delta=delta, logprobs=logprobs, finish_reason=finish)])
        return chunk.model_dump_json(exclude=None if job.include_usage else {"usage"})

    def _usage_chunk(self, job: Job) -> str:
        return ChatCompletionChunk(id=job.id, created=job.created, model=self.model_name, choices=[],
                                   usage=_usage(job.stats)).model_dump_json()

    async def sse_events(self, job: Job) -> AsyncIterator[str]:
        """The SSE data of one streamed reply (sse-starlette adds `data: `); an error after the headers went out
        is one error event, and no [DONE]."""
        cut = StopCutter(job.stops)
        try:
            yield self._chunk(job, Delta(role="assistant", content=""))
            gen = self.deltas(job)
            async with contextlib.aclosing(gen):
                async for delta, tokens in gen:
                    text = cut.feed(delta)
                    if text or (tokens and job.logprobs):
                        yield self._chunk(job, Delta(content=text), tokens=tokens)
                    if cut.hit:
                        break
            tail = cut.flush()
            if tail:
                yield self._chunk(job, Delta(content=tail))
            yield self._chunk(job, Delta(), _finish(job.stats, cut))
            if job.include_usage:
                yield self._usage_chunk(job)
            yield DONE
        except asyncio.CancelledError:  # the client left: stop this request only
            job.stop_event.set()
            raise
        except APIError as exc:
            yield _json(exc.body())
        except Exception as exc:
            log.warning("generation failed: %s", exc)
            yield _json(error_body(f"generation failed: {describe(exc)}", "server_error", None, "generation_failed"))
        finally:
            job.stop_event.set()

    # ----- not streamed: one response ------------------------------------------------------------
    async def complete(self, job: Job, disconnected: Awaitable[None]) -> ChatCompletionResponse | None:
        """A whole reply; None when `disconnected` finished first (the client left; its generation is stopped)."""
        cut = StopCutter(job.stops)
        parts: list[str] = []
        tokens: list[dict[str, Any]] = []

        async def consume() -> None:
            gen = self.deltas(job)
            async with contextlib.aclosing(gen):
                async for delta, new_tokens in gen:
                    tokens.extend(new_tokens)
                    parts.append(cut.feed(delta))
                    if cut.hit:
                        break
            parts.append(cut.flush())

        task = asyncio.ensure_future(consume())
        watcher = asyncio.ensure_future(disconnected)
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
            raise APIError(500, f"generation failed: {describe(exc)}", type="server_error",
                           code="generation_failed") from exc
        return ChatCompletionResponse(
            id=job.id, created=job.created, model=self.model_name, usage=_usage(job.stats),
            choices=[Choice(message=AssistantMessage(content="".join(parts)), finish_reason=_finish(job.stats, cut),
                            logprobs=self._logprobs(job, tokens))],
            prompt_logprobs=job.prompt_logprobs,
        )


    @staticmethod
    def _logprobs(job: Job, tokens: list[dict[str, Any]]) -> ChoiceLogprobs | None:
        """A whole reply's `logprobs`: null unless asked; `content` null when the model gave none."""
        if not job.logprobs:
            return None
        had = job.stats is not None and job.stats.tokens is not None
        return ChoiceLogprobs(content=openai_content(tokens) if had else None)


def _json(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
