"""Forward passes share the process; a dynamo trace has it to itself.

transformers and kernels keep per-call switches (which outputs to record, which kernel a layer uses) in
"compileable" context variables: a ContextVar while running eagerly, a plain attribute of one shared object while
dynamo traces. That attribute and its flag belong to the process, not to a thread, so an eager forward on one
thread while another thread traces a compiled step reads or resets the tracer's value: measured here, the eager
step failed ("'_contextvars.Token' object has no attribute 'get'", ending every row of the batch) or the trace
did ("Guard failed on the same frame it was created"). A compiled graph's call then replays the trace's side effects
on those switches, so an eager forward beside it failed too ("expected an instance of Token"). So every eager engine
forward holds this lock shared, and what touches those switches the compiled way holds it alone: dynamo's trace
with its guards, and each call of a compiled graph. Inductor's code generation, the long part of a compile, works on
the traced graph only and runs while replies go on. The cost: a compiled model's steps do not overlap other models'
forward passes (one column decoding alone, the case compiling is for, loses nothing).

The lock keeps traces and graph calls apart from eager forwards; it cannot undo the state they leave. The switches'
own classes pick the shared attribute by a flag a trace may leave set, after which two models' eager forwards read
and reset each other's values (seen in the demo notebook: SmolLM2 compiling beside Gemma 3). `guard_switches()`
gives those objects a class that decides per call, eager code always on its thread's ContextVar.
"""

from __future__ import annotations

import contextvars
import importlib
import threading
from contextlib import contextmanager
from typing import Iterator

import torch


class TraceLock:
    """Many forwards at once, or one trace; a waiting trace goes before newly arriving forwards."""

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._forwards = 0
        self._tracing = False
        self._traces_waiting = 0

    @contextmanager
    def forward(self) -> Iterator[None]:
        with self._cv:
            while self._tracing or self._traces_waiting:
                self._cv.wait()
            self._forwards += 1
        try:
            yield
        finally:
            with self._cv:
                self._forwards -= 1
                if not self._forwards:
                    self._cv.notify_all()

    def begin_trace(self) -> None:
        with self._cv:
            self._traces_waiting += 1
            while self._tracing or self._forwards:
                self._cv.wait()
            self._traces_waiting -= 1
            self._tracing = True

    def end_trace(self) -> None:
        with self._cv:
            self._tracing = False
            self._cv.notify_all()

    @contextmanager
    def trace(self) -> Iterator[None]:
        self.begin_trace()
        try:
            yield
        finally:
            self.end_trace()

    @contextmanager
    def paused_trace(self) -> Iterator[None]:
        """Inside `trace()`: let forwards run for a while (the backend's code generation), then take it back."""
        self.end_trace()
        try:
            yield
        finally:
            self.begin_trace()


#: the one lock of the process: the switches it protects are process-wide
TRACE_LOCK = TraceLock()


def _eager_safe(base: type) -> type:
    """`base` (a "compileable context variable") deciding per call, never by a flag a trace left behind."""

    class EagerSafe(base):  # type: ignore[misc, valid-type]
        def get(self):
            return self.global_var if torch.compiler.is_compiling() else self.context_var.get()

        def set(self, value):
            if torch.compiler.is_compiling():  # no read of the old value: a trace would guard on it
                self.global_var = value
                return None
            return self.context_var.set(value)

        def reset(self, token):
            if isinstance(token, contextvars.Token):
                self.context_var.reset(token)
            else:  # set inside a trace
                self.global_var = None

    EagerSafe.__name__ = f"EagerSafe{base.__name__}"
    return EagerSafe


#: where transformers and kernels keep such variables: (module, attribute)
SWITCHES = (("transformers.utils.output_capturing", "_active_collector"),
            ("kernels._internals.layer.layer", "_ACTIVE_KERNEL_FUNCS"))
_guarded: set[type] = set()
_guard_lock = threading.Lock()


def guard_switches() -> list[str]:
    """Make the switches in SWITCHES per-thread for eager code whatever a trace did (once per process; idempotent).

    Their own classes choose the shared attribute by a flag (`compiling`, `uses_global_var`) that a trace, or a
    compiled graph replaying its side effects, leaves set for every thread: two models' eager forwards then read and
    reset each other's values. Here eager code always takes the ContextVar. Returns the switches guarded."""
    done = []
    with _guard_lock:
        for module_name, attribute in SWITCHES:
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                continue
            switch = getattr(module, attribute, None)
            if switch is None or not hasattr(switch, "context_var") or not hasattr(switch, "global_var"):
                continue
            if type(switch) not in _guarded:
                switch.__class__ = _eager_safe(type(switch))  # the same object: every wrapper holding it follows
                _guarded.add(type(switch))
            done.append(f"{module_name}.{attribute}")
    return done
