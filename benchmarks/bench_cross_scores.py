"""Cross-model scoring: 4 replies of 200 tokens scored under 3 local models, against generating those replies.

Columns (float32, eager): SmolLM2-135M twice (sampled, seeds 0 and 1: one model, one scorer), Gemma 3 270M (a base
model: its "\nUser:" stop text off) and a tiny random chat model; each writes 200 tokens (eos off), all at once, as
`w.send(wait=True)` does. Then `w.cross_scores()` scores
the 4 replies under the 3 models (SmolLM2, Gemma, tiny): one teacher-forced forward pass per model over the 4
replies, the models at the same time on their own scheduler threads. Reported: the time to generate, the time to
score (median of the rounds) and their ratio, the forward passes each model ran while scoring (counted by a hook)
and the tokens each scored. The last line is a JSON object.

    python benchmarks/bench_cross_scores.py [--tokens 200] [--rounds 3]
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_detok import without_eos  # noqa: E402  (benchmarks/bench_detok.py)
from common import in_worker  # noqa: E402  (benchmarks/common.py)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
PROMPT = "Write a long story about a dragon who learns to paint."


def measure(tokens: int, rounds: int) -> dict:
    from chatzoo_widget import ChatZooWidget
    from chatzoo_widget.registry import load_bot
    from chatzoo_widget.testing import tiny_models

    folder = tiny_models.build_chat(Path(tempfile.mkdtemp()) / "chat")
    options = {"dtype": "float32", "compile": False}  # as the other benchmarks' figures: fp32, eager
    bots = {"smollm2": load_bot("smollm2-135m", name="smollm2", **options),
            "gemma3": load_bot("gemma3-270m", name="gemma3", **options),
            "tiny": load_bot(str(folder), type="chat", name="tiny", **options)}
    for bot in bots.values():
        without_eos(bot)
        # without_eos leaves the tokenizer's eos as the fallback (Gemma's <eos> ended a reply at 15 tokens): an id
        # past the vocabulary, which is never picked, takes its place
        bot.model.generation_config.eos_token_id = [bot.model.config.get_text_config().vocab_size + 7]
    bots["gemma3"].stop_texts = ()  # Gemma 3 270M is a base model: its replies end at "\nUser:"; not here
    sampled = {"do_sample": True, "temperature": 0.8, "max_new_tokens": tokens}
    w = ChatZooWidget([
        {"name": "smollm2", "model": bots["smollm2"], "settings": {**sampled, "seed": 0}},
        {"name": "smollm2-b", "model": bots["smollm2"], "settings": {**sampled, "seed": 1}},
        {"name": "gemma3", "model": bots["gemma3"], "settings": {**sampled, "seed": 0}},
        {"name": "tiny", "model": bots["tiny"], "settings": {**sampled, "seed": 0}},
    ])
    start = time.perf_counter()
    w.send(PROMPT, wait=True)
    generate_s = time.perf_counter() - start
    lengths = {c: s[-1]["new_tokens"] for c, s in w.stats.items()}
    if any(n != tokens for n in lengths.values()):
        raise RuntimeError(f"replies of {lengths} tokens, not {tokens}: eos was not off")

    passes = {name: 0 for name in bots}
    hooks = [bot.model.register_forward_hook(lambda *_, name=name: passes.__setitem__(name, passes[name] + 1))
             for name, bot in bots.items()]
    times, matrix = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        matrix = w.cross_scores()
        times.append(time.perf_counter() - start)
    for hook in hooks:
        hook.remove()
    score_s = statistics.median(times)
    w.close()
    return {
        "replies": len(lengths), "reply_tokens": tokens, "scorers": list(matrix.index),
        "generate_s": round(generate_s, 2), "score_s": round(score_s, 2), "score_runs_s": [round(t, 2) for t in times],
        "score_vs_generate": round(score_s / generate_s, 3),
        "forward_passes_per_scoring": {k: v / rounds for k, v in passes.items()},
        "tokens_scored": {k: {r: int(n) for r, n in row.items()} for k, row in matrix.attrs["tokens"].iterrows()},
        "mean_logprob": {k: {r: round(float(v), 3) for r, v in row.items()} for k, row in matrix.iterrows()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    result = in_worker(measure, args.tokens, args.rounds)
    print(json.dumps({"benchmark": "cross_scores", **result}))


if __name__ == "__main__":
    main()
