"""The engine on a GPU: batched rows against rows alone, seeded rows run again, and tokens/s against bare generate.

    python benchmarks/gpu_check.py           # CUDA: Qwen2.5-0.5B and Llama-3.2-1B shapes, bf16, random weights
    python benchmarks/gpu_check.py --tiny    # the same code on tiny shapes, float32 (the default without CUDA)

For each shape it builds a model with random weights from the published config.json values (nothing is
downloaded), drives `chatzoo_widget.engine.scheduler.Scheduler` directly with token-id prompts, and checks:

- greedy: rows decoded together (prompts of different lengths, so left padding is exercised) give the tokens each
  row gives alone. In bf16 a row's logits in a batch differ from its logits alone by rounding, and random weights
  make near ties common, so a row that parts ways is accepted only where the two tokens' logits (the row alone, at
  the token where they part) are within rounding of each other, as vLLM's logprob-closeness checks do; a batching
  fault (positions, masks, padding) picks tokens far from the best one and fails.
- seeded: sampled rows with seeds give the same tokens when the same batch runs again; alone against in a batch is
  reported (and required in float32, where rounding cannot tell the two apart).
- cpu paths: on CUDA the engine's CPU-only tuning (few-rows linear path, core split, malloc_trim) is off.
- single stream (CUDA): one request's decode rate on the eager step against the compiled step over a static
  cache (engine/compiled.py, CUDA graphs by `mode="reduce-overhead"`), after its compile, against the card's roof
  (device-to-device copy bandwidth / weight bytes), with the compile time.
- throughput: new tokens/s of 1, 8 and 32 concurrent requests through the engine against bare `model.generate` of
  the same rows as one batch (equal prompt lengths, no end-of-sequence token, so both make every token).

Needs torch and transformers only, besides this repository. Human-readable lines first; the last line is one JSON
object; the exit status is 1 when a check failed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as `python benchmarks/gpu_check.py` from a plain checkout
sys.path.insert(0, str(ROOT / "benchmarks"))

import torch  # noqa: E402

from common import in_worker  # noqa: E402  (benchmarks/common.py)

#: Published config.json values (Qwen/Qwen2.5-0.5B, meta-llama/Llama-3.2-1B): the shapes that decide speed and
#: numerics. No end-of-sequence token, so every run makes exactly the tokens asked for.
SHAPES: dict[str, dict[str, Any]] = {
    "qwen2.5-0.5b": dict(model_type="qwen2", hidden_size=896, num_hidden_layers=24, num_attention_heads=14,
                         num_key_value_heads=2, intermediate_size=4864, vocab_size=151936, rope_theta=1000000.0,
                         tie_word_embeddings=True, max_position_embeddings=32768, rms_norm_eps=1e-6,
                         hidden_act="silu"),
    "llama-3.2-1b": dict(model_type="llama", hidden_size=2048, num_hidden_layers=16, num_attention_heads=32,
                         num_key_value_heads=8, head_dim=64, intermediate_size=8192, vocab_size=128256,
                         rope_theta=500000.0, tie_word_embeddings=True, max_position_embeddings=131072,
                         rms_norm_eps=1e-5, hidden_act="silu",
                         rope_scaling={"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                                       "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}),
}
#: The tiny shapes keep each architecture (attention with grouped kv heads, rope, tied embeddings) at toy size.
TINY = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, intermediate_size=128,
            vocab_size=256)
#: How far apart two tokens' logits may be and still count as a tie, in units of the dtype's epsilon times the
#: largest logit: rounding of bf16 hidden states through a deep stack reaches a few epsilons.
TIE_EPSILONS = 8


def model_config(name: str, tiny: bool) -> Any:
    from transformers import LlamaConfig, Qwen2Config

    values = {**SHAPES[name], "bos_token_id": None, "eos_token_id": None, "pad_token_id": None}
    if tiny:
        values.update(TINY)
        if "head_dim" in values:
            values["head_dim"] = TINY["hidden_size"] // TINY["num_attention_heads"]
    kind = {"qwen2": Qwen2Config, "llama": LlamaConfig}[values.pop("model_type")]
    return kind(**values)


def build_model(name: str, tiny: bool, device: str, dtype: torch.dtype) -> Any:
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    with torch.device(device):  # random init on the device itself: a 1B model is quick to make there
        model = AutoModelForCausalLM.from_config(model_config(name, tiny))
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = 0
    return model.to(dtype).eval()


def random_prompts(count: int, lengths: list[int], vocab: int, seed: int) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(0, vocab, (lengths[i % len(lengths)],), generator=g).tolist() for i in range(count)]


# ----- the engine, driven directly ----------------------------------------------------------------
def run_engine(scheduler: Any, prompts: list[list[int]], settings: list[dict[str, Any]],
               seeds: list[int | None] | None = None) -> list[list[int]]:
    """Submit every prompt at once (one burst: the scheduler prefills them together) and return each reply's ids."""
    from chatzoo_widget.engine.request import EngineRequest

    seeds = seeds or [None] * len(prompts)
    requests = [EngineRequest(prepare=lambda ids=ids: torch.tensor([ids]), gen_kwargs=dict(kw), seed=seed)
                for ids, kw, seed in zip(prompts, settings, seeds)]
    for request in requests:
        scheduler.submit(request)
    replies = []
    for request in requests:
        finished = request.wait_finished()
        if finished.reason not in ("stop", "length"):
            raise RuntimeError(f"a request ended {finished.reason!r}: {finished.error!r}")
        replies.append(list(request.generated))
    return replies


