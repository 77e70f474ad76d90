"""A compiled decode step over a static KV cache, built in the background and used once ready.

The scheduler keeps its rows left-padded (batch_state.py), so every row writes its newest key and value into the
same cache column: a step is one write index for the whole batch, which is exactly transformers' StaticCache
(one `cumulative_length` per layer). The decode step, `model(ids [B, 1], positions, mask [B, L], static cache)`,
is compiled with `torch.compile(dynamic=False)` once per shape bucket: B rounded up to a power of two, L (the
cache length) to 256 * 2**k. A new request, a longer reply or a longer conversation therefore reuses the graph of
its bucket; the positions, the mask and the write index are tensors the graph reads, never constants it bakes in.

Compiling never delays a reply: the first step of a bucket starts its compilation on a thread of its own and the
scheduler goes on decoding eagerly (its DynamicCache); between two steps, once the bucket is ready, the rows'
keys and values are copied into that bucket's static cache and the compiled step takes over. When the rows change
(one joins or leaves) the static contents go back into the DynamicCache, where batch_state.py pads, joins and
trims them as before, and come back at the next step. A compile that fails (no C compiler, an unsupported
platform, an exception) leaves the model on the eager path, said once in the log and in `status`.

Prefill stays eager: it runs once per request, in chunks of varying shape.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
import types
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from .trace_lock import TRACE_LOCK, guard_switches

log = logging.getLogger(__name__)

#: held by the build that is compiling (one per process: see _build)
ONE_COMPILE = threading.Lock()

#: smallest cache length bucket (tokens); larger buckets double it
MIN_CACHE_BUCKET = 256


def batch_bucket(rows: int) -> int:
    """Rows rounded up to a power of two."""
    return 1 << max(0, rows - 1).bit_length()


def cache_bucket(length: int) -> int:
    """A cache length of at least `length` tokens: 256, 512, 1024, ..."""
    bucket = MIN_CACHE_BUCKET
    while bucket < length:
        bucket *= 2
    return bucket


def static_unsupported(model: Any) -> str | None:
    """Why this model cannot decode on a static cache (None: it can)."""
    config = getattr(model, "config", None)
    text = config.get_text_config(decoder=True) if hasattr(config, "get_text_config") else config
    layer_types = getattr(text, "layer_types", None) or []
    if any("sliding" in str(t) or "chunked" in str(t) for t in layer_types):
        return "sliding-window/hybrid attention (e.g. Gemma 3): its cache is not one static block"
    if getattr(text, "sliding_window", None) and getattr(text, "use_sliding_window", True) and not layer_types:
        return "sliding-window attention: its cache is not one static block"
    if type(model).__module__.startswith("chatzoo_widget.models"):
        return f"{type(model).__name__} is ChatZoo's own implementation and keeps a DynamicCache"
    if getattr(model, "hf_device_map", None) and len(set(map(str, model.hf_device_map.values()))) > 1:
        return "the model is split across devices (device_map)"
    if getattr(model, "is_quantized", False) or getattr(model, "quantization_method", None):
        return "bitsandbytes-quantized weights"
    return None


def compiler_unavailable(device: torch.device) -> str | None:
    """Why torch.compile cannot run here (None: it can)."""
    if device.type == "cpu" and not any(shutil.which(cc) for cc in ("cc", "gcc", "clang")):
        return "no C compiler (inductor builds C++ kernels on CPU)"
    if not hasattr(torch, "compile"):
        return "this torch has no torch.compile"
    return None


def cpu_options() -> dict[str, Any]:
    """Inductor's settings for a CPU decode step (those this torch has), measured on SmolLM2, 2 cores:

    - cpp_wrapper: the graph's ~700 kernel calls from C++ instead of Python, ~2 ms less a step;
    - realize_cpu_opcount_threshold 1: a layer's input (RMSNorm's output) is written once, not recomputed inside
      the product's loop for every output row: int8's step 21 -> 11.6 ms (its products are inductor loops), the
      bfloat16 step 19.7 -> 17.8 ms.
    """
    from torch._inductor import config

    wanted = {"cpp_wrapper": True, "realize_cpu_opcount_threshold": 1}
    return {key: value for key, value in wanted.items() if hasattr(config, key)}


def _first_line(exc: BaseException) -> str:
    """An error's first line, at most 200 characters (for a status or a log line)."""
    text = str(exc)
    return text.splitlines()[0][:200] if text else ""


