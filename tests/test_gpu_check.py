"""Ready for a GPU: benchmarks/gpu_check.py runs its checks on tiny shapes on the CPU (so it never rots), and the
engine's CPU-only tuning (the few-rows linear path, the core split, malloc_trim) stays off for a model on a GPU."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch
from torch import nn

from chatzoo_widget.engine import scheduler as scheduler_module
from chatzoo_widget.engine.request import EngineRequest
from chatzoo_widget.engine.scheduler import Scheduler, _CoreShare
from chatzoo_widget.engine.small_rows import runs_on_cpu, use_few_rows_path
from chatzoo_widget.testing import wait_until

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"
#: What a bare GPU machine lacks: the script must run with torch and transformers alone.
NOT_ON_A_BARE_MACHINE = {"anywidget", "ipywidgets", "traitlets", "fastapi", "uvicorn", "starlette", "sse_starlette",
                         "httpx_sse", "pandas", "gguf", "pydantic", "bitsandbytes", "IPython", "ipykernel"}
RUN_AND_LIST_MODULES = """
import json, runpy, sys
sys.argv = [sys.argv[1], "--tiny", "--tokens", "4", "--rows", "4"]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
finally:
    print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


@pytest.fixture(scope="module")
def gpu_check():
    """The script as a module (its builders and argument parsing)."""
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_gpu_check_runs_on_tiny_shapes_with_torch_and_transformers_only(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", RUN_AND_LIST_MODULES, str(SCRIPT)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["ok"] and report["tiny"] and report["device"] == "cpu" and report["dtype"] == "float32"
    assert set(report["models"]) == {"qwen2.5-0.5b", "llama-3.2-1b"}
    for name, figures in report["models"].items():
        rows = report["rows"]
        assert figures["greedy"] == {"rows": rows, "decoded_together": True, "equal": rows, "near_ties": [],
                                     "failed": [], "ok": True}, name
        assert figures["seeded"]["repeat_equal"] == figures["seeded"]["alone_equal"] == rows, name
        assert figures["cpu_paths"]["cpu_tuning"] and figures["cpu_paths"]["few_rows_layers"] > 0, name
        assert set(figures["tok_s"]) == {"1", "8", "32"}
        assert all(v["engine_tok_s"] > 0 and v["generate_tok_s"] > 0 for v in figures["tok_s"].values())
    modules = json.loads(proc.stderr.strip().splitlines()[-1])
    assert not {m.split(".")[0] for m in modules} & NOT_ON_A_BARE_MACHINE
    ours = [m for m in modules if m.startswith("chatzoo_widget")]
    assert all(m in ("chatzoo_widget", "chatzoo_widget.engine") or m.startswith("chatzoo_widget.engine.")
               for m in ours), ours


def test_bad_arguments_are_named(gpu_check, capsys):
    for argv, message in ((["--rows", "0"], "--rows must be at least 1, got 0"),
                          (["--concurrency", "8", "0"], "--concurrency levels must be at least 1, got [8, 0]")):
        with pytest.raises(SystemExit):
            gpu_check.parse_args(["--tiny", *argv])
        assert message in capsys.readouterr().err


# ----- the CPU-only tuning on a GPU -------------------------------------------------------------------
class ReportsCuda(nn.Module):
    """A CPU module whose `.device` says cuda, as a transformers model placed on a GPU reports it."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 8)

    @property
    def device(self) -> torch.device:
        return torch.device("cuda", 0)

    def forward(self, input_ids=None, attention_mask=None, past_key_values=None, use_cache=None):
        raise AssertionError("not run in these tests")


def test_the_few_rows_path_is_not_installed_on_a_gpu_model():
    on_gpu = ReportsCuda()
    assert not runs_on_cpu(on_gpu)
    assert use_few_rows_path(on_gpu) == 0 and "forward" not in vars(on_gpu.proj)
    on_cpu = nn.Sequential(nn.Linear(8, 8))  # the same layer on a CPU model does get it
    assert runs_on_cpu(on_cpu) and use_few_rows_path(on_cpu) == 1


def test_a_scheduler_for_a_gpu_model_turns_the_cpu_tuning_off():
    model = ReportsCuda()
    scheduler = Scheduler(model, name="reports-cuda")
    try:
        assert scheduler.cpu_tuning is False
        assert "forward" not in vars(model.proj)
    finally:
        scheduler.close()


@pytest.fixture(scope="module")
def tiny_model(gpu_check):
    return gpu_check.build_model("qwen2.5-0.5b", tiny=True, device="cpu", dtype=torch.float32)


class RecordingCores(_CoreShare):
    """The core share, noting which scheduler thread called what."""

    def __init__(self):
        super().__init__()
        self.calls: list[tuple[str, str]] = []

    def _note(self, call: str) -> None:
        self.calls.append((call, threading.current_thread().name))

    def enter(self, key):
        self._note("enter")
        super().enter(key)

    def leave(self, key):
        self._note("leave")
        super().leave(key)

    def threads(self):
        self._note("threads")
        return super().threads()


@pytest.mark.parametrize("on_gpu", [True, False])
def test_decoding_on_a_gpu_model_neither_splits_cores_nor_trims_the_heap(tiny_model, monkeypatch, on_gpu):
    # The model computes on the CPU here; the scheduler is told it is on a GPU at the one place it asks.
    name = f"on-gpu-{on_gpu}"
    ours = f"chatzoo-engine-{name}"  # the scheduler's thread: other schedulers' calls do not count
    cores, trims, thread_counts = RecordingCores(), [], []
    monkeypatch.setattr(scheduler_module, "runs_on_cpu", lambda model: not on_gpu)
    monkeypatch.setattr(scheduler_module, "CORES", cores)
    monkeypatch.setattr(scheduler_module, "release_free_memory",
                        lambda: trims.append(threading.current_thread().name))
    monkeypatch.setattr(torch, "set_num_threads", lambda n: thread_counts.append(threading.current_thread().name))
    scheduler = Scheduler(tiny_model, name=name)
    try:
        request = scheduler.submit(EngineRequest(prepare=lambda: torch.tensor([[5, 6, 7, 8]]),
                                                 gen_kwargs={"do_sample": False, "max_new_tokens": 3}))
        assert request.wait_finished().reason == "length" and len(request.generated) == 3
        # back to idle after the request, the loop leaves the core share (a no-op when it never entered)
        assert wait_until(lambda: ("leave", ours) in cores.calls and scheduler.active == 0)
    finally:
        scheduler.close()
    calls = {call for call, thread in cores.calls if thread == ours}
    if on_gpu:
        assert calls == {"leave"} and ours not in trims and ours not in thread_counts
    else:  # the same run on a CPU model does both, so the test above is not vacuous
        assert {"enter", "threads"} <= calls
        assert wait_until(lambda: ours in trims)
