"""One request to a scheduler: what it asks for, and the channel its tokens come back through."""

from __future__ import annotations

import logging
import queue
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

FINISH_REASONS = ("stop", "length", "cancelled", "error")
log = logging.getLogger(__name__)


@dataclass
class Finished:
    """The last item a request's channel carries: why it ended (one of FINISH_REASONS)."""

    reason: str
    error: BaseException | None = None


@dataclass(eq=False)  # by identity: the scheduler keeps requests in lists and sets
class EngineRequest:
    """A prompt to decode with its own settings.

    prepare: called by the scheduler (in its thread, when the request is admitted) to build the prompt's token ids
        as a [1, length] tensor; it may raise (a prompt longer than the context), which fails this request only.
    gen_kwargs: generate() keyword arguments (max_new_tokens, do_sample, temperature, top_p, top_k,
        repetition_penalty, eos_token_id, ...), read through the model's own generation config.
    seed: a seed for this request's own random generator (None: an unpredictable one).
    on_prefill: called in the scheduler's thread as the prompt is read, with (prompt tokens read, prompt tokens):
        once before the first chunk and after each chunk (see prefill.py); keep it quick, it holds the model.
    logprobs: None (the default) or how many likeliest alternatives to keep per generated token (0: the token's own
        log-probability only). The scores land in `scores`, one per generated id, before the id is sent, so a reader
        that has received n ids can read `scores[:n]`.
    """

    prepare: Callable[[], Any]
    gen_kwargs: dict[str, Any]
    seed: int | None = None
    stop_event: threading.Event = field(default_factory=threading.Event)
    channel: "queue.SimpleQueue[Any]" = field(default_factory=queue.SimpleQueue)
    on_prefill: Callable[[int, int], None] | None = None
    logprobs: int | None = None
    # Set by the scheduler:
    prompt_ids: list[int] = field(default_factory=list)
    generated: list[int] = field(default_factory=list)
    prefilled: int = 0  # prompt tokens read so far
    state: Any = None  # the scheduler's per-request decoding state (processors, generator, limits)
    scores: list[Any] = field(default_factory=list)  # sampling.TokenScores per generated id, when logprobs is set

    def report_prefill(self, read: int) -> None:
        """Tell `on_prefill` how many prompt tokens are read (a failing callback is logged, never raised)."""
        self.prefilled = read
        if self.on_prefill is not None:
            try:
                self.on_prefill(read, len(self.prompt_ids))
            except Exception as exc:  # noqa: BLE001 - a listener must not break the model's thread
                log.warning("prefill progress listener failed: %s", exc)

    def random_seed(self) -> int:
        return self.seed if self.seed is not None and self.seed >= 0 else secrets.randbits(63)

    def drain_nowait(self) -> tuple[list[int], bool]:
        """Every id that has arrived so far without waiting, and whether the request ended."""
        ids: list[int] = []
        while True:
            try:
                item = self.channel.get_nowait()
            except queue.Empty:
                return ids, False
            if isinstance(item, Finished):
                self.finished = item
                return ids, True
            ids.extend(item)

    def next_ids(self) -> tuple[list[int], bool]:
        """Block for the next ids, then take whatever else has arrived: (ids, ended)."""
        item = self.channel.get()
        if isinstance(item, Finished):
            self.finished = item
            return [], True
        more, ended = self.drain_nowait()
        return list(item) + more, ended

    def wait_finished(self) -> Finished:
        """Wait for the end (ids still arriving are dropped: the reader has left) and say why it ended."""
        while self.finished is None:
            self.next_ids()
        return self.finished

    finished: Finished | None = None