def last_logits(model: Any, ids: list[int]) -> torch.Tensor:
    with torch.inference_mode():
        out = model(input_ids=torch.tensor([ids], device=model.device))
    return out.logits[0, -1].float()


def check_greedy(model: Any, scheduler: Any, prompts: list[list[int]], tokens: int, dtype: torch.dtype) -> dict:
    greedy = [{"do_sample": False, "max_new_tokens": tokens}]
    alone = [run_engine(scheduler, [p], greedy)[0] for p in prompts]
    scheduler.peak_batch = 0
    together = run_engine(scheduler, prompts, greedy * len(prompts))
    result: dict[str, Any] = {"rows": len(prompts), "decoded_together": scheduler.peak_batch == len(prompts),
                              "equal": 0, "near_ties": [], "failed": []}
    for row, (a, b) in enumerate(zip(alone, together)):
        if a == b:
            result["equal"] += 1
            continue
        step = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)
        logits = last_logits(model, prompts[row] + a[:step])
        gap = float(logits[a[step]] - logits[b[step]])
        tolerance = TIE_EPSILONS * torch.finfo(dtype).eps * float(logits.abs().max())
        where = {"row": row, "step": step, "gap": round(gap, 5), "tolerance": round(tolerance, 5)}
        result["near_ties" if abs(gap) <= tolerance else "failed"].append(where)
    result["ok"] = result["decoded_together"] and not result["failed"]
    return result


def check_seeded(scheduler: Any, prompts: list[list[int]], tokens: int, exact: bool) -> dict:
    # Half the rows truncate (top-k, top-p), half sample the whole vocabulary: both of the sampler's paths.
    settings = [{"do_sample": True, "temperature": 0.9, "max_new_tokens": tokens,
                 **({"top_k": 50, "top_p": 0.9} if i % 2 else {"top_k": 0, "top_p": 1.0})}
                for i in range(len(prompts))]
    seeds = [1000 + i for i in range(len(prompts))]
    first = run_engine(scheduler, prompts, settings, seeds)
    again = run_engine(scheduler, prompts, settings, seeds)
    alone = [run_engine(scheduler, [p], [s], [seed])[0] for p, s, seed in zip(prompts, settings, seeds)]
    result = {"rows": len(prompts), "repeat_equal": sum(a == b for a, b in zip(first, again)),
              "alone_equal": sum(a == b for a, b in zip(first, alone)),
              "distinct_replies": len({tuple(r) for r in first})}
    result["ok"] = result["repeat_equal"] == len(prompts) and result["distinct_replies"] > 1 and (
        not exact or result["alone_equal"] == len(prompts))
    return result


