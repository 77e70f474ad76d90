"""Helpers shared by the benchmarks."""

from __future__ import annotations

import threading


def in_worker(fn, *args, **kwargs):
    """Run fn in a fresh thread and return its result or raise its error.

    Benchmarks keep torch off the main thread, as the widget does: a thread that ran a parallel torch op keeps an
    OpenMP team while it lives, and idle teams slow generation in every other thread (engine/openmp.py); a
    finished worker thread takes its team with it.
    """
    box: dict = {}

    def run():
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=run, name="bench-worker")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]
