"""How many requests generate at once, how many may wait, and who is refused."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

from .protocol import APIError


class RequestSlots:
    """Up to `max_batch` requests generate at once (the model's scheduler decodes them together); up to
    `max_queue` more wait, first come first served; past that, 429 with Retry-After.

    `admit()` is synchronous, so the 429 decision is exact on the event loop; `acquire()` waits for a slot;
    `release()` runs when the request's worker thread really ended (within a token of a stop), not when its
    client went away, so a slot is never counted free while the model still works on it.
    """

    def __init__(self, max_batch: int, max_queue: int):
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        if max_queue < 0:
            raise ValueError(f"max_queue must be >= 0, got {max_queue}")
        self.max_batch = max_batch
        self.max_queue = max_queue
        self.running = 0
        self.waiting = 0  # admitted requests that do not generate yet
        self._waiters: deque[asyncio.Future] = deque()

    def admit(self) -> None:
        if self.running + self.waiting >= self.max_batch + self.max_queue:
            raise APIError(
                429,
                f"the model is busy: {self.running} requests are generating and {self.waiting} are waiting, which "
                f"is this server's limit (--max-batch {self.max_batch}, --max-queue {self.max_queue}); retry shortly",
                type="rate_limit_error", code="queue_full", headers={"Retry-After": "1"},
            )
        self.waiting += 1

    def cancel_admission(self) -> None:
        """An admitted request that will never `acquire` (its client left first)."""
        self.waiting -= 1

    async def acquire(self) -> None:
        """Wait for a slot (after `admit`). Cancellation while waiting leaves the queue cleanly."""
        try:
            if self.running < self.max_batch and not self._waiters:
                self.running += 1
                return
            fut = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            try:
                await fut
            except asyncio.CancelledError:
                if fut.done() and not fut.cancelled():  # handed a slot just as we were cancelled: pass it on
                    self.release()
                else:
                    with contextlib.suppress(ValueError):
                        self._waiters.remove(fut)
                raise
        finally:
            self.waiting -= 1

    def release(self) -> None:
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)  # hand the slot over: `running` stays the same
                return
        self.running -= 1
