"""One scheduler per loaded model: every request for that model decodes in one continuous batch.

A request that arrives while others decode is prefilled and joins at the next step; a finished, stopped or failed
one leaves at once, without holding the others back. Each row keeps its own settings (see sampling.py) and its own
random generator. One thread per scheduler runs every forward pass, so torch never runs on the callers' threads.
A long prompt is read in chunks (prefill.py): between two chunks the rows already decoding take a step, each
newcomer hears how far its prompt is read, and a stopped one ends there.

Why not `model.generate` on a batch? It cannot take a request mid-flight. Why not transformers' continuous batching
(`init_continuous_batching`)? On CPU it ran one request alone at 0.78x a plain generate, and it has no per-request
seeds; this loop is the model's own forward pass with a DynamicCache, the same processors generate uses, and
left-padded rows (batch_state.py).
"""

from __future__ import annotations

import atexit
import ctypes
import inspect
import logging
import os
import threading
import time
import weakref
from concurrent.futures import Future
from typing import Any, Callable

import torch

from .batch_state import BatchState, plain_cache
from .compiled import CompiledDecoder
from .prefill import DEFAULT_PREFILL_CHUNK, PrefillGroup, check_chunk
from .request import EngineRequest, Finished
from .sampling import pick_tokens, pick_tokens_scored, row_decoding
from .small_rows import runs_on_cpu, use_few_rows_path
from .openmp import release_thread_team
from .trace_lock import TRACE_LOCK

log = logging.getLogger(__name__)

DEFAULT_MAX_BATCH = 16
# An idle scheduler waits this long for the rest of a burst (a sweep's columns, a batch run, a server's clients) so
# the burst is prefilled as one group: rows that start together need no padding, and the batch keeps the model's
# fastest attention path. ARRIVAL_GAP ends the wait early once requests stop coming.
ADMIT_WINDOW = 0.02
ARRIVAL_GAP = 0.004
_LIVE: "weakref.WeakSet[Scheduler]" = weakref.WeakSet()


