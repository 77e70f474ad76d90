"""Reading a long prompt in chunks, on SmolLM2-135M, against reading it in one forward pass (same process, rounds
alternate so drift hits both alike):

- ttft: time to first token of a long prompt read `--chunk` tokens at a time vs whole (goal: chunks cost nothing,
  ratio <= 1.05);
- stall: while that prompt is read, the longest wait of a column of the same model that is already decoding for its
  next token; whole, it waits for the whole read; in chunks, about one chunk.

    python benchmarks/bench_prefill.py [--words 1200] [--rounds 2] [--chunk 512]

The last line is a JSON object.
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

WHOLE = 10**9  # a chunk larger than any prompt: one forward pass
TEXT = ("The old lighthouse keeper wrote down every ship that passed, the weather, the colour of the sea and what "
        "the gulls were doing, because nobody had told him to stop. ")


def long_query(words: int) -> list[dict[str, str]]:
    base = TEXT.split()
    text = " ".join(base[i % len(base)] for i in range(words))
    return [{"role": "HUMAN", "content": text + "\n\nSummarise the log above in one sentence."}]


def ttft(bot, query, chunk: int) -> tuple[float, int]:
    bot.scheduler.prefill_chunk = chunk
    stream = bot.stream(query, do_sample=False, max_new_tokens=1)
    stream.consume()
    return stream.stats.time_to_first_token, stream.stats.prompt_tokens


def stall(bot, query, chunk: int) -> float:
    """The longest gap between two tokens of a decoding row while `query` is read."""
    from chatzoo_widget.engine.request import EngineRequest

    bot.scheduler.prefill_chunk = chunk
    ids = bot.get_input(bot.build_prompt([{"role": "HUMAN", "content": "Count to a thousand."}], {}))["input_ids"]
    gen = bot.prepare_gen_kwargs(dict(do_sample=False, max_new_tokens=100_000, eos_token_id=10**9))
    decoding = bot.scheduler.submit(EngineRequest(prepare=lambda: ids, gen_kwargs=gen))
    decoding.next_ids()
    arrivals: list[float] = []

    def read_tokens():
        ended = False
        while not ended:
            got, ended = decoding.next_ids()
            if got:
                arrivals.append(time.perf_counter())

    reader = threading.Thread(target=read_tokens)
    reader.start()
    time.sleep(0.3)
    start = time.perf_counter()
    bot.stream(query, do_sample=False, max_new_tokens=1).consume()
    end = time.perf_counter()
    decoding.stop_event.set()
    reader.join()
    during = [start] + [t for t in arrivals if start <= t <= end] + [end]
    return max(b - a for a, b in zip(during, during[1:]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=1200)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=512)
    args = parser.parse_args()

    from chatzoo_widget.registry import load_bot

    bot = in_worker(load_bot, "smollm2-135m")
    query = long_query(args.words)
    in_worker(ttft, bot, long_query(200), args.chunk)  # warm-up
    runs: dict[str, list[float]] = {"chunked": [], "whole": []}
    stalls: dict[str, list[float]] = {"chunked": [], "whole": []}
    tokens = 0
    for r in range(args.rounds):
        for kind in (["chunked", "whole"] if r % 2 == 0 else ["whole", "chunked"]):
            chunk = args.chunk if kind == "chunked" else WHOLE
            secs, tokens = in_worker(ttft, bot, query, chunk)
            runs[kind].append(secs)
            stalls[kind].append(in_worker(stall, bot, query, chunk))
            print(f"{kind:8s} {tokens} prompt tokens: first token {secs:6.2f} s; a decoding column waited at most "
                  f"{stalls[kind][-1]:6.2f} s", flush=True)
    chunked, whole = statistics.median(runs["chunked"]), statistics.median(runs["whole"])
    stall_chunked, stall_whole = statistics.median(stalls["chunked"]), statistics.median(stalls["whole"])
    print(json.dumps({"prompt_tokens": tokens, "chunk": args.chunk, "ttft_chunked_s": round(chunked, 2),
                      "ttft_whole_s": round(whole, 2), "ttft_ratio": round(chunked / whole, 3),
                      "stall_chunked_s": round(stall_chunked, 2), "stall_whole_s": round(stall_whole, 2),
                      "rounds": args.rounds, "model": bot.name}))
    bot.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