def check_cpu_paths(model: Any, scheduler: Any) -> dict:
    patched = sum("forward" in vars(m) for m in model.modules())  # the few-rows path replaces Linear.forward
    on_cpu = model.device.type == "cpu"
    result = {"on_cpu": on_cpu, "cpu_tuning": scheduler.cpu_tuning, "few_rows_layers": patched}
    result["ok"] = scheduler.cpu_tuning == on_cpu and (on_cpu or patched == 0)
    return result


# ----- throughput --------------------------------------------------------------------------------
def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def engine_rate(scheduler: Any, prompts: list[list[int]], tokens: int, device: str) -> float:
    sync(device)
    start = time.perf_counter()
    replies = run_engine(scheduler, prompts, [{"do_sample": False, "max_new_tokens": tokens}] * len(prompts))
    sync(device)
    return sum(map(len, replies)) / (time.perf_counter() - start)


def generate_rate(model: Any, prompts: list[list[int]], tokens: int, device: str) -> float:
    ids = torch.tensor(prompts, device=model.device)
    sync(device)
    start = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=tokens,
                             do_sample=False, pad_token_id=0)
    sync(device)
    return (out.shape[0] * (out.shape[1] - ids.shape[1])) / (time.perf_counter() - start)


def throughput(model: Any, scheduler: Any, levels: list[int], prompt_length: int, tokens: int, rounds: int,
               device: str) -> dict:
    vocab = model.config.vocab_size
    engine_rate(scheduler, random_prompts(2, [prompt_length], vocab, 7), 4, device)  # warm up both paths
    generate_rate(model, random_prompts(2, [prompt_length], vocab, 7), 4, device)
    out = {}
    for n in levels:
        prompts = random_prompts(n, [prompt_length], vocab, 100 + n)
        engine, bare = [], []
        for _ in range(rounds):  # alternate, so drift hits both alike; keep each one's median
            engine.append(engine_rate(scheduler, prompts, tokens, device))
            bare.append(generate_rate(model, prompts, tokens, device))
        e, g = statistics.median(engine), statistics.median(bare)
        out[str(n)] = {"engine_tok_s": round(e, 1), "generate_tok_s": round(g, 1), "ratio": round(e / g, 2)}
    return out


def copy_bandwidth(device: str, mb: int = 1024) -> float:
    """Bytes per second read by a device-to-device copy of `mb` MB (best of 5; a copy reads and writes each byte)."""
    x = torch.empty(mb * 1024 * 1024, dtype=torch.uint8, device=device)
    y = torch.empty_like(x)
    best = float("inf")
    for _ in range(5):
        sync(device)
        start = time.perf_counter()
        y.copy_(x)
        sync(device)
        best = min(best, time.perf_counter() - start)
    return x.numel() / best


def single_stream(model: Any, prompt_length: int, tokens: int, rounds: int, device: str) -> dict:
    """One request's decode rate, eager against compiled (after the compile), and both against the roof."""
    from chatzoo_widget.engine.scheduler import Scheduler

    prompt = random_prompts(1, [prompt_length], model.config.vocab_size, 3)
    roof = copy_bandwidth(device) / sum(p.numel() * p.element_size() for p in model.parameters())
    out: dict[str, Any] = {"roof_tok_s": round(roof, 1)}
    for label, compiled_on in (("eager", False), ("compiled", True)):
        scheduler = Scheduler(model, name=label, compile=compiled_on)
        try:
            start = time.perf_counter()
            engine_rate(scheduler, prompt, 4, device)
            if scheduler.compiled is not None:
                scheduler.compiled.wait_ready()
                out["compile_s"] = round(time.perf_counter() - start, 1)
                out["decode_step"] = scheduler.compiled.status
            rate = max(engine_rate(scheduler, prompt, tokens, device) for _ in range(rounds))
            out[label] = {"tok_s": round(rate, 1), "pct_roof": round(100 * rate / roof, 1)}
        finally:
            scheduler.close()
    out["speedup"] = round(out["compiled"]["tok_s"] / out["eager"]["tok_s"], 2)
    return out


