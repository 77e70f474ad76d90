"""Benchmark of remote bots and the ChatZoo server. Prints a JSON object as its last line.

(a) broadcast: 8 fake OpenAI streaming endpoints (a separate process; each waits 0.5 s before its first token, then
    streams at a steady rate, the slowest 40 tok/s), 8 RemoteChatBOTs streaming at once from threads. Wall time of
    the whole broadcast vs the slowest endpoint alone; goal: ratio <= 1.05.
(b) server overhead: tokens/s of SmolLM2-135M (greedy, 64 new tokens) through `python -m chatzoo_widget.server`
    + RemoteChatBOT vs the same model in process, in the same run, interleaved. Falls back to a tiny random model
    when SmolLM2 (or the registry) is not available, and says so.

    python benchmarks/bench_remote.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from common import in_worker  # noqa: E402  (benchmarks/common.py)

from chatzoo_widget.bots.process import free_port  # noqa: E402

N_ENDPOINTS = 8
TTFT = 0.5
TOKENS = 64
RATES = [40 + 5 * i for i in range(N_ENDPOINTS)]  # tokens/s; endpoint 0 is the slowest


# ----- (a) fake endpoints, run in their own process -----------------------------------------------
def serve_fakes(n: int, ttft: float, tokens: int, rates: list[float]) -> None:
    """Run n fake OpenAI streaming endpoints; print their ports as JSON; stop when stdin closes."""

    def chunk(i: int, content: str | None, finish: str | None = None, usage: dict | None = None) -> bytes:
        body = {"id": f"fake-{i}", "object": "chat.completion.chunk", "created": 0, "model": f"fake-{i}",
                "choices": [] if usage else [{"index": 0, "delta": {} if content is None else {"content": content},
                                              "finish_reason": finish}]}
        if usage:
            body["usage"] = usage
        data = f"data: {json.dumps(body)}\n\n".encode()
        return f"{len(data):x}\r\n".encode() + data + b"\r\n"

    def handler(i: int):
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while True:  # keep-alive: one request after another on the connection
                    head = await reader.readuntil(b"\r\n\r\n")
                    lines = head.decode("latin-1").split("\r\n")
                    path = lines[0].split(" ")[1]
                    length = next((int(ln.split(":", 1)[1]) for ln in lines if ln.lower().startswith("content-length")),
                                  0)
                    body = json.loads(await reader.readexactly(length)) if length else {}
                    if not path.endswith("/chat/completions"):
                        msg = json.dumps({"error": {"message": "not found", "type": "invalid_request_error",
                                                    "param": None, "code": None}}).encode()
                        writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: "
                                     + str(len(msg)).encode() + b"\r\n\r\n" + msg)
                        await writer.drain()
                        continue
                    n_tokens = min(int(body.get("max_tokens") or tokens), tokens)
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                                 b"Transfer-Encoding: chunked\r\n\r\n")
                    await writer.drain()
                    loop = asyncio.get_running_loop()
                    start = loop.time() + ttft
                    for k in range(n_tokens):  # a steady schedule, not sleep-drift
                        await asyncio.sleep(max(0.0, start + k / rates[i] - loop.time()))
                        writer.write(chunk(i, f"t{k} "))
                        await writer.drain()
                    writer.write(chunk(i, None, "length"))
                    writer.write(chunk(i, None, usage={"prompt_tokens": 5, "completion_tokens": n_tokens,
                                                       "total_tokens": 5 + n_tokens}))
                    data = b"data: [DONE]\n\n"
                    writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n0\r\n\r\n")
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                writer.close()
        return handle

    async def run() -> None:
        servers = [await asyncio.start_server(handler(i), "127.0.0.1", 0) for i in range(n)]
        print(json.dumps([s.sockets[0].getsockname()[1] for s in servers]), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the parent closes stdin

    asyncio.run(run())


def bench_broadcast(repeats: int) -> dict:
    from chatzoo_widget.bots.remote import RemoteChatBOT

    proc = subprocess.Popen([sys.executable, __file__, "--fake-servers", str(N_ENDPOINTS)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        ports = json.loads(proc.stdout.readline())
        bots = [RemoteChatBOT(f"http://127.0.0.1:{p}", model=f"fake-{i}", name=f"fake-{i}", timeout=10)
                for i, p in enumerate(ports)]
        query = [{"role": "HUMAN", "content": "Say something."}]

        def one(bot) -> float:
            start = time.perf_counter()
            text = bot.chat(query, max_new_tokens=TOKENS)
            assert text.count("t") == TOKENS and bot.last_stats.new_tokens == TOKENS, (text, bot.last_stats)
            return time.perf_counter() - start

        for bot in bots:  # warm up: settings spec lookup (404 -> OpenAI settings) and connections
            bot.chat(query, max_new_tokens=1)

        alone = [one(bots[0]) for _ in range(repeats)]  # endpoint 0 is the slowest

        def broadcast() -> tuple[float, list[float]]:
            barrier = threading.Barrier(len(bots) + 1)
            ends: list[float] = [0.0] * len(bots)

            def worker(i: int) -> None:
                barrier.wait()
                one(bots[i])
                ends[i] = time.perf_counter()

            threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(bots))]
            for t in threads:
                t.start()
            barrier.wait()
            start = time.perf_counter()
            for t in threads:
                t.join()
            return max(ends) - start, [e - start for e in ends]

        runs = [broadcast() for _ in range(repeats)]
        walls = [w for w, _ in runs]
        slowest_alone = statistics.median(alone)
        wall = statistics.median(walls)
        ideal = TTFT + (TOKENS - 1) / RATES[0]
        return {
            "endpoints": N_ENDPOINTS, "ttft_s": TTFT, "tokens": TOKENS, "rates_tok_s": RATES, "repeats": repeats,
            "ideal_slowest_s": round(ideal, 3),
            "slowest_alone_s": round(slowest_alone, 3), "broadcast_wall_s": round(wall, 3),
            "broadcast_walls_s": [round(w, 3) for w in walls],
            "per_endpoint_end_s": [round(x, 3) for x in runs[len(runs) // 2][1]],
            "ratio": round(wall / slowest_alone, 4), "goal_ratio": 1.05, "meets_goal": wall / slowest_alone <= 1.05,
        }
    finally:
        proc.stdin.close()
        proc.wait(10)


# ----- (b) server overhead --------------------------------------------------------------------------
def pick_model() -> tuple[str, dict, str]:
    """(model spec for load_bot / the CLI, load options, label)."""
    try:
        from chatzoo_widget import registry  # noqa: F401
        from chatzoo_widget.offline import smollm2_gguf, plain_copy_dir

        if smollm2_gguf() is not None or plain_copy_dir().is_dir():
            return "smollm2-135m", {}, "SmolLM2-135M-Instruct (fp32)"
    except ImportError:
        pass
    from chatzoo_widget.testing.tiny_models import build_chat

    folder = build_chat(Path(tempfile.mkdtemp(prefix="chatzoo-bench-")) / "tiny-chat")
    return str(folder), {}, "tiny random qwen2 (SmolLM2 or the registry unavailable)"


def load_in_process(model: str):
    try:
        from chatzoo_widget.registry import load_bot

        return load_bot(model)
    except ImportError:
        from chatzoo_widget.families.chat import ChatTemplateBOT

        return ChatTemplateBOT(model, dtype="float32")


def bench_server_overhead(repeats: int) -> dict:
    from chatzoo_widget.bots.remote import RemoteChatBOT

    model, _, label = pick_model()
    query = [{"role": "HUMAN", "content": "Write a long story about a lighthouse keeper and a storm."}]
    settings = {"do_sample": False, "max_new_tokens": TOKENS}
    bot = in_worker(lambda: load_in_process(model))  # all torch work in worker threads

    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    try:
        import chatzoo_widget.registry  # noqa: F401
        has_registry = True
    except ImportError:
        has_registry = False
    proc = None
    live = None
    if has_registry:  # the real thing: the CLI in its own process
        proc = subprocess.Popen([sys.executable, "-m", "chatzoo_widget.server", "--pretrained_path", model,
                                 "--port", str(port), "--name", "bench", "--log-level", "warning"],
                                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    else:  # no registry: serve the same bot object from a uvicorn thread
        import uvicorn

        from chatzoo_widget.server import create_app

        live = uvicorn.Server(uvicorn.Config(create_app(bot, model_name="bench"), host="127.0.0.1", port=port,
                                             log_level="warning"))
        threading.Thread(target=live.run, daemon=True).start()
    try:
        remote = RemoteChatBOT(f"http://127.0.0.1:{port}", model="bench", timeout=120)
        deadline = time.monotonic() + 300
        import httpx

        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"server exited: {proc.stderr.read()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start in 300 s")
            time.sleep(0.5)

        def local_run():
            s = bot.stream(query, **settings)
            text = s.consume()
            return text, s.stats

        def remote_run():
            s = remote.stream(query, **settings)
            text = s.consume()
            return text, s.stats

        in_worker(local_run), remote_run()  # warm-up both
        local, far = [], []
        for _ in range(repeats):  # interleaved, so drift hits both alike
            local.append(in_worker(local_run))
            far.append(remote_run())
        same_text = all(t == local[0][0] for t, _ in local + far)
        med = lambda xs: statistics.median(xs)  # noqa: E731
        l_tps = med([s.tokens_per_second for _, s in local])
        r_tps = med([s.tokens_per_second for _, s in far])
        l_total = med([s.total_time for _, s in local])
        r_total = med([s.total_time for _, s in far])
        return {
            "model": label, "served_by": "CLI subprocess" if proc else "uvicorn thread (no registry)",
            "new_tokens": local[0][1].new_tokens, "remote_new_tokens": far[0][1].new_tokens, "repeats": repeats,
            "same_greedy_text": same_text,
            "in_process_tok_s": round(l_tps, 2), "server_remote_tok_s": round(r_tps, 2),
            "tok_s_ratio": round(r_tps / l_tps, 4),
            "in_process_ttft_s": round(med([s.time_to_first_token for _, s in local]), 4),
            "server_remote_ttft_s": round(med([s.time_to_first_token for _, s in far]), 4),
            "in_process_total_s": round(l_total, 3), "server_remote_total_s": round(r_total, 3),
            "total_time_overhead": round(r_total / l_total - 1, 4),
        }
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(20)
        if live is not None:
            live.should_exit = True


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--fake-servers", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--quick", action="store_true", help="fewer repeats")
    p.add_argument("--only", choices=["broadcast", "server"], default=None)
    args = p.parse_args()
    if args.fake_servers:
        serve_fakes(args.fake_servers, TTFT, TOKENS, RATES)
        return
    repeats = 2 if args.quick else 3
    result = {"benchmark": "bench_remote", "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                                        "loadavg_start": [round(x, 2) for x in os.getloadavg()]}}
    if args.only in (None, "broadcast"):
        result["broadcast"] = bench_broadcast(repeats)
        print("broadcast:", json.dumps(result["broadcast"]), flush=True)
    if args.only in (None, "server"):
        result["server_overhead"] = bench_server_overhead(repeats)
        print("server overhead:", json.dumps(result["server_overhead"]), flush=True)
    result["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    if max(result["machine"]["loadavg_start"][0], result["machine"]["loadavg_end"][0]) > (os.cpu_count() or 1):
        result["machine"]["note"] = "other processes loaded the CPUs during this run: absolute tok/s are low"
    print(json.dumps(result))


if __name__ == "__main__":
    main()
