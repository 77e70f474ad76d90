"""Threads that go idle give back their OpenMP worker teams (engine/openmp.py): an idle team elsewhere in the
process throttles libgomp's spinning and halves a decoding column's speed on a small machine."""

from __future__ import annotations

import os
import threading
import time

import pytest
import torch

from chatzoo_widget.engine.openmp import release_thread_team
from chatzoo_widget.engine.pool import ModelPool


def _os_threads() -> set[str]:
    return set(os.listdir("/proc/self/task"))


def _settled(base: set[str], expected: int, timeout: float = 5.0) -> int:
    """OS threads started since `base` was taken, once they number `expected` (or at the timeout). Threads of
    earlier tests that end meanwhile do not count (seen: a leftover thread ending made the total one short)."""
    deadline = time.monotonic() + timeout
    while len(_os_threads() - base) != expected and time.monotonic() < deadline:
        time.sleep(0.02)
    return len(_os_threads() - base)


def _parallel_work() -> str:
    a = torch.randn(1024, 1024)
    (a @ a).sum()  # a parallel op: this thread now has a team of OpenMP workers
    return "loaded"


pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/task") or not release_thread_team(),
                                reason="needs Linux and libgomp (torch's CPU wheels) to count OpenMP workers")


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_a_thread_that_releases_its_team_leaves_no_workers_behind(two_threads):
    done, stay = threading.Event(), threading.Event()
    counts = {}

    def work(release: bool):
        torch.set_num_threads(2)
        _parallel_work()
        if release:
            release_thread_team()
        done.set()
        stay.wait()

    base = _os_threads()
    for release in (False, True):
        done.clear(), stay.clear()
        t = threading.Thread(target=work, args=(release,))
        t.start()
        done.wait(10)
        counts[release] = _settled(base, 1)  # the thread itself, plus its workers if it kept them
        stay.set()
        t.join()
    assert counts[False] >= 2, counts  # a kept team: the thread and at least one worker
    assert counts[True] == 1, counts


def test_the_model_pools_loader_gives_its_team_back_after_a_load(two_threads):
    pool = ModelPool(workers=1)
    base = _os_threads()
    lease = pool.acquire("parallel", _parallel_work)
    assert lease.bot(timeout=30) == "loaded"
    assert _settled(base, 1) == 1  # the idle loader thread only, no OpenMP workers waiting with it
    lease.release()
