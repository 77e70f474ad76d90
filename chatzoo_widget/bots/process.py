"""A local model in a process of its own.

Columns in one kernel share its interpreter lock, so local models generating at once overlap only in part
(about 1.5x for two SmolLM2 columns on 2 cores). `load_bot(name, process=True)` (in the widget:
`{"model": ..., "load_options": {"process": True}}`) starts `chatzoo_widget.server` for the model on 127.0.0.1 in
a child process and talks to it as a `RemoteChatBOT`: the column runs truly in parallel, a crash stays in that
process, and removing the column frees its memory. Each such column holds its own copy of the weights.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from typing import Any

import httpx

from .remote import RemoteChatBOT

# Load options the server's command line can pass on.
_FLAGS = {"dtype": "--dtype", "quantization": "--quantization"}


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen, log: Any) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    log.close()


class ProcessChatBOT(RemoteChatBOT):
    """Serve `name_or_path` from a child process (see the module docstring) and chat with it over loopback.

    Args:
        name_or_path: anything `load_bot` loads locally (alias, folder, hub id).
        type, tokenizer_path, dtype, quantization, trust_remote_code: as for `load_bot`.
        threads: CPU threads of the child's generation (default: half the cores, at least one).
        startup_timeout: seconds to wait for the model to load.
    """

    family = "process"

    def __init__(self, name_or_path: str | os.PathLike, *, name: str | None = None, type: str | None = None,
                 tokenizer_path: str | os.PathLike | None = None, trust_remote_code: bool = False,
                 threads: int | None = None, startup_timeout: float = 600.0, timeout: float = 60.0,
                 **load_options: Any):
        unknown = set(load_options) - set(_FLAGS)
        if unknown:
            raise ValueError(f"load options {sorted(unknown)} cannot be passed to a model process; "
                             f"supported: {sorted(_FLAGS)}, type, tokenizer_path, trust_remote_code, threads")
        path = os.fspath(name_or_path)
        port, key = free_port(), secrets.token_urlsafe(24)
        cmd = [sys.executable, "-m", "chatzoo_widget.server", "--pretrained_path", path, "--host", "127.0.0.1",
               "--port", str(port), "--log-level", "warning",
               "--threads", str(threads or max(1, (os.cpu_count() or 1) // 2))]
        for option, value in (("--type", type), ("--tokenizer_path", tokenizer_path), ("--name", name)):
            if value is not None:
                cmd += [option, os.fspath(value)]
        for option, flag in _FLAGS.items():
            if load_options.get(option) is not None:
                cmd += [flag, str(load_options[option])]
        if trust_remote_code:
            cmd.append("--trust-remote-code")
        # The key travels in the environment, not on the command line other users can read.
        env = {**os.environ, "CHATZOO_API_KEY": key, "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
        log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        self._finalizer = weakref.finalize(self, _stop, self.process, log)  # also runs when the kernel exits
        self._wait_ready(f"http://127.0.0.1:{port}", key, path, log, startup_timeout)
        super().__init__(f"http://127.0.0.1:{port}/v1", api_key=key, timeout=timeout,
                         name=name or os.path.basename(path.rstrip("/")) or path)

    def _wait_ready(self, url: str, key: str, path: str, log: Any, startup_timeout: float) -> None:
        deadline = time.monotonic() + startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log.seek(0)
                tail = log.read().decode(errors="replace").strip().splitlines()[-6:]
                self._finalizer()
                raise RuntimeError(f"the model process for {path!r} exited while loading: " + " | ".join(tail))
            try:
                if httpx.get(f"{url}/health", headers={"Authorization": f"Bearer {key}"}, timeout=2).is_success:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self._finalizer()
        raise TimeoutError(f"the model process for {path!r} did not start within {startup_timeout:.0f} s")

    def close(self) -> None:
        """Stop the model process."""
        super().close()
        self._finalizer()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "pid": self.process.pid}