class _CoreShare:
    """Splits the CPU cores between the schedulers decoding at the same moment.

    Two models decoding at once with every core each oversubscribe the CPU and gain nothing over taking turns; with
    the cores split they overlap (1.7x on 2 cores). The share changes only when a model starts or stops decoding,
    never per request, and every scheduler thread sets the same number.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._busy: set[int] = set()

    def enter(self, key: int) -> None:
        with self._lock:
            self._busy.add(key)

    def leave(self, key: int) -> None:
        with self._lock:
            self._busy.discard(key)

    def threads(self) -> int:
        with self._lock:
            busy = max(1, len(self._busy))
        return max(1, (os.cpu_count() or 1) // busy)


CORES = _CoreShare()


def _malloc_trim() -> Any:
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


_TRIM = _malloc_trim()


def release_free_memory() -> None:
    """Hand the heap memory freed by a finished batch back to the system (glibc keeps it otherwise: a batch's
    growing KV tensors leave the heap fragmented, and the kernel's resident memory would creep up batch by batch)."""
    if _TRIM is not None:
        _TRIM(0)


@atexit.register
def _close_all() -> None:
    # A daemon thread killed inside a torch op at interpreter exit aborts the process ("terminate called...").
    for scheduler in list(_LIVE):
        scheduler.close()


class SchedulerClosed(RuntimeError):
    """The model was released while requests were still waiting."""


class Scheduler:
    """Continuous batching over one causal LM. Thread-safe: `submit` from any thread.

    max_batch: most rows decoding at once; later requests wait for a free row (read at each admission, so a
        server may change it).
    threads: CPU threads of this scheduler's thread (None: the cores shared out between the models decoding at
        the same moment, see _CoreShare; for a model on a GPU, torch's own setting); never set per request.
    prefill_chunk: prompt tokens read per forward pass (see prefill.py).
    compile: decode on a compiled step over a static cache (compiled.py) once it is built; None: where it pays
        (a GPU, or a CPU with bfloat16 weights; on a float32 CPU it measured 1.07x for ~40 s of compiling).
    """

    def __init__(self, model: Any, *, name: str = "model", max_batch: int = DEFAULT_MAX_BATCH,
                 pad_token_id: int | None = None, threads: int | None = None,
                 prefill_chunk: int = DEFAULT_PREFILL_CHUNK, compile: bool | None = None):
        self.model = model
        self.name = name
        self.max_batch = max_batch
        self.pad_token_id = pad_token_id if pad_token_id is not None else 0
        self._cv = threading.Condition()
        self._waiting: list[EngineRequest] = []
        self._rows: list[EngineRequest] = []  # row i of the batch is _rows[i]
        self._prefill: PrefillGroup | None = None  # newcomers whose prompts are being read (one group at a time)
        self._jobs: list[tuple[Callable[[], Any], Future]] = []  # work to run between two steps (run_between_steps)
        self.prefill_chunk = check_chunk(prefill_chunk)
        self._state = BatchState()
        self._thread: threading.Thread | None = None
        self._closed = False
        _LIVE.add(self)
        self.threads = threads
        use_few_rows_path(model)
        #: the CPU-only tuning applies (the core split, malloc_trim, the few-rows path): off for a model on a GPU
        self.cpu_tuning = runs_on_cpu(model)
        params = inspect.signature(model.forward).parameters
        self._takes_positions = "position_ids" in params
        self._cache_arg = "cache" if "cache" in params else "past_key_values"  # renamed in transformers 5.2x
        self._takes_logits_to_keep = "logits_to_keep" in params
        #: the largest batch seen: a fact for benchmarks and tests
        self.peak_batch = 0
        self._graph_allowed = False  # this step may call a compiled graph (it holds the trace lock alone)
        if compile is None:
            compile = not self.cpu_tuning or getattr(model, "dtype", None) == torch.bfloat16
        #: the compiled decode step (None: eager only)
        self.compiled: CompiledDecoder | None = CompiledDecoder(
            model, pad_token_id=self.pad_token_id, cache_arg=self._cache_arg) if compile else None

    # ----- callers' side ------------------------------------------------------------------------
    def submit(self, request: EngineRequest) -> EngineRequest:
        """Queue a request; read its tokens with `request.next_ids()`, its end with `request.wait_finished()`."""
        with self._cv:
            if self._closed:
                raise SchedulerClosed(f"{self.name} was released: load it again to generate")
            self._waiting.append(request)
            self._wake()
        return request

    def _wake(self) -> None:
        """(Holding the condition's lock.) Start the loop's thread if it is not running, and tell it there is work."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, daemon=True, name=f"chatzoo-engine-{self.name}")
            self._thread.start()
        self._cv.notify()

    def run_between_steps(self, job: Callable[[], Any]) -> Future:
        """Run `job()` on this scheduler's thread between two steps of the batch (a scoring forward pass): it never
        overlaps a step, and runs in inference mode with the thread count the decoding uses. Returns its Future."""
        future: Future = Future()
        with self._cv:
            if self._closed:
                raise SchedulerClosed(f"{self.name} was released: load it again to use it")
            self._jobs.append((job, future))
            self._wake()
        return future

    def _run_jobs(self) -> None:
        with self._cv:
            jobs, self._jobs = self._jobs, []
        for job, future in jobs:
            if not future.set_running_or_notify_cancel():
                continue
            try:
                with TRACE_LOCK.forward():  # a forward pass too: never while a compile traces
                    result = job()
                future.set_result(result)
            except BaseException as exc:  # noqa: BLE001 - the caller gets it; the batch goes on
                future.set_exception(exc)

    @property
    def active(self) -> int:
        """Requests decoding or waiting."""
        with self._cv:
            return len(self._rows) + len(self._waiting) + len(self._reading())

    def close(self) -> None:
        """Stop every request (they end "cancelled") and let the thread end; the model can then be freed."""
        with self._cv:
            self._closed = True
            for request in self._waiting + self._rows + self._reading():
                request.stop_event.set()
            self._cv.notify()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)

    # ----- the loop -----------------------------------------------------------------------------
    def _loop(self) -> None:
        with torch.inference_mode():
            while True:
                with self._cv:
                    if not self._waiting and not self._rows and not self._prefill and not self._jobs:
                        CORES.leave(id(self))
                        if self.cpu_tuning:
                            release_free_memory()
                            release_thread_team()  # an idle thread's OpenMP team slows every other (openmp.py)
                    while not self._waiting and not self._rows and not self._prefill and not self._jobs \
                            and not self._closed:
                        self._cv.wait()
                    if self.cpu_tuning:
                        CORES.enter(id(self))
                    if not self._rows and not self._prefill:
                        self._gather_burst()
                    if self._closed:  # a group admitted while close() ran was in none of its lists
                        for request in self._rows + self._reading():
                            request.stop_event.set()
                    if self._closed and not self._rows and not self._prefill:
                        for request in self._waiting:
                            self._end(request, "cancelled")
                        self._waiting.clear()
                        for _, future in self._jobs:
                            future.set_exception(SchedulerClosed(f"{self.name} was released"))
                        self._jobs.clear()
                        self._thread = None
                        CORES.leave(id(self))
                        return
                    # One group is read at a time: later arrivals wait for it, then come in as the next group.
                    room = 0 if self._prefill else max(0, self.max_batch - len(self._rows))
                    group, self._waiting = self._waiting[:room], self._waiting[room:]
                threads = self.threads or (CORES.threads() if self.cpu_tuning else None)
                if threads and torch.get_num_threads() != threads:
                    torch.set_num_threads(threads)
                if self._jobs:
                    self._run_jobs()
                # Eager steps share the process with other forwards; a compiled graph's call replays dynamo's side
                # effects on transformers' process-wide switches, so it runs alone, like a trace (trace_lock.py).
                alone = self._graph_allowed = self.compiled is not None and self.compiled.has_graph
                try:
                    with TRACE_LOCK.trace() if alone else TRACE_LOCK.forward():
                        if group:
                            self._admit(group)
                        if self._prefill:
                            self._read_chunk()
                        if self._rows:
                            self._step()
                except Exception as exc:  # a failure of the whole forward pass ends the rows it carried
                    log.warning("batch step of %s failed: %s", self.name, exc, exc_info=True)
                    for request in self._rows:
                        self._end(request, "error", exc)
                    self._rows = []
                    self._state = BatchState()
                    self._release_static()

    def _gather_burst(self) -> None:
        """Wait (holding the condition's lock) while more requests keep arriving, up to ADMIT_WINDOW."""
        deadline = time.monotonic() + ADMIT_WINDOW
        while not self._closed and len(self._waiting) < self.max_batch:
            seen = len(self._waiting)
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._cv.wait(min(ARRIVAL_GAP, left))
            if len(self._waiting) == seen:
                return

    def _end(self, request: EngineRequest, reason: str, error: BaseException | None = None) -> None:
        request.channel.put(Finished(reason, error))

    def _admit(self, group: list[EngineRequest]) -> None:
        """Prepare the newcomers' prompts and start reading them together (left-padded, see prefill.py)."""
        ready: list[EngineRequest] = []
        for request in group:
            if request.stop_event.is_set():
                self._end(request, "cancelled")
                continue
            try:
                ids = request.prepare()
                request.prompt_ids = [int(i) for i in ids.reshape(-1).tolist()]
                if not request.prompt_ids:
                    raise ValueError("the prompt has no tokens")
                request.state = row_decoding(self.model, request.gen_kwargs, len(request.prompt_ids),
                                             request.random_seed(), self.model.device)
            except Exception as exc:  # this request only: a bad prompt, a bad setting
                self._end(request, "error", exc)
                continue
            ready.append(request)
        if not ready:
            return
        self._prefill = PrefillGroup(ready, self.pad_token_id, self.model.device)
        for request in ready:  # the prompt's length is news already: a long one takes a while
            request.report_prefill(0)

    def _reading(self) -> list[EngineRequest]:
        return list(self._prefill.requests) if self._prefill else []

    def _read_chunk(self) -> None:
        """Read the next chunk of the group's prompts; after the last, give each its first token and let it join.

        Requests stopped since the last chunk end here ("cancelled"); the others read on."""
        group = self._prefill
        stopped = {i for i, r in enumerate(group.requests) if r.stop_event.is_set()}
        for i in sorted(stopped):
            self._end(group.requests[i], "cancelled")
        if stopped:
            group.drop(stopped)
        if not group.requests:
            self._prefill = None
            return
        input_ids, mask = group.next_chunk(self.prefill_chunk)
        try:
            logits = self._forward(input_ids, mask, group.cache)
            if not plain_cache(group.cache):
                raise RuntimeError(f"{self.name}'s cache cannot be batched (not a plain DynamicCache)")
        except Exception as exc:  # the newcomers fail; the rows already decoding go on
            self._prefill = None
            for request in group.requests:
                self._end(request, "error", exc)
            return
        group.advance(input_ids.shape[1])
        for i, request in enumerate(group.requests):
            request.report_prefill(group.tokens_read(i))
        if not group.finished:
            return
        self._prefill = None
        self._release_static()
        self._state.join(group.cache, group.mask)
        self._rows.extend(group.requests)
        self._pick(group.requests, logits, offset=len(self._rows) - len(group.requests))

    def _forward(self, input_ids: torch.Tensor, mask: torch.Tensor, cache: Any) -> torch.Tensor:
        kwargs: dict[str, Any] = {"attention_mask": mask, self._cache_arg: cache, "use_cache": True}
        if self._takes_positions:
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            kwargs["position_ids"] = positions[:, -input_ids.shape[1]:]
        if self._takes_logits_to_keep:
            kwargs["logits_to_keep"] = 1
        out = self.model(input_ids=input_ids, **kwargs)
        return out.logits[:, -1, :].float()

    def _step(self) -> None:
        """One decode step for every row."""
        self._drop_stopped()
        if not self._rows:
            return
        self.peak_batch = max(self.peak_batch, len(self._rows))
        last = torch.tensor([[r.generated[-1]] for r in self._rows], dtype=torch.long, device=self.model.device)
        mask = self._state.extend_mask()
        # only in a step that holds the trace lock alone (a graph built during this one waits for the next)
        logits = (self.compiled.step(last, mask, self._state.cache, call_graph=self._graph_allowed)
                  if self.compiled else None)
        if logits is None:  # not compiled (yet): the eager step on the DynamicCache
            logits = self._forward(last, mask, self._state.cache)
        self._pick(list(self._rows), logits, offset=0)

    def _pick(self, requests: list[EngineRequest], logits: torch.Tensor, offset: int) -> None:
        """Choose each row's next token (scored for the rows that asked), send it, and let finished rows leave."""
        states, seen = [r.state for r in requests], [r.prompt_ids + r.generated for r in requests]
        top = [r.logprobs for r in requests]
        if any(k is not None for k in top):
            picks, scored = pick_tokens_scored(states, logits, seen, top)
        else:  # nobody asked: not a tensor op more than before
            picks, scored = pick_tokens(states, logits, seen), None
        leaving: set[int] = set()
        for i, (request, token) in enumerate(zip(requests, picks)):
            if isinstance(token, BaseException):  # this row's settings failed: it ends, the others go on
                self._end(request, "error", token)
                leaving.add(offset + i)
                continue
            request.generated.append(token)
            if scored is not None and scored[i] is not None:
                request.scores.append(scored[i])  # before the id is sent: a reader of n ids finds n scores
            request.channel.put([token])
            if token in request.state.eos:
                self._end(request, "stop")
                leaving.add(offset + i)
            elif len(request.generated) >= request.state.max_new_tokens:
                self._end(request, "length")
                leaving.add(offset + i)
        if leaving:
            self._leave(leaving)

    def _drop_stopped(self) -> None:
        stopped = {i for i, r in enumerate(self._rows) if r.stop_event.is_set()}
        for i in stopped:
            self._end(self._rows[i], "cancelled")
        if stopped:
            self._leave(stopped)

    def _release_static(self) -> None:
        """The rows change: their keys and values go back to the DynamicCache (compiled.py)."""
        if self.compiled is not None:
            self.compiled.release(self._state.cache)

    def _leave(self, rows: set[int]) -> None:
        self._release_static()
        keep = [i for i in range(len(self._rows)) if i not in rows]
        self._rows = [self._rows[i] for i in keep]
        self._state.keep(keep)
