"""Token probabilities: what they cost the batched engine, 8 columns of SmolLM2-135M decoding together.

Measures, as ratios against baselines run in the same process (rounds alternate so drift hits all alike):
- on/off: 8 rows with `logprobs=True, top_logprobs=5` vs the same 8 rows without, aggregate new tokens/s
  (goal >= 0.95x);
- off/legacy: 8 rows that do not ask vs the engine as it was before logprobs (its `_pick` without the scoring
  branch, kept below), aggregate new tokens/s: rows that did not ask cost nothing (goal >= 0.99x);
- the scoring's own cost per step (pick with and without scores on the same logits), and the on/off ratio it
  predicts for the measured step time: a steadier figure where other work shares the CPU.
Every variant decodes the same tokens (fixed seeds; scoring never changes a pick), so the work is the same.
The last line is a JSON object.

    python benchmarks/bench_logprobs.py [--tokens 64] [--rounds 3] [--model smollm2-135m]
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

QUERY = [{"role": "HUMAN", "content": "Write a long story about a dragon who learns to paint."}]
TEMPERATURES = [0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6]


def legacy_pick(self, requests, logits, offset):
    """Scheduler._pick before token probabilities (the baseline of 'rows that did not ask cost nothing')."""
    from chatzoo_widget.engine.scheduler import pick_tokens

    picks = pick_tokens([r.state for r in requests], logits, [r.prompt_ids + r.generated for r in requests])
    leaving: set[int] = set()
    for i, (request, token) in enumerate(zip(requests, picks)):
        if isinstance(token, BaseException):
            self._end(request, "error", token)
            leaving.add(offset + i)
            continue
        request.generated.append(token)
        request.channel.put([token])
        if token in request.state.eos:
            self._end(request, "stop")
            leaving.add(offset + i)
        elif len(request.generated) >= request.state.max_new_tokens:
            self._end(request, "length")
            leaving.add(offset + i)
    if leaving:
        self._leave(leaving)


def batch_rate(bot, tokens: int, logprobs: bool) -> tuple[float, int]:
    """8 concurrent replies (a temperature sweep, fixed seeds): aggregate new tokens/s and the tokens scored."""
    extra = {"logprobs": True, "top_logprobs": 5} if logprobs else {}
    streams = [bot.stream(QUERY, do_sample=True, temperature=t, seed=i, max_new_tokens=tokens, **extra)
               for i, t in enumerate(TEMPERATURES)]
    start = threading.Barrier(len(streams))

    def run(stream):
        start.wait()
        stream.consume()

    threads = [threading.Thread(target=run, args=(s,)) for s in streams]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    assert all(s.stats.batched for s in streams)
    scored = sum(len(s.stats.tokens or ()) for s in streams)
    return sum(s.stats.new_tokens for s in streams) / elapsed, scored


def pick_overhead(bot, repeats: int = 30) -> dict:
    """The scoring's own cost per decode step, less noisy than whole runs on a shared CPU: `pick_tokens` vs
    `pick_tokens_scored` (top 5 for all 8 rows) on the same [8, vocab] logits, seconds per step (medians)."""
    import torch

    from chatzoo_widget.engine.sampling import pick_tokens, pick_tokens_scored, row_decoding

    model = bot.model
    rows = [row_decoding(model, {"do_sample": True, "temperature": t, "top_k": 50, "top_p": 0.9}, 10, i,
                         model.device) for i, t in enumerate(TEMPERATURES)]
    vocab = model.config.vocab_size
    logits = torch.randn(len(rows), vocab, generator=torch.Generator().manual_seed(0)) * 5
    seen = [list(range(10)) for _ in rows]

    def timed(fn) -> float:
        times = []
        for _ in range(repeats):
            began = time.perf_counter()
            fn()
            times.append(time.perf_counter() - began)
        return statistics.median(times)

    with torch.inference_mode():
        plain = timed(lambda: pick_tokens(rows, logits, seen))
        scored = timed(lambda: pick_tokens_scored(rows, logits, seen, [5] * len(rows)))
    return {"pick_ms": round(plain * 1e3, 3), "pick_scored_ms": round(scored * 1e3, 3),
            "scoring_ms_per_step": round((scored - plain) * 1e3, 3)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--model", default="smollm2-135m")
    args = ap.parse_args()

    from chatzoo_widget.engine.scheduler import Scheduler
    from chatzoo_widget.registry import load_bot

    bot = in_worker(load_bot, args.model)
    current_pick = Scheduler._pick
    in_worker(batch_rate, bot, 8, True)  # warm up
    rates: dict[str, list[float]] = {"legacy": [], "off": [], "on": []}
    scored = 0
    for _ in range(args.rounds):
        for variant in ("legacy", "off", "on"):
            Scheduler._pick = legacy_pick if variant == "legacy" else current_pick
            rate, n = in_worker(batch_rate, bot, args.tokens, variant == "on")
            rates[variant].append(rate)
            scored += n
            print(f"  {variant}: {rate:.1f} tok/s", file=sys.stderr, flush=True)
    Scheduler._pick = current_pick
    med = {k: statistics.median(v) for k, v in rates.items()}
    overhead = in_worker(pick_overhead, bot)
    step = len(TEMPERATURES) / med["off"]  # seconds per decode step of the 8 rows, from the measured rate
    overhead["predicted_on_vs_off"] = round(step / (step + overhead["scoring_ms_per_step"] / 1e3), 4)
    result = {
        "model": args.model, "rows": len(TEMPERATURES), "tokens": args.tokens, "rounds": args.rounds,
        "tokens_per_s": {k: round(v, 1) for k, v in med.items()},
        "on_vs_off": round(med["on"] / med["off"], 3), "off_vs_legacy": round(med["off"] / med["legacy"], 3),
        "scored_tokens": scored, **overhead,
    }
    print(f"8 rows, {args.tokens} tokens each, median of {args.rounds} rounds (aggregate new tokens/s):")
    print(f"  logprobs + top 5: {med['on']:.1f}   off: {med['off']:.1f}   engine before logprobs: {med['legacy']:.1f}")
    print(f"  on/off {result['on_vs_off']:.3f}x (goal >= 0.95)   off/legacy {result['off_vs_legacy']:.3f}x "
          "(goal >= 0.99)")
    print(f"  scoring 8 rows (top 5) costs {overhead['scoring_ms_per_step']:.3f} ms a step "
          f"(pick {overhead['pick_ms']:.3f} -> {overhead['pick_scored_ms']:.3f} ms): "
          f"{overhead['predicted_on_vs_off']:.4f}x of a {step * 1e3:.0f} ms step")
    print(json.dumps(result))
    bot.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
