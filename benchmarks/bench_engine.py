"""The engine: continuous batching against bare `model.generate`, all in one process on SmolLM2-135M.

Measures, as ratios against a baseline run in the same process (rounds alternate so drift hits both alike):
- sweep8: 8 columns of one checkpoint (a temperature sweep through the manager) answering one prompt, aggregate
  new tokens/s vs one bare single-row sampling `generate` (goal >= 4x);
- single: 1 column vs bare `generate`, greedy (goal >= 0.97x);
- two_models: 2 different checkpoints (two copies, two schedulers) at once vs one after the other (goal >= 1.47x);
- server16: 16 concurrent clients of `chatzoo-server` vs the same 16 requests one at a time, aggregate tokens/s
  (goal >= 3x), and 50 concurrent clients with default flags: how many got their own reply (goal 50);
- rss8: peak resident memory while 8 columns of one checkpoint decode vs while 1 column does (goal <= 1.15x).
With a GPU it also prints absolute tokens/s for 1, 8 and 32 concurrent requests. The last line is a JSON object.

    python benchmarks/bench_engine.py [--tokens 48] [--rounds 2] [--skip-server]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import in_worker  # noqa: E402  (benchmarks/common.py)

os.environ.setdefault("HF_HUB_OFFLINE", "1")

PROMPT = "Write a long story about a dragon who learns to paint."
QUERY = [{"role": "HUMAN", "content": PROMPT}]
TEMPERATURES = [0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6]


def bare_rate(bot, tokens: int, sample: bool) -> float:
    """New tokens/s of one bare single-row `model.generate` with the bot's own generate kwargs."""
    import torch

    settings = dict(max_new_tokens=tokens, do_sample=sample, temperature=0.8)
    gen = bot.prepare_gen_kwargs(bot.merge_settings(settings)[0])
    inputs = bot.get_input(bot.build_prompt(QUERY, bot.merge_settings(settings)[1]))
    with torch.inference_mode():
        start = time.perf_counter()
        out = bot.model.generate(**inputs, **gen)
        elapsed = time.perf_counter() - start
    return (out.shape[-1] - inputs["input_ids"].shape[-1]) / elapsed


def manager_rate(manager, prompt: str = PROMPT) -> float:
    """Aggregate new tokens/s of one prompt sent to every column of `manager`."""
    start = time.perf_counter()
    manager.send(prompt)
    manager.wait()
    elapsed = time.perf_counter() - start
    new = sum(c.history[-1]["stats"]["new_tokens"] for c in manager.columns.values())
    return new / elapsed


def make_manager(specs):
    from chatzoo_widget.manager import ChatManager

    manager = ChatManager()
    for spec in specs:
        manager.add(spec)
    for column in manager.columns.values():
        column.load.result()
    return manager


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def peak_rss_while(manager) -> float:
    """The largest resident memory seen while `manager`'s columns answer one prompt."""
    manager.send(PROMPT)
    peak = rss_mb()
    while not manager.wait(0.05):
        peak = max(peak, rss_mb())
    return max(peak, rss_mb())


def bench_sweep_and_single(args) -> dict:
    from chatzoo_widget.compare import sweep

    sweep8 = make_manager(sweep(args.model, "temperature", TEMPERATURES,
                                max_new_tokens=args.tokens, do_sample=True))
    one = make_manager([{"model": args.model, "name": "one",
                         "settings": {"max_new_tokens": args.tokens, "do_sample": False}}])
    bot = next(iter(one.columns.values())).bot
    in_worker(bare_rate, bot, 8, True)  # warm up
    manager_rate(one)
    bare_s, bare_g, batch8, single = [], [], [], []
    for _ in range(args.rounds):
        bare_s.append(in_worker(bare_rate, bot, args.tokens, True))
        batch8.append(manager_rate(sweep8))
        bare_g.append(in_worker(bare_rate, bot, args.tokens, False))
        single.append(manager_rate(one))
    rss_one, rss8 = peak_rss_while(one), peak_rss_while(sweep8)
    result = {
        "bare_sample_tok_s": round(statistics.median(bare_s), 2),
        "sweep8_tok_s": round(statistics.median(batch8), 2),
        "sweep8_ratio": round(statistics.median(batch8) / statistics.median(bare_s), 2),
        "bare_greedy_tok_s": round(statistics.median(bare_g), 2),
        "single_tok_s": round(statistics.median(single), 2),
        "single_ratio": round(statistics.median(single) / statistics.median(bare_g), 3),
        "rss_one_mb": round(rss_one), "rss8_mb": round(rss8),
        "rss8_ratio": round(rss8 / rss_one, 3),
        "peak_batch": bot.scheduler.peak_batch,
        # the columns share one model: its compiled buckets (rows x cache length: seconds) and step's status
        "decode_step": bot.describe()["decode_step"],
        "compiled_buckets": bot.scheduler.compiled.compile_seconds() if bot.scheduler.compiled else {},
    }
    sweep8.close()
    one.close()
    return result


