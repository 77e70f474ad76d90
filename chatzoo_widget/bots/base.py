"""The ChatZoo bot pipeline.

A bot turns a chat history into a reply through the original ChatZoo's hooks, in this order:

    gen_kwargs = default_settings() | user settings | extra_settings()      (on a copy)
    prompt     = get_prompt(query)          # query: [{"role": "HUMAN"|"BOT", "content": str}, ...]
    input_dict = get_input(prompt)
    output     = generate(input_dict, gen_kwargs)
    response   = get_response(output, input_dict)
    reply      = process_response(response)

On top of the hooks, `chat()` returns the reply and `stream()` yields it as text deltas with statistics.
A bot that implements only the classic hooks streams its reply as one chunk; `TransformersChatBOT` streams token
by token through `stream_generate`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterator, Mapping, Sequence

from ..records import Stats
from .prefix import ReplyPrefix, check_prefix
from .settings import GENERATION_SETTINGS, SettingsSpec, logprobs_wanted
from .text import cut_at_stop
from .token_logprobs import reply_logprob_stats

log = logging.getLogger(__name__)
Message = Mapping[str, str]
ROLES = ("HUMAN", "BOT")
SYSTEM = "SYSTEM"
#: ChatZoo roles -> the roles of OpenAI messages and of chat templates.
OPENAI_ROLES = {"HUMAN": "user", "BOT": "assistant", SYSTEM: "system"}


def openai_messages(query: Sequence[Message], system_prompt: str = "") -> list[dict[str, str]]:
    """A ChatZoo history as OpenAI / chat-template messages (HUMAN -> user, BOT -> assistant).

    A SYSTEM turn at the start, or else a non-empty `system_prompt`, becomes the one system message.
    """
    if query and query[0]["role"] == SYSTEM:
        system_prompt, query = query[0]["content"], query[1:]
    head = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return head + [{"role": OPENAI_ROLES[m["role"]], "content": m["content"]} for m in query]


def render_prompt_text(prompt: Any) -> str:
    """A built prompt as text to show: a string as it is, messages (or anything else JSON can hold) as JSON."""
    if isinstance(prompt, str):
        return prompt
    try:
        return json.dumps(prompt, ensure_ascii=False, indent=1)
    except (TypeError, ValueError):
        return repr(prompt)


@dataclass
class ReplyStats:
    """Statistics of one finished (or ended) reply."""

    prompt_tokens: int = 0
    new_tokens: int = 0
    time_to_first_token: float | None = None  # seconds from the call to the first text
    tokens_per_second: float | None = None  # new tokens over the time after the first one
    total_time: float = 0.0
    finish_reason: str = "stop"  # stop | length | cancelled | error
    dropped_turns: int = 0  # oldest turns left out because the history was longer than the context
    batched: bool | None = None  # decoded in the model's shared batch (False: ran alone; None: not a local model)
    error: str | None = None
    reasoning_tokens: int = 0  # of new_tokens, those spent thinking (<think>...</think> or reasoning_content)
    mean_logprob: float | None = None  # mean log-probability per generated token, when logprobs were on
    perplexity: float | None = None  # exp(-mean_logprob)
    #: with logprobs on: each generated token ({token, logprob, bytes, id, top_logprobs}, see token_logprobs.py),
    #: growing while the reply streams; None when logprobs were off. Kept out of to_dict(): the entry keeps it.
    tokens: list[dict[str, Any]] | None = field(default=None, repr=False)
    #: with logprobs on but none to be had (a server that returns none, beam search): why. Not in to_dict().
    logprobs_unavailable: str | None = field(default=None, repr=False)
    #: the exact text the model received (template or prompt rule applied, special tokens spelled out); for a
    #: remote model the OpenAI messages sent, as JSON. Kept out of to_dict(): it is long, and has its own place.
    rendered_prompt: str | None = field(default=None, repr=False)
    #: while the model reads the prompt: how many of its `prompt_tokens` are read (None: the model reads it in one
    #: pass and cannot tell). `prompt_tokens` is set before the reading starts. Not in to_dict(): a passing state.
    prefill_done: int | None = field(default=None, repr=False)

    def to_dict(self) -> Stats:
        """The reply's `records.Stats` (`w.stats`, a history entry's `stats`): every field but the two above."""
        out = asdict(self)
        for name in ("rendered_prompt", "prefill_done", "tokens", "logprobs_unavailable"):
            out.pop(name)
        return out  # type: ignore[return-value] - tests/test_records.py checks its keys are the record's


#: Told while a local model reads the prompt: (prompt tokens read, or None where it cannot tell, prompt tokens).
PrefillListener = Callable[[int | None, int], None]


class Reasoning(str):
    """A delta of thinking text that a bot got apart from the answer (a server's `reasoning_content`).

    A ReplyStream keeps such deltas in `.reasoning`, never in `.text`."""


class StreamClock:
    """Measures a reply as it streams: first-token time, token count, rate."""

    def __init__(self, stats: ReplyStats):
        self.stats = stats
        self.start = time.perf_counter()
        self.first: float | None = None

    def tokens(self, n: int) -> None:
        if n > 0 and self.first is None:
            self.first = time.perf_counter()
            self.stats.time_to_first_token = self.first - self.start
        self.stats.new_tokens += n

    def finish(self) -> None:
        end = time.perf_counter()
        self.stats.total_time = end - self.start
        if self.first is not None and self.stats.new_tokens > 1 and end > self.first:
            # The first token's wait is time to first token; the rate counts the tokens after it.
            self.stats.tokens_per_second = (self.stats.new_tokens - 1) / (end - self.first)


@dataclass
class GenerationRequest:
    """Everything one reply needs, handed to `stream_generate`."""

    query: list[dict[str, str]]
    gen_kwargs: dict[str, Any]  # generate() kwargs: defaults | user settings | extra_settings
    prompt_kwargs: dict[str, Any]  # settings for get_prompt (system_prompt, knowledge, ...)
    control: dict[str, Any]  # pipeline settings (seed)
    stop_event: threading.Event
    stats: ReplyStats
    clock: StreamClock | None = None
    stop: tuple[str, ...] = ()  # stop strings: the reply ends before the first (finish_reason "stop")
    hit_stop: bool = False  # a stop string ended the reply (its stop_event is set, but it was not cancelled)
    on_prefill: PrefillListener | None = None
    prefix: ReplyPrefix | None = None  # the reply starts with this (a branch from an alternative token)

    def report_prefill(self, read: int | None, total: int) -> None:
        """A bot reading the prompt says how far it got: into the stats, and to the caller's listener."""
        self.stats.prompt_tokens, self.stats.prefill_done = total, read
        if self.on_prefill is not None:
            try:
                self.on_prefill(read, total)
            except Exception as exc:  # noqa: BLE001 - a listener's failure must not end the reply
                log.warning("prefill listener failed: %s", exc)


class ReplyStream:
    """An iterator of text deltas that keeps the reply's text and statistics once it ends.

    Iterate it (or call `consume()`); afterwards `.text` is the whole processed reply and `.stats` its statistics.
    """

    def __init__(self, deltas: Iterator[str], stats: ReplyStats):
        self._deltas = deltas
        self.stats = stats
        self.text = ""
        self.reasoning = ""  # Reasoning deltas (a remote server's reasoning_content), apart from the answer
        self.done = False

    def __iter__(self) -> "ReplyStream":
        return self

    def __next__(self) -> str:
        try:
            delta = next(self._deltas)
        except StopIteration:
            self.done = True
            raise
        if isinstance(delta, Reasoning):
            self.reasoning += delta
        else:
            self.text += delta
        return delta

    def consume(self) -> str:
        for _ in self:
            pass
        return self.text

    def close(self) -> None:
        close = getattr(self._deltas, "close", None)
        if close:
            close()


def validate_query(query: Any) -> list[dict[str, str]]:
    """Check a chat history; return a plain copy. Raises ValueError naming what is wrong."""
    if not isinstance(query, (list, tuple)) or not query:
        raise ValueError("query must be a non-empty list of {'role': 'HUMAN'|'BOT', 'content': str} messages")
    out = []
    for i, msg in enumerate(query):
        if not isinstance(msg, Mapping) or "role" not in msg or "content" not in msg:
            raise ValueError(f"query[{i}] must be a dict with 'role' and 'content', got {msg!r}")
        role, content = msg["role"], msg["content"]
        if role == SYSTEM and i == 0:
            pass
        elif role not in ROLES:
            raise ValueError(f"query[{i}] has unknown role {role!r}; roles are 'HUMAN' and 'BOT'")
        if not isinstance(content, str):
            raise ValueError(f"query[{i}]['content'] must be a string, got {type(content).__name__}")
        out.append({"role": role, "content": content})
    if out[-1]["role"] != "HUMAN":
        raise ValueError(f"query must end with a HUMAN turn to answer, but it ends with {out[-1]['role']!r}")
    return out


class ChatBOT:
    """Base class of every bot. Subclasses fill in the hooks; users call `chat` and `stream`."""

    #: Settings users may pass; families extend it (see `settings_spec`).
    settings_spec_base: SettingsSpec = GENERATION_SETTINGS
    #: Short family name shown in the widget ("chat", "moss", ...).
    family: str = "base"
    #: whether `stream(prefix=...)` works: the reply goes on from a given start (branching from a token)
    continues_prefix: bool = False

    def __init__(self, name: str | None = None):
        self.name = name or type(self).__name__
        self.load_tokenizer()
        self.load_model()

    # ----- the classic hooks -------------------------------------------------------------------
    def load_tokenizer(self) -> None:
        """Load the tokenizer (runs first)."""

    def load_model(self) -> None:
        """Load the model (runs after the tokenizer)."""

    def settings_spec(self) -> SettingsSpec:
        """Typed settings of this bot; the widget draws one control per setting."""
        return self.settings_spec_base

    def default_settings(self) -> dict[str, Any]:
        """Default values of the settings (a fresh dict each call)."""
        return self.settings_spec().defaults()

    def extra_settings(self) -> dict[str, Any]:
        """Fixed generate kwargs that always win (e.g. eos_token_id)."""
        return {}

    def get_prompt(self, query: list[dict[str, str]]) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement get_prompt(query)")

    def get_input(self, prompt: Any) -> dict[str, Any]:
        return {"prompt": prompt}

    def generate(self, input_dict: dict[str, Any], gen_kwargs: dict[str, Any]) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement generate(input_dict, gen_kwargs)")

    def get_response(self, output: Any, input_dict: dict[str, Any]) -> str:
        return output if isinstance(output, str) else str(output)

    def process_response(self, response: str) -> str:
        return response

    # ----- settings ----------------------------------------------------------------------------
    def merge_settings(self, settings: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """Validate the user's settings and merge them over the defaults, on a copy.

        Returns (gen_kwargs, prompt_kwargs, control): generate kwargs (extra_settings win), the settings meant for
        get_prompt (such as system_prompt), and pipeline controls (such as seed).
        """
        spec = self.settings_spec()
        merged = self.default_settings()
        merged.update(spec.validate(settings))
        gen, prompt, control = {}, {}, {}
        for name, value in merged.items():
            target = spec[name].target if name in spec else "generate"
            {"generate": gen, "prompt": prompt, "control": control}[target][name] = value
        gen.update(self.extra_settings())
        return gen, prompt, control

    # ----- one reply ---------------------------------------------------------------------------
    def build_prompt(self, query: list[dict[str, str]], prompt_kwargs: Mapping[str, Any]) -> Any:
        """get_prompt with the prompt settings (system prompt, knowledge) a family declares."""
        return self.get_prompt(query, **prompt_kwargs) if prompt_kwargs else self.get_prompt(query)

    def stream(
        self,
        query: Sequence[Message],
        stop_event: threading.Event | None = None,
        *,
        stop: Sequence[str] = (),
        on_prefill: PrefillListener | None = None,
        prefix: ReplyPrefix | str | None = None,
        **settings: Any,
    ) -> ReplyStream:
        """Answer the last HUMAN turn of `query`, yielding text deltas in order.

        Setting `stop_event` ends the stream within one token (or one chunk of a long prompt being read); the reply
        ends before the first of the `stop` strings, and its model stops at once. A local model reading the prompt
        calls `on_prefill(read, prompt_tokens)` from its own thread before the first token: once the prompt's
        length is known, then after each chunk it read (`read` is None where it reads the prompt in one pass).
        Calls from many threads at once are safe: a local model decodes them together in one batch (see
        `chatzoo_widget.engine`). After the stream ends, `.text` holds the reply and `.stats` its ReplyStats. Bad
        queries and settings raise ValueError here, before any model work.

        `prefix` (a `ReplyPrefix`, or its text): the reply starts with it and the model goes on from there (local
        models are fed its token ids); the stream yields the prefix's text first. Bots that cannot
        (`continues_prefix` False) raise ValueError.
        """
        query = validate_query(query)
        gen_kwargs, prompt_kwargs, control = self.merge_settings(settings)
        stats = ReplyStats()
        if isinstance(stop, str) or not all(isinstance(s, str) for s in stop):
            raise ValueError(f"stop must be a list of strings, got {stop!r}")
        if on_prefill is not None and not callable(on_prefill):
            raise ValueError(f"on_prefill must be a function of (tokens read, prompt tokens), got {on_prefill!r}")
        prefix = check_prefix(prefix)
        if prefix is not None and not self.continues_prefix:
            raise ValueError(f"{self.name} cannot continue a reply from a given start (branching from a token needs "
                             "a local transformers model, or a server that continues an assistant message)")
        request = GenerationRequest(
            query, gen_kwargs, prompt_kwargs, control, stop_event or threading.Event(), stats, stop=tuple(stop),
            on_prefill=on_prefill, prefix=prefix,
        )
        return ReplyStream(self._run(request), stats)

    def _run(self, request: "GenerationRequest") -> Iterator[str]:
        stats, stop_event = request.stats, request.stop_event
        request.clock = clock = StreamClock(stats)
        try:
            yield from self.stream_generate(request)
            if stop_event.is_set() and not request.hit_stop:
                stats.finish_reason = "cancelled"
        except GeneratorExit:
            stats.finish_reason = "cancelled"
            stop_event.set()
            raise
        except Exception as exc:
            stats.finish_reason = "error"
            stats.error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            clock.finish()
            if request.prefix is not None and request.prefix.tokens and stats.tokens is not None:
                stats.tokens[:0] = [dict(t) for t in request.prefix.tokens]  # the reply's tokens start with these
            self._logprob_stats(request)

    def _logprob_stats(self, request: "GenerationRequest") -> None:
        """Mean log-probability and perplexity of a reply with logprobs on, or why it has none."""
        stats = request.stats
        if stats.tokens:
            stats.mean_logprob, stats.perplexity = reply_logprob_stats(stats.tokens)
        elif logprobs_wanted(request.control) is not None and stats.tokens is None \
                and stats.logprobs_unavailable is None and stats.finish_reason != "error":
            stats.logprobs_unavailable = f"{self.name} reports no token probabilities"

    def stream_generate(self, request: "GenerationRequest") -> Iterator[str]:
        """Run the classic pipeline once and yield the reply as one chunk. Streaming bots override this."""
        prompt = self.build_prompt(request.query, request.prompt_kwargs)
        request.stats.rendered_prompt = render_prompt_text(prompt)
        input_dict = self.get_input(prompt)
        output = self.generate(input_dict, request.gen_kwargs)
        reply, _ = cut_at_stop(self.process_response(self.get_response(output, input_dict)), request.stop)
        request.clock.tokens(max(1, len(reply.split())) if reply else 0)
        yield reply

    def chat(self, query: Sequence[Message], **settings: Any) -> str:
        """Answer the last HUMAN turn of `query` and return the whole reply. Statistics: `self.last_stats`."""
        stream = self.stream(query, **settings)
        text = stream.consume()
        self.last_stats = stream.stats
        return text

    last_stats: ReplyStats | None = None

    def count_tokens(self, text: str) -> int | None:
        """Tokens `text` takes in this bot's vocabulary, or None when the bot cannot tell (then the manager
        counts the reasoning tokens as they stream)."""
        return None

    def close(self) -> None:
        """Free what the bot holds (its model, a connection, a child process); the model pool calls it when the
        last column, batch run or server using the bot lets go."""

    def describe(self) -> dict[str, Any]:
        """What the widget shows about the bot."""
        return {"name": self.name, "family": self.family}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
