"""Keep library warnings raised in worker threads out of notebook cells.

Models load and generate in worker threads. What a library prints there (a `warnings.warn`, or a log record
that reaches stderr, e.g. bitsandbytes' "Failed to load CPU gemm_4bit_forward from kernels-community") lands
in whatever cell happens to be running, since ipykernel routes a thread's output by the parent message of the
moment. `install()` diverts them: each distinct warning from one of ChatZoo's threads is logged once, at INFO, to the
`chatzoo_widget.library` logger (silent unless you configure logging), and kept in `seen()`. The main thread
and every other thread keep Python's usual behaviour, and so do our own loggers.

    import logging; logging.getLogger("chatzoo_widget.library").setLevel(logging.INFO)  # to see them
"""

from __future__ import annotations

import logging
import threading
import warnings
from typing import Any

LOGGER = logging.getLogger("chatzoo_widget.library")
LOGGER.addHandler(logging.NullHandler())  # quiet: never Python's last-resort handler on stderr

_lock = threading.Lock()
_seen: dict[str, None] = {}  # ordered set of the texts diverted so far
_installed: dict[str, Any] = {}


def _in_worker() -> bool:
    # Only ChatZoo's own threads (all named "chatzoo-..."): the user's threads and other libraries' keep
    # Python's usual behaviour.
    return threading.current_thread().name.startswith("chatzoo-")


def _divert(text: str) -> None:
    with _lock:
        if text in _seen:
            return
        _seen[text] = None
    LOGGER.info("%s", text)


def _showwarning(message, category, filename, lineno, file=None, line=None) -> None:
    if not _in_worker():
        return _installed["showwarning"](message, category, filename, lineno, file, line)
    _divert(f"{category.__name__}: {message} ({filename}:{lineno})")


def _handle(self: logging.Logger, record: logging.LogRecord) -> None:
    ours = record.name == LOGGER.name or record.name.split(".")[0] == "chatzoo_widget"
    if ours or not _in_worker() or record.levelno >= logging.ERROR:
        return _installed["handle"](self, record)
    if self.disabled or not self.filter(record):
        return None
    _divert(f"{record.name}: {record.getMessage()}")


def install() -> None:
    """Divert worker-thread warnings and library log records below ERROR (idempotent)."""
    with _lock:
        if _installed:
            return
        _installed["showwarning"] = warnings.showwarning
        _installed["handle"] = logging.Logger.handle
        warnings.showwarning = _showwarning
        logging.Logger.handle = _handle  # the one place every logger's record goes through


def uninstall() -> None:
    """Put Python's own behaviour back (tests)."""
    with _lock:
        if not _installed:
            return
        if warnings.showwarning is _showwarning:
            warnings.showwarning = _installed["showwarning"]
        if logging.Logger.handle is _handle:
            logging.Logger.handle = _installed["handle"]
        _installed.clear()


def seen() -> list[str]:
    """Every distinct warning diverted so far, oldest first."""
    with _lock:
        return list(_seen)
