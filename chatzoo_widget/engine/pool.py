"""The kernel's model pool: one loaded bot per (checkpoint, load options), shared by everyone who uses it.

Columns of any widget, batch runs and servers `acquire` a lease and `release` it when done. The first lease starts
the load on the pool's one load executor; later ones share the same load, in progress or finished. The bot is
closed (its scheduler stopped, its weights dropped, a `process=True` child ended) when the last lease is released,
explicitly, not whenever the garbage collector gets to it. Releasing one lease never cancels a load that others
hold; a load nobody holds any more is closed as soon as it finishes.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable

from .openmp import released_after

log = logging.getLogger(__name__)

LOAD_WORKERS = 2  # loads at once: reading weights is mostly I/O and conversion, two overlap well


@dataclass(eq=False)
class _Entry:
    key: Hashable
    future: Future
    holders: int = 0


@dataclass(eq=False)
class Lease:
    """One holder's claim on a pooled bot. `future` resolves to the bot (or its load error)."""

    pool: "ModelPool"
    entry: _Entry
    released: bool = field(default=False)

    @property
    def future(self) -> Future:
        return self.entry.future

    def bot(self, timeout: float | None = None) -> Any:
        """The loaded bot (waits for the load; raises its error)."""
        return self.entry.future.result(timeout)

    def release(self) -> None:
        """Let go of the bot (idempotent); the last release closes it."""
        self.pool._release(self)

    def share(self) -> "Lease":
        """Another lease on the same bot (a judge using a column's model): it stays until both are released.
        RuntimeError when this lease was released already."""
        return self.pool._share(self)


class ModelPool:
    """Loads bots once per key and shares them; see the module docstring."""

    def __init__(self, workers: int = LOAD_WORKERS):
        self._lock = threading.Lock()
        self._entries: dict[Hashable, _Entry] = {}
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="chatzoo-load")

    def acquire(self, key: Hashable, load: Callable[[], Any]) -> Lease:
        """A lease on the bot for `key`, loading it with `load()` in the background if nobody holds it yet.

        A failed load is not kept: the next `acquire` of that key tries again.
        """
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or (entry.future.done() and entry.future.exception() is not None):
                entry = _Entry(key, self._executor.submit(released_after(load)))  # see openmp.py
                self._entries[key] = entry
            entry.holders += 1
            return Lease(self, entry)

    def adopt(self, bot: Any) -> Lease:
        """A lease on a bot the caller loaded (a ChatBOT object given to a column): shared by identity, never
        closed by the pool (its owner decides)."""
        future: Future = Future()
        future.set_result(bot)
        return Lease(self, _Entry(("adopted", id(bot)), future, holders=1))

    def unloaded(self, reason: str) -> Lease:
        """A lease that holds nothing (a column whose model is not loaded now): released, its future the
        RuntimeError `reason`, so whoever asks it for the bot gets that error instead of waiting."""
        future: Future = Future()
        future.set_exception(RuntimeError(reason))
        return Lease(self, _Entry(("unloaded", id(future)), future), released=True)

    def _share(self, lease: Lease) -> Lease:
        with self._lock:
            if lease.released:
                raise RuntimeError("this model was let go of already: it cannot be shared")
            lease.entry.holders += 1
            return Lease(self, lease.entry)

    def _release(self, lease: Lease) -> None:
        with self._lock:
            if lease.released:
                return
            lease.released = True
            entry = lease.entry
            entry.holders -= 1
            if entry.holders > 0 or self._entries.get(entry.key) is not entry:
                return
            del self._entries[entry.key]
        entry.future.add_done_callback(_close_loaded)

    def holders(self, key: Hashable) -> int:
        """How many leases hold `key` now (0 when it is not loaded or loading)."""
        with self._lock:
            entry = self._entries.get(key)
            return entry.holders if entry else 0

    def keys(self) -> list[Hashable]:
        with self._lock:
            return list(self._entries)


def _close_loaded(future: Future) -> None:
    """Close a bot nobody holds any more (runs when its load finishes, or at once if it had)."""
    if future.cancelled() or future.exception() is not None:
        return
    bot = future.result()
    try:
        bot.close()
    except Exception as exc:  # noqa: BLE001 - closing must not break the caller
        log.warning("closing %r failed: %s", bot, exc)


#: The kernel's pool, shared by every widget, batch run and in-process server.
POOL = ModelPool()