# ----- one shape, then all -----------------------------------------------------------------------
def check_shape(name: str, args: argparse.Namespace, device: str, dtype: torch.dtype) -> dict:
    from chatzoo_widget.engine.scheduler import Scheduler

    model = build_model(name, args.tiny, device, dtype)
    scheduler = Scheduler(model, name=name, max_batch=max([*args.concurrency, args.rows]), compile=False)
    result: dict[str, Any] = {"params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 1)}
    try:
        vocab = model.config.vocab_size
        lengths = [args.prompt_length // 4 + 3 * i for i in range(args.rows)]  # all different: left padding
        prompts = random_prompts(args.rows, lengths, vocab, 1)
        result["cpu_paths"] = check_cpu_paths(model, scheduler)
        result["greedy"] = check_greedy(model, scheduler, prompts, args.tokens, dtype)
        result["seeded"] = check_seeded(scheduler, prompts, args.tokens, exact=dtype == torch.float32)
        result["tok_s"] = throughput(model, scheduler, args.concurrency, args.prompt_length, args.tokens,
                                     args.rounds, device)
        if device.startswith("cuda"):
            result["single_stream"] = single_stream(model, args.prompt_length, max(args.tokens, 128), args.rounds,
                                                    device)
        result["ok"] = all(result[k]["ok"] for k in ("cpu_paths", "greedy", "seeded"))
    finally:
        scheduler.close()
        del model
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
    return result


def run(args: argparse.Namespace) -> dict:
    device = "cpu" if args.tiny else "cuda"
    dtype = torch.float32 if args.tiny else torch.bfloat16
    report: dict[str, Any] = {
        "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu", "dtype": str(dtype).split(".")[-1],
        "tiny": args.tiny, "torch": torch.__version__, "transformers": __import__("transformers").__version__,
        "tokens": args.tokens, "rows": args.rows, "models": {},
    }
    for name in args.models:
        start = time.perf_counter()
        try:
            figures = check_shape(name, args, device, dtype)
        except Exception as exc:  # noqa: BLE001 - reported; the other shape still runs
            traceback.print_exc()
            figures = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        figures["seconds"] = round(time.perf_counter() - start, 1)
        report["models"][name] = figures
        print(name, json.dumps(figures), flush=True)
    report["ok"] = all(m["ok"] for m in report["models"].values())
    return report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="tiny shapes in float32 on the CPU (default without CUDA)")
    ap.add_argument("--models", nargs="+", choices=sorted(SHAPES), default=list(SHAPES))
    ap.add_argument("--tokens", type=int, help="new tokens per request (default 64; 6 with --tiny)")
    ap.add_argument("--rows", type=int, default=8, help="rows of the greedy and seeded checks")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--prompt-length", type=int, default=64)
    ap.add_argument("--rounds", type=int, help="throughput rounds per level (default 3; 1 with --tiny)")
    args = ap.parse_args(argv)
    if not args.tiny and not torch.cuda.is_available():
        print("no CUDA device: running the tiny shapes on the CPU", flush=True)
        args.tiny = True
    args.tokens = args.tokens or (6 if args.tiny else 64)
    args.rounds = args.rounds or (1 if args.tiny else 3)
    for flag in ("tokens", "rows", "prompt_length", "rounds"):
        if getattr(args, flag) < 1:
            ap.error(f"--{flag.replace('_', '-')} must be at least 1, got {getattr(args, flag)}")
    if min(args.concurrency) < 1:
        ap.error(f"--concurrency levels must be at least 1, got {args.concurrency}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = in_worker(run, args)  # torch off the main thread, as the widget runs it
    print(json.dumps(report), flush=True)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
