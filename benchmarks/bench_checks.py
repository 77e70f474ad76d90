"""run_batch's overhead with checks: 1,000 rows x 4 scripted columns, 3 checks per reply, against the same
`bot.stream` calls made directly from a thread pool of the same size (goal: overhead <= 1.10x).

Both sides send the same prompts to the same ScriptedBOTs (`--delay` seconds per word stands in for a model's
time per token; 0 measures pure bookkeeping) with the same number of requests in flight; run_batch also builds
its rows, records and DataFrame and runs the checks (icontains, regex, python). Rounds alternate the two sides so
drift in the machine's load hits both alike; the figure is the ratio of the medians. The process's CPU time of each
side is reported too (`cpu_overhead`): on a shared machine whose load swings, it is the steadier measure of the
work run_batch adds (the wall-time ratio is the goal's).

`--tiny` answers with the tiny random chat model instead (chatzoo_widget.testing, Qwen2 layout, built in a temp
folder; every column shares its weights, `max_new_tokens` 16), where a reply's cost is the model's, as in real use.

    python benchmarks/bench_checks.py [--rows 1000] [--columns 4] [--delay 0.001] [--rounds 3] [--tiny]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from chatzoo_widget.compare import run_batch  # noqa: E402
from chatzoo_widget.compare.judge import MAX_IN_FLIGHT  # noqa: E402
from chatzoo_widget.manager import ChatManager  # noqa: E402
from chatzoo_widget.testing import ScriptedBOT, wait_until  # noqa: E402

CHECKS = [{"type": "icontains", "value": "{{answer}}"}, {"type": "regex", "value": r"\bto\b"},
          {"type": "python", "value": "len(output) < 200"}]


def columns(n: int, delay: float) -> list[ScriptedBOT]:
    return [ScriptedBOT(f"col{i}", delay=delay) for i in range(n)]


def tiny_bot():
    import tempfile

    from chatzoo_widget.registry import load_bot
    from chatzoo_widget.testing.tiny_models import build_chat
    return load_bot(str(build_chat(tempfile.mkdtemp(prefix="bench-checks-"))), type="chat")


SETTINGS: dict = {}


CPU: dict[str, list[float]] = {"direct": [], "run_batch": []}


def direct(bots: list, prompts: list[str]) -> float:
    """The baseline: every (prompt, column) `bot.stream` call from a pool as large as run_batch's."""
    cpu = time.process_time()
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=MAX_IN_FLIGHT) as pool:
        jobs = [pool.submit(lambda b, p: b.stream([{"role": "HUMAN", "content": p}], **SETTINGS).consume(), b, p)
                for p in prompts for b in bots]
        for job in jobs:
            job.result()
    elapsed = time.perf_counter() - start
    CPU["direct"].append(time.process_time() - cpu)
    return elapsed


def batch(manager: ChatManager, rows: list[dict]) -> float:
    cpu = time.process_time()
    start = time.perf_counter()
    df = run_batch(manager, rows, template="{question}", checks=CHECKS)
    elapsed = time.perf_counter() - start
    CPU["run_batch"].append(time.process_time() - cpu)
    assert len(df) == len(rows) * len(manager.columns) and set(df["status"]) == {"done"}, df["error"].iloc[0]
    return elapsed


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--columns", type=int, default=4)
    parser.add_argument("--delay", type=float, default=0.001, help="seconds per word of each scripted reply")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tiny", action="store_true", help="the tiny random chat model instead of ScriptedBOT")
    args = parser.parse_args()

    manager = ChatManager()
    if args.tiny:
        bot = tiny_bot()
        SETTINGS.update(max_new_tokens=16)
        bots = [bot] * args.columns
        for i in range(args.columns):
            manager.add({"name": f"col{i}", "model": bot, "settings": dict(SETTINGS)})
    else:
        bots = columns(args.columns, args.delay)
        for bot in bots:
            manager.add(bot)
    assert wait_until(lambda: all(c.status == "ready" for c in manager.columns.values()), 30)
    rows = [{"id": i, "question": f"question number {i}", "answer": f"number {i}"} for i in range(args.rows)]
    prompts = [r["question"] for r in rows]
    direct(bots, prompts[:50])  # warm both paths
    batch(manager, rows[:50])
    times: dict[str, list[float]] = {"direct": [], "run_batch": []}
    for side in CPU.values():
        side.clear()  # the warm-up's
    for _ in range(args.rounds):
        times["direct"].append(direct(bots, prompts))
        times["run_batch"].append(batch(manager, rows))
    medians = {k: statistics.median(v) for k, v in times.items()}
    figures = {"rows": args.rows, "columns": args.columns, "checks_per_reply": len(CHECKS),
               "bot": "tiny" if args.tiny else f"scripted {args.delay * 1000:g} ms/word",
               "direct_s": round(medians["direct"], 3), "run_batch_s": round(medians["run_batch"], 3),
               "overhead": round(medians["run_batch"] / medians["direct"], 3),
               "overhead_each_round": [round(b / d, 3) for d, b in zip(times["direct"], times["run_batch"])],
               "cpu_overhead": round(statistics.median(CPU["run_batch"]) / statistics.median(CPU["direct"]), 3),
               "load_average": round(os.getloadavg()[0], 1)}
    print(f"{args.rows} rows x {args.columns} columns, {len(CHECKS)} checks each, {figures['bot']}: "
          f"direct {medians['direct']:.2f} s, run_batch {medians['run_batch']:.2f} s, "
          f"overhead {figures['overhead']:.3f}x (goal <= 1.10); CPU time {figures['cpu_overhead']:.3f}x; "
          f"load average {figures['load_average']}")
    print(json.dumps(figures))
    manager.close() if hasattr(manager, "close") else None
    return figures


if __name__ == "__main__":
    main()
