"""Give back a thread's OpenMP workers once it is done computing.

torch's CPU wheels parallelise with GNU OpenMP (libgomp), which keeps a team of worker threads for every thread
that ran a parallel op, for as long as that thread lives. When the teams' threads outnumber the CPUs, libgomp
stops spinning between parallel regions (its "throttled" spin count) and every wake-up goes through the kernel. A
decode step is a few hundred small parallel regions, so one idle team elsewhere in the process (a loader thread
that converted weights, a scheduler thread of a model that is not decoding, a benchmark's main thread) made a
lone column decode 2.2x slower on a 2-core machine (34 -> 15 tok/s, SmolLM2 bf16 compiled; OMP_WAIT_POLICY
and GOMP_SPINCOUNT do not lift the throttle). OpenMP 5's `omp_pause_resource_all(omp_pause_soft)` frees the calling
thread's team; the next parallel op there builds a new one (well under a millisecond), so threads that go idle
call `release_thread_team()`. Without libgomp (Intel or LLVM OpenMP, a build without OpenMP) it does nothing.
"""

from __future__ import annotations

import ctypes
import glob
import os
from typing import Any, Callable

OMP_PAUSE_SOFT = 1


def _find_pause() -> Callable[[int], int] | None:
    """`omp_pause_resource_all` of the OpenMP runtime torch uses, or None."""
    import torch

    names = sorted(glob.glob(os.path.join(os.path.dirname(torch.__file__), "lib", "lib*omp*.so*")))
    for name in [*names, "libgomp.so.1"]:
        try:
            pause: Any = ctypes.CDLL(name).omp_pause_resource_all
        except (OSError, AttributeError):
            continue
        pause.argtypes, pause.restype = [ctypes.c_int], ctypes.c_int
        return pause
    return None


_PAUSE: Callable[[int], int] | None = None
_FOUND = False


def release_thread_team() -> bool:
    """Free the calling thread's OpenMP worker team (call it when the thread goes idle, outside any parallel
    region). True when a runtime took the request."""
    global _PAUSE, _FOUND
    if not _FOUND:
        _PAUSE, _FOUND = _find_pause(), True
    return _PAUSE is not None and _PAUSE(OMP_PAUSE_SOFT) == 0


def released_after(work: Callable[[], Any]) -> Callable[[], Any]:
    """`work` that frees its thread's OpenMP team when it returns (for pooled threads that then wait idle)."""
    def run() -> Any:
        try:
            return work()
        finally:
            release_thread_team()
    return run


__all__ = ["release_thread_team", "released_after"]
