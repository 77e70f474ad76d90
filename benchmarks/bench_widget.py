"""Speed of the widget's kernel side, as ratios against baselines run in the same process.

    python benchmarks/bench_widget.py [--rounds 3] [--tokens 64]

- overhead: tokens per second through the manager vs bare `model.generate` (SmolLM2, greedy), goal >= 0.97
- concurrency: two SmolLM2 columns answering at once vs one after the other, goal >= 1.6x; in threads (the
  default: one shared copy of the weights) and with each column in its own process (process=True)
- messages: delta messages per second per column with a tiny fast model, goal <= 30
- memory: resident memory with 4 columns of one checkpoint vs one column, goal <= 1.1x
- import: `import chatzoo_widget` time (no torch imported), goal <= 0.2 s

Every generation runs in worker threads, as in the widget (torch work on the main thread slows worker threads).
The last line printed is a JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from chatzoo_widget.manager import ChatManager  # noqa: E402
from common import in_worker  # noqa: E402  (benchmarks/common.py)

PROMPT = [{"role": "HUMAN", "content": "Tell me a long story about a brave little cat who sails the sea."}]
MODEL = "smollm2-135m"


def load(name=MODEL):
    from chatzoo_widget.registry import load_bot

    return in_worker(load_bot, name)


def bare_generate(bot, tokens: int) -> float:
    import torch

    def run():
        torch.set_num_threads(os.cpu_count() or 1)
        prompt = bot.get_prompt(PROMPT)
        inputs = bot.get_input(prompt)
        start = time.perf_counter()
        out = bot.model.generate(**inputs, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False)
        elapsed = time.perf_counter() - start
        return (out.shape[-1] - inputs["input_ids"].shape[-1]) / elapsed

    return in_worker(run)


def manager_turn(manager: ChatManager, prompt: str = PROMPT[0]["content"]) -> tuple[float, list]:
    start = time.perf_counter()
    manager.send(prompt)
    manager.wait()
    elapsed = time.perf_counter() - start
    stats = [c.history[-1]["stats"] for c in manager.columns.values()]
    for c in manager.columns.values():
        c.history.clear()
    return elapsed, stats


def ready(manager: ChatManager) -> None:
    while any(c.status == "loading" for c in manager.columns.values()):
        time.sleep(0.05)
    errors = [c.error for c in manager.columns.values() if c.status == "error"]
    if errors:
        raise RuntimeError(errors)


def bench_overhead(bot, rounds: int, tokens: int) -> dict:
    settings = {"max_new_tokens": tokens, "do_sample": False}
    manager = ChatManager()
    manager.add(bot, settings=settings)
    ready(manager)
    manager_turn(manager)  # warm-up
    bare_generate(bot, tokens)
    bare, managed = [], []
    for _ in range(rounds):  # alternate, so drift hits both alike
        bare.append(bare_generate(bot, tokens))
        elapsed, (stats,) = manager_turn(manager)
        managed.append(stats["new_tokens"] / elapsed)
    manager.close()
    b, m = statistics.median(bare), statistics.median(managed)
    return {"bare_tok_s": round(b, 2), "manager_tok_s": round(m, 2), "overhead_ratio": round(m / b, 3)}


def bench_concurrency(bot, rounds: int, tokens: int) -> dict:
    settings = {"max_new_tokens": tokens, "do_sample": False}
    both = ChatManager()
    both.add({"name": "a", "model": bot, "settings": settings})
    both.add({"name": "b", "model": bot, "settings": settings})
    ready(both)
    single = ChatManager()
    single.add({"name": "solo", "model": bot, "settings": settings})
    ready(single)
    manager_turn(both)
    seq, conc = [], []
    for _ in range(rounds):
        seq.append(manager_turn(single)[0] + manager_turn(single)[0])
        conc.append(manager_turn(both)[0])
    both.close()
    single.close()
    s, c = statistics.median(seq), statistics.median(conc)
    return {"sequential_s": round(s, 3), "concurrent_s": round(c, 3), "concurrency_speedup": round(s / c, 3)}


def bench_concurrency_processes(rounds: int, tokens: int) -> dict:
    """The same comparison with each column's model in a process of its own (load option process=True)."""
    from chatzoo_widget.registry import load_bot

    settings = {"max_new_tokens": tokens, "do_sample": False}
    bots = [load_bot(MODEL, process=True, name=f"p{i}") for i in range(2)]
    both = ChatManager()
    singles = [ChatManager(), ChatManager()]
    for bot, single in zip(bots, singles):
        both.add({"name": bot.name, "model": bot, "settings": settings})
        single.add({"name": bot.name, "model": bot, "settings": settings})
    for m in (both, *singles):
        ready(m)
    manager_turn(both)
    seq, conc = [], []
    for _ in range(rounds):
        seq.append(manager_turn(singles[0])[0] + manager_turn(singles[1])[0])
        conc.append(manager_turn(both)[0])
    for m in (both, *singles):
        m.close()
    for bot in bots:
        bot.close()
    s, c = statistics.median(seq), statistics.median(conc)
    return {"process_sequential_s": round(s, 3), "process_concurrent_s": round(c, 3),
            "process_concurrency_speedup": round(s / c, 3)}


