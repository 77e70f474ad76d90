"""What a column shows while its model reads the prompt: a bot's prefill reports, passed on at a few a second.

A model reports after every chunk it reads (engine/prefill.py), which on a tiny model is hundreds of times a
second; the browser needs a few. `PrefillNews` keeps the latest report and sends it on a timer thread of its own,
so the model's thread never waits on the widget.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

log = logging.getLogger(__name__)

#: Seconds between two prefill events of one reply. Nothing is sent before the first interval is up either: a
#: prompt read faster than that needs no "reading" line.
PREFILL_INTERVAL = 0.25


class PrefillNews:
    """Passes one reply's prefill reports to `send(fields)`: at most one per `interval`, always the latest, none
    in the first interval, none after `close()` (the first token came, or the reply ended).

    fields: {"prompt_tokens": N, "done": k} (k None where the model reads the prompt in one pass), or
    {"prompt_tokens": None, "done": None, "server": True} while a remote model has sent nothing yet.
    """

    def __init__(self, send: Callable[[dict[str, Any]], None], interval: float = PREFILL_INTERVAL,
                 clock: Callable[[], float] = time.monotonic):
        self._send = send
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: dict[str, Any] | None = None
        self._last = clock()
        self._timer: threading.Timer | None = None
        self._closed = False

    def report(self, read: int | None, total: int) -> None:
        """A bot's `on_prefill` listener: `read` of `total` prompt tokens are read (None: it cannot tell)."""
        self._offer({"prompt_tokens": total, "done": read})

    def waiting_for_server(self) -> None:
        """A remote model: nothing to count, but the column may say it waits."""
        self._offer({"prompt_tokens": None, "done": None, "server": True})

    def close(self) -> None:
        with self._lock:
            self._closed, self._pending, timer = True, None, self._timer
        if timer is not None:
            timer.cancel()

    def _offer(self, fields: dict[str, Any]) -> None:
        with self._lock:
            if self._closed:
                return
            self._pending = fields
            if self._timer is None:
                wait = max(0.0, self._last + self._interval - self._clock())
                self._timer = threading.Timer(wait, self._fire)
                self._timer.daemon = True
                self._timer.name = "chatzoo-prefill-news"
                self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            self._timer = None
            fields, self._pending = self._pending, None
            if self._closed or fields is None:
                return
            self._last = self._clock()
        try:
            self._send(fields)
        except Exception as exc:  # noqa: BLE001 - nothing escapes a background thread
            log.warning("sending prefill progress failed: %s", exc)
