"""What a widget sends to the browser, recorded at ipywidgets' comm boundary (bytes and messages), without a kernel.

    with CommRecorder() as wire:          # widgets created inside get recording comms
        w = ChatZooWidget([...])
        mark = wire.mark()
        w.send("hi", wait=True)
        wire.bytes_since(mark)            # every comm_open, comm_msg (state updates, custom messages), comm_close

Bytes are the JSON of each message's data as the kernel would serialise it, plus any binary buffers (ChatZoo sends
none: Colab drops them).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import comm


@dataclass(frozen=True)
class Sent:
    at: float  # time.monotonic()
    msg_type: str  # comm_open, comm_msg, comm_close
    comm_id: str
    data: Any
    size: int  # bytes
    buffers: int  # how many binary buffers


class CommRecorder:
    """Records every message of the comms created while it is installed (a context manager)."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self._lock = threading.Lock()
        self._saved: Any = None

    def __enter__(self) -> "CommRecorder":
        recorder = self

        class RecordingComm(comm.DummyComm):
            def publish_msg(self, msg_type: str, data: Any = None, metadata: Any = None, buffers: Any = None,
                            **keys: Any) -> None:
                recorder.record(msg_type, self.comm_id, data, buffers)

        self._saved = comm.create_comm
        comm.create_comm = lambda *a, **k: RecordingComm(*a, **k)
        return self

    def __exit__(self, *exc: Any) -> None:
        comm.create_comm = self._saved

    def record(self, msg_type: str, comm_id: str, data: Any, buffers: Any) -> None:
        size = len(json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str).encode())
        size += sum(len(memoryview(b).cast("B")) for b in buffers or [])
        with self._lock:
            self.sent.append(Sent(time.monotonic(), msg_type, comm_id, data, size, len(buffers or [])))

    def mark(self) -> int:
        with self._lock:
            return len(self.sent)

    def since(self, mark: int = 0) -> list[Sent]:
        with self._lock:
            return self.sent[mark:]

    def bytes_since(self, mark: int = 0) -> int:
        return sum(s.size for s in self.since(mark))

    def custom(self, mark: int = 0, kind: str | None = None) -> list[dict[str, Any]]:
        """The custom messages' contents since `mark` (of one `kind`, or all)."""
        out = []
        for s in self.since(mark):
            data = s.data if isinstance(s.data, dict) else {}
            content = data.get("content") if data.get("method") == "custom" else None
            if isinstance(content, dict) and (kind is None or content.get("kind") == kind):
                out.append(content)
        return out

    def updates(self, mark: int = 0) -> list[tuple[str, dict[str, Any]]]:
        """(comm id, state) of each state update since `mark`."""
        return [(s.comm_id, s.data["state"]) for s in self.since(mark)
                if isinstance(s.data, dict) and s.data.get("method") in ("update", "echo_update")]


def widget_state_size(widget: Any) -> int:
    """Bytes of the widget's whole synced state (its column models' too): what a saved notebook holds of it,
    without the bundled front end (`_esm`, `_css`)."""
    states = [{k: v for k, v in widget.get_state().items() if k not in ("_esm", "_css")}]
    states += [c.get_state() for c in widget.columns]
    return len(json.dumps(states, separators=(",", ":"), ensure_ascii=False).encode())
