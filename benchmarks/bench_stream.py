"""Streaming overhead: tokens/s of bare `model.generate` against `bot.stream` on SmolLM2-135M, greedy.

Both run in worker threads (torch never runs on the main thread, which would slow worker-thread generation); the
rounds alternate (bare, stream, stream, bare, ...) so drift in machine load hits both alike. The last line printed
is a JSON object: {"bare_tok_s": ..., "stream_tok_s": ..., "ratio": ...}; the goal is ratio >= 0.97.

    python benchmarks/bench_stream.py [--tokens 64] [--rounds 6] [--model smollm2-135m]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import in_worker  # noqa: E402  (benchmarks/common.py)
os.environ.setdefault("HF_HUB_OFFLINE", "1")

QUERY = [{"role": "HUMAN", "content": "Write a long story about a dragon who learns to paint."}]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=6, help="rounds of each kind (alternating)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()

    from chatzoo_widget.registry import load_bot

    t0 = time.perf_counter()
    bot = in_worker(load_bot, args.model)
    print(f"loaded {bot.name} in {time.perf_counter() - t0:.1f}s; {args.threads} threads", flush=True)
    settings = dict(max_new_tokens=args.tokens, do_sample=False)
    gen_kwargs = bot.prepare_gen_kwargs(bot.merge_settings(settings)[0])  # exactly what the bot passes
    prompt_kwargs = bot.merge_settings(settings)[1]

    def prepare():
        import torch

        torch.set_num_threads(args.threads)
        return bot.get_input(bot.build_prompt(QUERY, prompt_kwargs))

    inputs = in_worker(prepare)

    def bare(max_new_tokens: int) -> tuple[int, float]:
        import torch

        torch.set_num_threads(args.threads)
        kw = dict(gen_kwargs, max_new_tokens=max_new_tokens)
        start = time.perf_counter()
        out = bot.model.generate(**inputs, **kw)
        elapsed = time.perf_counter() - start
        return out.shape[-1] - inputs["input_ids"].shape[-1], elapsed

    def streamed(max_new_tokens: int) -> tuple[int, float]:
        start = time.perf_counter()
        stream = bot.stream(QUERY, **dict(settings, max_new_tokens=max_new_tokens))
        stream.consume()  # this thread only decodes ids; the forward passes run in the model's scheduler thread
        return stream.stats.new_tokens, time.perf_counter() - start

    in_worker(bare, 8)  # warm-up, both paths
    streamed(8)

    runs: dict[str, list[tuple[int, float]]] = {"bare": [], "stream": []}
    order = []
    for r in range(args.rounds):
        order += ["bare", "stream"] if r % 2 == 0 else ["stream", "bare"]
    for kind in order:
        n, secs = in_worker(bare, args.tokens) if kind == "bare" else streamed(args.tokens)
        runs[kind].append((n, secs))
        print(f"{kind:6s} {n:4d} tokens {secs:6.2f}s {n / secs:6.1f} tok/s", flush=True)

    def rate(kind: str) -> float:
        return statistics.median(n / s for n, s in runs[kind])

    bare_rate, stream_rate = rate("bare"), rate("stream")
    print(json.dumps({"bare_tok_s": round(bare_rate, 2), "stream_tok_s": round(stream_rate, 2),
                      "ratio": round(stream_rate / bare_rate, 3), "tokens": args.tokens, "rounds": args.rounds,
                      "threads": args.threads, "model": bot.name}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