def bench_messages() -> dict:
    """Delta messages per second per column while a tiny model writes as fast as it can."""
    from chatzoo_widget.registry import load_bot
    from chatzoo_widget.testing import tiny_models

    folder = tempfile.mkdtemp(prefix="chatzoo-bench-")
    path = in_worker(tiny_models.build_chat, folder)  # torch on the main thread would slow every later part
    bot = in_worker(load_bot, path, type="chat")
    events: list = []
    lock = threading.Lock()

    def record(msg):
        with lock:  # a frame carries the deltas of every column: each counts for its column
            now = time.perf_counter()
            events.extend((now, m) for m in (msg["deltas"] if msg["kind"] == "frame" else [msg]))

    manager = ChatManager(on_event=record)
    manager.add({"name": "t1", "model": bot, "settings": {"max_new_tokens": 2000, "do_sample": False}})
    manager.add({"name": "t2", "model": bot, "settings": {"max_new_tokens": 2000, "do_sample": True}})
    ready(manager)
    manager_turn(manager, "go on and on")
    rates, tok_rates = [], []
    for cid in list(manager.columns):
        mine = [(t, m) for t, m in events if m["column"] == cid]
        start = next(t for t, m in mine if m["kind"] == "turn_start")
        end = next(t for t, m in mine if m["kind"] == "turn_end")
        deltas = sum(1 for _, m in mine if m["kind"] == "delta")
        tokens = next(m for _, m in mine if m["kind"] == "turn_end")["stats"]["new_tokens"]
        rates.append(deltas / (end - start))
        tok_rates.append(tokens / (end - start))
    manager.close()
    return {"messages_per_s_per_column": round(max(rates), 2), "tiny_tok_s": round(min(tok_rates), 1)}


MEMORY_CHILD = """
import os, sys, time, psutil
os.environ.setdefault("HF_HUB_OFFLINE", "1")
from chatzoo_widget.manager import ChatManager
m = ChatManager()
for i in range(int(sys.argv[1])):
    m.add({"name": f"c{i}", "model": "smollm2-135m", "settings": {"temperature": 0.1 * (i + 1)}})
while any(c.status == "loading" for c in m.columns.values()):
    time.sleep(0.05)
assert all(c.status == "ready" for c in m.columns.values()), [c.error for c in m.columns.values()]
m.send("Hi!"); m.wait()
print(psutil.Process().memory_info().rss)
"""


def bench_memory() -> dict:
    rss = {}
    for n in (1, 4):
        out = subprocess.run([sys.executable, "-c", MEMORY_CHILD, str(n)], capture_output=True, text=True, check=True)
        rss[n] = int(out.stdout.strip().splitlines()[-1])
    return {"rss_1_column_mb": round(rss[1] / 2**20, 1), "rss_4_columns_mb": round(rss[4] / 2**20, 1),
            "memory_ratio_4_vs_1": round(rss[4] / rss[1], 3)}


def bench_import(rounds: int = 5) -> dict:
    code = ("import sys, time; t = time.perf_counter(); import chatzoo_widget; "
            "print(time.perf_counter() - t, 'torch' in sys.modules, 'transformers' in sys.modules)")
    times, heavy = [], False
    for _ in range(rounds):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
        times.append(float(out[0]))
        heavy = heavy or out[1] == "True" or out[2] == "True"
    return {"import_s": round(statistics.median(times), 4), "import_pulls_torch": heavy}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--only", choices=["overhead", "concurrency", "processes", "messages", "memory", "import"],
                        nargs="*")
    args = parser.parse_args()
    parts = args.only or ["import", "messages", "overhead", "concurrency", "processes", "memory"]
    result: dict = {}
    bot = None
    for part in parts:
        print(f"# {part}...", file=sys.stderr, flush=True)
        if part in ("overhead", "concurrency") and bot is None:
            bot = load()
        if part == "overhead":
            result.update(bench_overhead(bot, args.rounds, args.tokens))
        elif part == "concurrency":
            result.update(bench_concurrency(bot, args.rounds, args.tokens))
        elif part == "processes":
            result.update(bench_concurrency_processes(args.rounds, args.tokens))
        elif part == "messages":
            result.update(bench_messages())
        elif part == "memory":
            result.update(bench_memory())
        elif part == "import":
            result.update(bench_import())
        print(f"# {json.dumps(result)}", file=sys.stderr, flush=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