def bench_two_models(args) -> dict:
    greedy = {"max_new_tokens": args.tokens, "do_sample": False}
    # Two load keys, so two copies and two schedulers: a second checkpoint as far as the engine can tell.
    a = make_manager([{"model": args.model, "name": "a", "settings": greedy}])
    b = make_manager([{"model": args.model, "name": "b", "settings": greedy, "load_options": {"dtype": "float32"}}])
    both = make_manager([{"model": args.model, "name": "a", "settings": greedy},
                         {"model": args.model, "name": "b", "settings": greedy,
                          "load_options": {"dtype": "float32"}}])
    manager_rate(both)
    seq, par = [], []
    for _ in range(args.rounds):
        start = time.perf_counter()
        a.send(PROMPT), a.wait(), b.send(PROMPT), b.wait()
        seq_time = time.perf_counter() - start
        start = time.perf_counter()
        both.send(PROMPT)
        both.wait()
        par_time = time.perf_counter() - start
        seq.append(seq_time)
        par.append(par_time)
    for m in (a, b, both):
        m.close()
    return {"two_models_speedup": round(statistics.median(seq) / statistics.median(par), 2)}


def bench_server(args) -> dict:
    import asyncio

    import httpx

    from chatzoo_widget.bots.process import free_port

    port = free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    import subprocess

    proc = subprocess.Popen([sys.executable, "-m", "chatzoo_widget.server", "--pretrained_path", args.model,
                             "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        model_id = httpx.get(f"{base}/v1/models", timeout=10).json()["data"][0]["id"]
        body = {"model": model_id, "max_tokens": args.tokens, "temperature": 0.8,
                "messages": [{"role": "user", "content": PROMPT}]}

        async def one(client, i: int) -> tuple[int, int]:
            r = await client.post(f"{base}/v1/chat/completions",
                                  json={**body, "messages": [{"role": "user", "content": f"{PROMPT} ({i})"}]})
            if r.status_code != 200:
                return r.status_code, 0
            return 200, r.json()["usage"]["completion_tokens"]

        async def run(n: int, concurrent: bool) -> tuple[float, list]:
            async with httpx.AsyncClient(timeout=600) as client:
                start = time.perf_counter()
                if concurrent:
                    results = await asyncio.gather(*(one(client, i) for i in range(n)))
                else:
                    results = [await one(client, i) for i in range(n)]
                return time.perf_counter() - start, results

        asyncio.run(run(2, True))  # warm up
        t_seq, r_seq = asyncio.run(run(16, False))
        t_par, r_par = asyncio.run(run(16, True))
        t50, r50 = asyncio.run(run(50, True))
        seq_rate = sum(n for _, n in r_seq) / t_seq
        par_rate = sum(n for _, n in r_par) / t_par
        return {"server_seq16_tok_s": round(seq_rate, 2), "server_par16_tok_s": round(par_rate, 2),
                "server16_ratio": round(par_rate / seq_rate, 2),
                "server50_answered": sum(1 for code, n in r50 if code == 200 and n > 0),
                "server50_seconds": round(t50, 1)}
    finally:
        proc.terminate()
        proc.wait(30)


def bench_gpu(args) -> dict:
    import torch

    if not torch.cuda.is_available():
        return {}
    from chatzoo_widget.registry import load_bot

    bot = in_worker(load_bot, args.model)
    out = {}
    for n in (1, 8, 32):
        results = []

        def call():
            stream = bot.stream(QUERY, max_new_tokens=args.tokens, do_sample=True)
            stream.consume()
            results.append(stream.stats.new_tokens)

        start = time.perf_counter()
        threads = [threading.Thread(target=call) for _ in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        out[f"gpu_{n}_tok_s"] = round(sum(results) / (time.perf_counter() - start), 1)
    bot.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--tokens", type=int, default=48)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--skip-server", action="store_true")
    args = ap.parse_args()
    result: dict = {}
    for part in (bench_sweep_and_single, bench_two_models) + (() if args.skip_server else (bench_server,)) + (
            bench_gpu,):
        figures = part(args)
        print(part.__name__, figures, flush=True)
        result.update(figures)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
