"""Long replies: streaming keeps up with bare `generate`, and the decoding work per token stays flat.

Three measurements, each against its baseline in the same process:

1. decoder: microseconds of decoding work per token when the reply is 100 and 2,000 tokens long, for the
   incremental decoder (`bot.reply_decoder`) and for the old way (decode every id, process, hold back, at each
   step). Pure CPU work on the tiny chat model's tokenizer and rules; flat means the 2,000/100 ratio is about 1.
2. tiny: tokens/s of `bot.stream` against bare `model.generate` on the tiny random chat model, for 100- and
   2,000-token replies (eos off, so every reply runs to full length).
3. smollm2: the same for a 2,000-token reply on SmolLM2-135M (goal: stream >= 0.97x bare).

Both sides of 2 and 3 run their torch work off the main thread (see common.py); rounds alternate so drift in the
machine's load hits both alike. The last line printed is a JSON object of every figure (`long_reply_figures()`
returns it; bench_wire.py imports that function).

    python benchmarks/bench_detok.py [--tokens 2000] [--rounds 2] [--model smollm2-135m] [--skip-model]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import in_worker  # noqa: E402  (benchmarks/common.py)
os.environ.setdefault("HF_HUB_OFFLINE", "1")

QUERY = [{"role": "HUMAN", "content": "Write a very long story about a dragon who learns to paint."}]
TINY_QUERY = [{"role": "HUMAN", "content": "Hi"}]  # the tiny model's context is 2,048 tokens: room for the reply
STORY = ("Once upon a time, a small dragon named Ember lived above the valley of Lumen. 她每天都在画画，"
         "painting the sky in red, gold and blue 🎨🐉. Every morning she said: \"Today I will paint the sea!\" ")


# ----- 1. the decoding work per token ------------------------------------------------------------------
def _old_step(bot: Any, ids: list[int]) -> str:
    """What each step cost before: decode every id, process the whole text, hold back its end."""
    return bot.visible_text(bot.process_response(bot.tokenizer.decode(ids, skip_special_tokens=True)))


def decoder_cost(bot: Any, lengths: tuple[int, int] = (100, 2000), sample: int = 50, repeats: int = 3) -> dict:
    """Median microseconds per token of the steps just before each length, new decoder and old way."""
    ids: list[int] = []
    while len(ids) < lengths[-1]:
        ids += bot.tokenizer(STORY, add_special_tokens=False)["input_ids"]
    ids = ids[:lengths[-1]]
    new: dict[int, list[float]] = {n: [] for n in lengths}
    old: dict[int, list[float]] = {n: [] for n in lengths}
    for _ in range(repeats):
        decoder = bot.reply_decoder()
        times = []
        for i in ids:
            t = time.perf_counter()
            decoder.push([i])
            times.append(time.perf_counter() - t)
        for n in lengths:
            new[n].append(statistics.mean(times[n - sample:n]) * 1e6)
            t = time.perf_counter()
            for k in range(n - sample, n):
                _old_step(bot, ids[:k + 1])
            old[n].append((time.perf_counter() - t) / sample * 1e6)
    short, long = lengths
    out = {f"decoder_us_per_token_{n}": round(statistics.median(new[n]), 2) for n in lengths}
    out.update({f"old_us_per_token_{n}": round(statistics.median(old[n]), 2) for n in lengths})
    out["decoder_ratio"] = round(out[f"decoder_us_per_token_{long}"] / out[f"decoder_us_per_token_{short}"], 2)
    out["old_ratio"] = round(out[f"old_us_per_token_{long}"] / out[f"old_us_per_token_{short}"], 2)
    return out


# ----- 2 and 3. stream against bare generate ----------------------------------------------------------
def stream_vs_bare(bot: Any, tokens: int, rounds: int, query: list[dict[str, str]] = QUERY) -> dict:
    """Median tokens/s of bare `generate` and of `bot.stream`, every reply `tokens` long (eos off)."""
    settings = dict(max_new_tokens=tokens, do_sample=False)
    gen_kwargs, prompt_kwargs, _ = bot.merge_settings(settings)
    gen_kwargs = bot.prepare_gen_kwargs(gen_kwargs)
    inputs = in_worker(lambda: bot.get_input(bot.build_prompt(query, prompt_kwargs)))

    def bare(n: int) -> tuple[int, float]:
        start = time.perf_counter()
        out = bot.model.generate(**inputs, **dict(gen_kwargs, max_new_tokens=n))
        return out.shape[-1] - inputs["input_ids"].shape[-1], time.perf_counter() - start

    def streamed(n: int) -> tuple[int, float]:
        start = time.perf_counter()
        stream = bot.stream(query, **dict(settings, max_new_tokens=n))
        stream.consume()  # this thread only decodes; forward passes run in the model's scheduler thread
        return stream.stats.new_tokens, time.perf_counter() - start

    in_worker(bare, 8)  # warm-up, both paths
    streamed(8)
    runs: dict[str, list[float]] = {"bare": [], "stream": []}
    for r in range(rounds):
        for kind in (("bare", "stream") if r % 2 == 0 else ("stream", "bare")):
            n, secs = in_worker(bare, tokens) if kind == "bare" else streamed(tokens)
            if n != tokens:
                raise RuntimeError(f"{kind} wrote {n} tokens, not {tokens}: eos was not off")
            runs[kind].append(n / secs)
            print(f"  {bot.name} {kind:6s} {n:5d} tokens {secs:7.2f}s {n / secs:7.1f} tok/s", flush=True)
    bare_rate, stream_rate = statistics.median(runs["bare"]), statistics.median(runs["stream"])
    return {"bare_tok_s": round(bare_rate, 1), "stream_tok_s": round(stream_rate, 1),
            "ratio": round(stream_rate / bare_rate, 3)}


def without_eos(bot: Any) -> None:
    """Every reply runs to max_new_tokens: no eos id ends it (pad stays set for generate)."""
    config = bot.model.generation_config
    if config.pad_token_id is None:
        eos = config.eos_token_id
        config.pad_token_id = eos[0] if isinstance(eos, (list, tuple)) else eos
    config.eos_token_id = None
    config.suppress_tokens = None
    config.begin_suppress_tokens = None


def long_reply_figures(model: str | None = "smollm2-135m", tokens: int = 2000, rounds: int = 2,
                       tiny_rounds: int = 2) -> dict:
    """Every figure of this benchmark as one dict (model=None skips the real model)."""
    from chatzoo_widget.registry import load_bot
    from chatzoo_widget.testing.tiny_models import build_chat

    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tiny = in_worker(lambda: load_bot(str(build_chat(Path(tmp) / "chat")), type="chat", name="tiny"))
        figures.update(decoder_cost(tiny, (100, tokens)))
        print(f"decoder: {figures}", flush=True)
        without_eos(tiny)
        for n in (100, tokens):
            tiny_figs = stream_vs_bare(tiny, n, tiny_rounds, TINY_QUERY)
            figures.update({f"tiny_{k}_{n}": v for k, v in tiny_figs.items()})
        tiny.close()
    if model:
        bot = in_worker(load_bot, model)
        without_eos(bot)
        figures.update({f"{model}_{k}_{tokens}": v for k, v in stream_vs_bare(bot, tokens, rounds).items()})
        bot.close()
    figures.update(tokens=tokens, threads=os.cpu_count())
    return figures


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--skip-model", action="store_true", help="only the tiny model and the decoder")
    ap.add_argument("--tokens", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=2, help="rounds of each kind on the real model (alternating)")
    ap.add_argument("--tiny-rounds", type=int, default=2)
    args = ap.parse_args()
    figures = long_reply_figures(None if args.skip_model else args.model, args.tokens, args.rounds, args.tiny_rounds)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
