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
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator


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