@dataclass
class _Bucket:
    rows: int
    length: int
    cache: Any = None
    step: Callable[..., torch.Tensor] | None = None
    state: str = "building"  # building | ready | failed
    error: str | None = None  # why it failed (its rows then decode eagerly; other buckets keep their graphs)
    seconds: float | None = None
    ready: threading.Event = field(default_factory=threading.Event)


class CompiledDecoder:
    """One model's compiled decode steps (per bucket) and the static cache in use.

    Used from the scheduler's thread only (`step`, `release`); compilation runs on background threads.
    `on_status(text)` hears "compiling (one-off)" and what follows ("compiled", or why eager).
    """

    def __init__(self, model: Any, *, pad_token_id: int, cache_arg: str,
                 on_status: Callable[[str], None] | None = None, mode: str | None = None):
        self.model = model
        self.pad_token_id = pad_token_id
        self.cache_arg = cache_arg
        self.on_status = on_status or (lambda text: None)
        self.device = model.device
        self.mode = mode if mode is not None else ("reduce-overhead" if self.device.type == "cuda" else None)
        self._buckets: dict[tuple[int, int], _Bucket] = {}
        self._lock = threading.Lock()
        self._active: _Bucket | None = None  # whose static cache holds the rows' keys and values now
        self.failure: str | None = static_unsupported(model) or compiler_unavailable(self.device)
        #: steps taken on a compiled graph (a fact for tests and benchmarks)
        self.compiled_steps = 0
        #: some bucket's graph is built: the scheduler's steps may call it, so they run alone (trace_lock.py)
        self.has_graph = False
        if not self.failure:
            guard_switches()  # before any trace: eager forwards must never see a trace's leftovers (trace_lock.py)
        if self.failure:
            log.info("%s decodes eagerly: %s", type(model).__name__, self.failure)
            self.on_status(f"eager: {self.failure}")

    # ----- status -------------------------------------------------------------------------------
    @property
    def status(self) -> str:
        """"compiling (one-off)", "compiled", "eager: <why>", "not compiled yet", or "compiled; R rows x L eager:
        <why>" where one bucket failed and another works."""
        if self.failure:
            return f"eager: {self.failure}"
        with self._lock:
            buckets = list(self._buckets.values())
        if any(b.state == "building" for b in buckets):
            return "compiling (one-off)"
        failed = [b for b in buckets if b.state == "failed"]
        if failed and len(failed) == len(buckets):
            return f"eager: {failed[0].error}"
        if failed:
            return f"compiled; {failed[0].rows} rows x {failed[0].length} eager: {failed[0].error}"
        return "compiled" if buckets else "not compiled yet"

    def compile_seconds(self) -> dict[str, float]:
        """Seconds each bucket took to compile, by "rows x length"."""
        with self._lock:
            return {f"{b.rows}x{b.length}": b.seconds for b in self._buckets.values() if b.seconds is not None}

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until every bucket asked for so far is built (benchmarks and tests)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for bucket in list(self._buckets.values()):
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not bucket.ready.wait(left):
                return False
        return True

    # ----- building -----------------------------------------------------------------------------
    def _bucket(self, rows: int, length: int) -> _Bucket:
        key = (batch_bucket(rows), cache_bucket(length))
        with self._lock:
            bucket = self._buckets.get(key)
            started = bucket is None
            if started:
                bucket = self._buckets[key] = _Bucket(*key)
                threading.Thread(target=self._build, args=(bucket,), daemon=True,
                                 name=f"chatzoo-compile-{key[0]}x{key[1]}").start()
        if started:  # outside the lock: a listener may read `status` (the widget's sync does), which takes it
            self.on_status("compiling (one-off)")
        return bucket

    def _build(self, bucket: _Bucket) -> None:
        start = time.perf_counter()
        try:
            from transformers import StaticCache

            cache = StaticCache(config=self.model.config, max_cache_len=bucket.length)
            model, arg = self.model, self.cache_arg

            def step(input_ids: torch.Tensor, position_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
                out = model(input_ids=input_ids, position_ids=position_ids, attention_mask=mask,
                            use_cache=True, **{arg: cache})
                return out.logits[:, -1, :].float()

            # layers with something to build before a trace (models/packed_linear.py: its op's C++ kernel)
            for prepare in {getattr(type(m), "before_compile", None) for m in model.modules()} - {None}:
                prepare()
            with torch.inference_mode():
                # the example inputs are inference tensors, like the steps' own: dynamo guards on the dispatch
                # keys, and tensors made outside inference mode failed that guard at every step (eager each time)
                ids, positions, mask = self._warmup_inputs(bucket)
                with TRACE_LOCK.forward():
                    model(input_ids=ids, position_ids=positions, attention_mask=mask[:, :1], use_cache=True,
                          **{arg: cache})  # allocates the static tensors (eagerly, outside the graph)
                # One compile at a time, taken before the trace lock: dynamo holds a lock of its own while it
                # compiles, and inductor's phase (below) takes the trace lock back inside it; two builds each
                # holding one of the two deadlocked (seen: two buckets building at once).
                with ONE_COMPILE:
                    compiled = self._trace(step, bucket, (ids, positions, mask))
            bucket.cache, bucket.step = cache, compiled
            bucket.seconds = time.perf_counter() - start
            self.has_graph = True
            bucket.state = "ready"
            log.info("compiled the decode step of %s for %d rows x %d tokens in %.1f s",
                     type(self.model).__name__, bucket.rows, bucket.length, bucket.seconds)
            self.on_status("compiled")
        except Exception as exc:  # noqa: BLE001 - compiling is an optimisation: eager goes on
            # Only this bucket's rows stay eager: a one-row graph that works keeps working when the 8-row trace
            # fails (seen while 8 rows decode: dynamo's "Expected dict, got NoneType" building its guards).
            bucket.error = f"compiling failed ({type(exc).__name__}: {_first_line(exc)})"
            bucket.state = "failed"
            log.warning("%s decodes %d rows x %d eagerly: %s", type(self.model).__name__, bucket.rows,
                        bucket.length, bucket.error)
            self.on_status(self.status)
        finally:
            bucket.ready.set()

    def _trace(self, step: Callable[..., torch.Tensor], bucket: _Bucket, example: tuple) -> Callable[..., Any]:
        """Compile `step` and call it twice on `example` (the compile, then CUDA graphs' recording).

        One graph if it can be (see `_compile`), else with every guard. A failure is tried once more: a model
        loading on another thread sets torch's process-wide default dtype while it builds, and dynamo fails a
        trace that sees it change ("GLOBAL_STATE changed: default_dtype", seen beside a concurrent load)."""
        for attempt in (1, 2):
            try:
                try:
                    compiled = self._compile(step, bucket, one_graph=True)
                    with TRACE_LOCK.trace():  # alone while dynamo traces (trace_lock.py); not while inductor builds
                        compiled(*example)
                except torch._dynamo.exc.Unsupported as exc:  # a graph break: several graphs, every guard kept
                    log.info("the decode step of %s is not one graph (%s): compiled with all its guards",
                             type(self.model).__name__, _first_line(exc))
                    compiled = self._compile(step, bucket, one_graph=False)
                    with TRACE_LOCK.trace():
                        compiled(*example)
                with TRACE_LOCK.trace():  # a graph's call is alone too (scheduler.py)
                    compiled(*example)
                return compiled
            except Exception as exc:  # noqa: BLE001 - the caller reports the second failure
                if attempt == 2:
                    raise
                log.info("compiling the decode step of %s failed once (%s: %s); trying again",
                         type(self.model).__name__, type(exc).__name__, _first_line(exc))
        raise AssertionError("unreachable")

    def _compile(self, step: Callable[..., torch.Tensor], bucket: _Bucket, one_graph: bool) -> Callable[..., Any]:
        """`step` under torch.compile, as a function with a code object of its own.

        dynamo keeps its graphs per code object, with a limit on variants: one per bucket (and model, and try)
        keeps one bucket's graph from counting as another's recompilation. A step that is one graph (`one_graph`:
        fullgraph, a graph break raises) also drops the guards on the model's modules: they cost ~1 ms a step
        (SmolLM2: thousands of attribute checks) and hold nothing a step can change, its weights being graph
        inputs read afresh at each call. That is safe only for code no other model runs: a graph break would
        compile the model's own methods, shared with every model of its class, whose guards then tell them apart.
        """
        code = step.__code__.replace(co_name=f"decode_step_{bucket.rows}x{bucket.length}")
        fn = types.FunctionType(code, step.__globals__, code.co_name, step.__defaults__, step.__closure__)
        skip = getattr(torch.compiler, "skip_guard_on_all_nn_modules_unsafe", None)  # torch >= 2.8
        options = {"guard_filter_fn": skip} if one_graph and skip is not None else None
        return torch.compile(fn, dynamic=False, fullgraph=one_graph, backend=self._backend(), options=options)

    def _backend(self) -> Callable[..., Any]:
        """Inductor (with this mode's options), building its code while the eager steps go on."""
        from torch._inductor import list_mode_options
        from torch._inductor.compile_fx import compile_fx

        options = list_mode_options(self.mode) if self.mode else {}
        if self.device.type == "cpu":
            options = {**options, **cpu_options()}

        def inductor(graph: Any, example_inputs: Any) -> Any:
            with TRACE_LOCK.paused_trace():
                return compile_fx(graph, example_inputs, config_patches=options)

        return inductor

    def _warmup_inputs(self, bucket: _Bucket) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        ids = torch.full((bucket.rows, 1), self.pad_token_id, dtype=torch.long, device=self.device)
        positions = torch.zeros((bucket.rows, 1), dtype=torch.long, device=self.device)
        mask = torch.zeros((bucket.rows, bucket.length), dtype=torch.long, device=self.device)
        mask[:, 0] = 1
        return ids, positions, mask

    # ----- decoding -----------------------------------------------------------------------------
    def step(self, input_ids: torch.Tensor, mask: torch.Tensor, dynamic_cache: Any,
             call_graph: bool = True) -> torch.Tensor | None:
        """Logits of one decode step on the compiled graph, or None: take the eager step (not ready, or cannot).

        input_ids [rows, 1]; mask [rows, length] with this step's column already appended; dynamic_cache holds
        the first length - 1 columns whenever no static cache is active."""
        if self.failure:
            return None
        rows, length = mask.shape
        bucket = self._bucket(rows, length)  # starts its build the first time
        if bucket.state != "ready" or not call_graph:  # call_graph False: the caller does not hold the lock alone
            if self._active is not None and self._active is not bucket:
                self.release(dynamic_cache)
            return None
        if self._active is not bucket:
            self.release(dynamic_cache)
            self._load(bucket, dynamic_cache, length - 1)
        full = torch.zeros((bucket.rows, bucket.length), dtype=mask.dtype, device=mask.device)
        full[:rows, :length] = mask
        full[rows:, length - 1] = 1  # padding rows attend to one column: no empty softmax
        ids = torch.full((bucket.rows, 1), self.pad_token_id, dtype=torch.long, device=input_ids.device)
        ids[:rows] = input_ids
        positions = (full.sum(-1, keepdim=True) - 1).clamp(min=0)
        positions[rows:] = 0
        # A guard that fails now runs this call eagerly instead of recompiling: a compile belongs on the background
        # thread, never in a step (it would hold every other forward for tens of seconds).
        with torch.compiler.set_stance("eager_on_recompile"):
            logits = bucket.step(ids, positions, full)
        self.compiled_steps += 1
        return logits[:rows].clone()

    def _load(self, bucket: _Bucket, dynamic_cache: Any, columns: int) -> None:
        """Copy the rows' keys and values (the first `columns` columns) into the bucket's static cache."""
        from .batch_state import cache_layers

        for dyn, static in zip(cache_layers(dynamic_cache), bucket.cache.layers):
            rows = dyn.keys.shape[0]
            static.keys[:rows, :, :columns].copy_(dyn.keys[:, :, :columns])
            static.values[:rows, :, :columns].copy_(dyn.values[:, :, :columns])
            static.cumulative_length.fill_(columns)
        self._active = bucket
        self._active_rows = int(cache_layers(dynamic_cache)[0].keys.shape[0])

    def release(self, dynamic_cache: Any) -> None:
        """Give the rows' keys and values back to the DynamicCache (before rows join or leave, or a switch)."""
        bucket, self._active = self._active, None
        if bucket is None or dynamic_cache is None:
            return
        from .batch_state import cache_layers

        rows = self._active_rows
        for dyn, static in zip(cache_layers(dynamic_cache), bucket.cache.layers):
            columns = int(static.cumulative_length)
            dyn.keys = static.keys[:rows, :, :columns].clone()
            dyn.values = static.values[:rows, :, :columns].clone()


__all__ = ["CompiledDecoder", "MIN_CACHE_BUCKET", "batch_bucket", "cache_bucket", "compiler_unavailable",
           "cpu_options", "static_unsupported"]
