"""The compiled decode step (engine/compiled.py): the same greedy tokens as eager, no recompiles within a bucket,
eager while it builds, a fallback that says why, and Stop / stop strings that still end a stream at once.

Compiling costs tens of seconds on two cores, so each architecture compiles once per module (one bucket; the
batched test adds one more on Qwen2), and every test waits for the graph that fixture built.
"""

from __future__ import annotations

import threading

import pytest
import torch
from torch._dynamo.utils import counters

from chatzoo_widget.engine.compiled import CompiledDecoder, batch_bucket, cache_bucket
from chatzoo_widget.engine.request import EngineRequest
from chatzoo_widget.engine.scheduler import Scheduler
from chatzoo_widget.registry import load_bot

ARCHS = ("chat", "firefly", "moss", "chatglm")  # Qwen2, Bloom (alibi), CodeGen (MOSS), GLM
NEAR_TIE = 1e-4
NEW = 16


@pytest.fixture(scope="module")
def compiled_bots(tiny_dirs):
    """family -> (a bot that compiles, its eager twin), the compiled step of one row built and ready."""
    out = {}
    for family in ARCHS:
        fast = load_bot(tiny_dirs[family], type=family, compile=True, dtype="float32")
        slow = load_bot(tiny_dirs[family], type=family, compile=False, dtype="float32")
        decode(fast, [prompt(fast, "warm up")], 2)
        assert fast.scheduler.compiled.wait_ready(600), f"{family}: compiling took over 10 minutes"
        out[family] = (fast, slow)
    yield out
    for fast, slow in out.values():
        fast.close()
        slow.close()


def prompt(bot, text: str) -> torch.Tensor:
    return bot.get_input(bot.build_prompt([{"role": "HUMAN", "content": text}], {}))["input_ids"]


def decode(bot, prompts: list[torch.Tensor], new: int = NEW) -> list[list[int]]:
    """Greedy ids of each prompt, all submitted together (one batch)."""
    gen = bot.prepare_gen_kwargs(bot.merge_settings(dict(do_sample=False, max_new_tokens=new))[0])
    gen.pop("eos_token_id", None)
    gen["eos_token_id"] = []  # run the full length: more steps compared
    requests = [bot.scheduler.submit(EngineRequest(prepare=lambda p=p: p, gen_kwargs=gen)) for p in prompts]
    for r in requests:
        r.wait_finished()
    return [r.generated for r in requests]


def near_tie(bot, ids: torch.Tensor, reply: list[int], within: float = NEAR_TIE) -> int:
    """The first step of `reply` at which eager's two best logits are within `within` (len(reply) if none)."""
    with torch.inference_mode():
        logits = bot.model(input_ids=torch.cat([ids, torch.tensor([reply])], dim=1)).logits[0, ids.shape[1] - 1:-1]
    top = logits.float().topk(2, dim=-1).values
    close = ((top[:, 0] - top[:, 1]) < within).nonzero()
    return int(close[0]) if close.numel() else len(reply)


def assert_same_until_near_tie(fast, slow, texts: list[str], capsys=None) -> None:
    prompts = [prompt(slow, t) for t in texts]
    eager = decode(slow, prompts)
    compiled = decode(fast, prompts)
    for p, e, c in zip(prompts, eager, compiled):
        cut = near_tie(slow, p, e)
        if cut < len(e):
            print(f"{fast.name}: near tie at step {cut} of {len(e)}; compared up to there")
        assert c[:cut] == e[:cut]


@pytest.mark.parametrize("family", ARCHS)
def test_compiled_greedy_equals_eager_alone(compiled_bots, family):
    fast, slow = compiled_bots[family]
    before = fast.scheduler.compiled.compiled_steps
    assert_same_until_near_tie(fast, slow, ["Hello, how are you today?"])
    assert fast.scheduler.compiled.compiled_steps - before == NEW - 1  # every step after the prefill's
    assert fast.describe()["decode_step"] == "compiled"


def test_compiled_greedy_equals_eager_batched(compiled_bots):
    fast, slow = compiled_bots["chat"]
    texts = ["Hello, how are you today?", "The capital of France is Paris.", "我喜欢读书"]
    decode(fast, [prompt(fast, t) for t in texts], 2)  # builds the 4-row bucket
    assert fast.scheduler.compiled.wait_ready(600)
    before = fast.scheduler.compiled.compiled_steps
    assert_same_until_near_tie(fast, slow, texts)
    assert fast.scheduler.compiled.compiled_steps > before


@pytest.mark.parametrize("rows", [1, 3])
def test_the_steps_run_on_the_graph_not_on_an_eager_fallback(compiled_bots, monkeypatch, rows):
    """A guard that fails at every step would silently run each step eagerly (the step's stance is
    "eager_on_recompile"): with the stance made "fail_on_recompile", decoding must still succeed."""
    fast, slow = compiled_bots["chat"]
    stance = torch.compiler.set_stance
    monkeypatch.setattr(torch.compiler, "set_stance", lambda *a, **k: stance("fail_on_recompile"))
    texts = ["Hello, how are you today?", "The capital of France is Paris.", "我喜欢读书"][:rows]
    before = fast.scheduler.compiled.compiled_steps
    replies = decode(fast, [prompt(fast, t) for t in texts], 6)  # a failed guard raises: the request fails
    assert [len(r) for r in replies] == [6] * rows
    assert fast.scheduler.compiled.compiled_steps - before == 5


def test_no_recompilation_across_prompt_lengths_within_a_bucket(compiled_bots):
    fast, _ = compiled_bots["moss"]
    graphs = counters["stats"]["unique_graphs"]
    for text in ["Hi", "A somewhat longer prompt than the first one", "x " * 40]:
        decode(fast, [prompt(fast, text)], 6)
    assert counters["stats"]["unique_graphs"] == graphs
    assert len(fast.scheduler.compiled.compile_seconds()) == 1  # one bucket (MOSS's long meta instruction: 1024)


def test_stop_and_stop_strings_end_a_compiled_stream_at_once(compiled_bots):
    fast, slow = compiled_bots["chat"]
    q = [{"role": "HUMAN", "content": "Hello, how are you today?"}]
    full = slow.chat(q, max_new_tokens=NEW, temperature=0)
    stop = full[len(full) // 2:len(full) // 2 + 2]
    cut = fast.chat(q, max_new_tokens=NEW, temperature=0, stop=[stop]) if stop.strip() else None
    if cut is not None:
        assert cut == full[:full.index(stop)].strip()
    stop_event = threading.Event()
    gen = fast.prepare_gen_kwargs(fast.merge_settings(dict(do_sample=False, max_new_tokens=200))[0])
    gen["eos_token_id"] = []
    request = fast.scheduler.submit(EngineRequest(prepare=lambda: prompt(fast, "Tell me a story"), gen_kwargs=gen,
                                                  stop_event=stop_event))
    request.next_ids()
    stop_event.set()
    assert request.wait_finished().reason == "cancelled"
    assert len(request.generated) < 200


def test_buckets_round_rows_and_lengths_up():
    assert [batch_bucket(n) for n in (1, 2, 3, 5, 16)] == [1, 2, 4, 8, 16]
    assert [cache_bucket(n) for n in (1, 256, 257, 1500)] == [256, 256, 512, 2048]


def test_compile_off_decodes_eagerly(tiny_chat_dir):
    bot = load_bot(tiny_chat_dir, type="chat", compile=False)
    try:
        bot.chat([{"role": "HUMAN", "content": "Hi"}], max_new_tokens=3, temperature=0)
        assert bot.scheduler.compiled is None and bot.describe()["decode_step"] == "eager"
    finally:
        bot.close()


def test_a_compile_that_fails_falls_back_to_eager_and_says_why(tiny_chat_dir, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("no inductor here")

    monkeypatch.setattr(torch, "compile", broken)
    fast = load_bot(tiny_chat_dir, type="chat", compile=True, dtype="float32")
    slow = load_bot(tiny_chat_dir, type="chat", compile=False, dtype="float32")
    try:
        q = [{"role": "HUMAN", "content": "Hello, how are you today?"}]
        assert fast.chat(q, max_new_tokens=8, temperature=0) == slow.chat(q, max_new_tokens=8, temperature=0)
        fast.scheduler.compiled.wait_ready(60)
        assert fast.chat(q, max_new_tokens=8, temperature=0) == slow.chat(q, max_new_tokens=8, temperature=0)
        status = fast.describe()["decode_step"]
        assert status.startswith("eager: compiling failed") and "no inductor here" in status
        assert sum("no inductor here" in r.getMessage() for r in caplog.records) == 1
    finally:
        fast.close()
        slow.close()


def test_a_step_with_a_graph_break_compiles_with_its_guards_and_decodes_the_same(tiny_chat_dir, caplog):
    """A step that is not one graph cannot drop its module guards (the model's methods are shared code): it
    compiles again without fullgraph, and its tokens stay eager's."""
    caplog.set_level("INFO", logger="chatzoo_widget.engine.compiled")
    fast = load_bot(tiny_chat_dir, type="chat", compile=True, dtype="float32")
    slow = load_bot(tiny_chat_dir, type="chat", compile=False, dtype="float32")
    layer = fast.model.model.layers[0]
    whole = layer.forward

    def with_a_break(*args, **kwargs):
        torch._dynamo.graph_break()
        return whole(*args, **kwargs)

    layer.forward = with_a_break
    try:
        decode(fast, [prompt(fast, "warm up")], 2)
        assert fast.scheduler.compiled.wait_ready(600)
        assert fast.describe()["decode_step"] == "compiled"
        assert any("is not one graph" in r.getMessage() for r in caplog.records)
        before = fast.scheduler.compiled.compiled_steps
        assert_same_until_near_tie(fast, slow, ["Hello, how are you today?"])
        assert fast.scheduler.compiled.compiled_steps > before
    finally:
        fast.close()
        slow.close()


def test_a_bucket_that_fails_leaves_the_other_buckets_compiled(tiny_chat_dir, monkeypatch):
    """Seen in bench_engine: the 8-row trace failed while 8 rows decoded; the one-row graph must keep working."""
    from chatzoo_widget.manager import _decode_note

    trace = CompiledDecoder._trace

    def fails_for_batches(self, step, bucket, example):
        if bucket.rows > 1:
            raise RuntimeError("the batched trace failed")
        return trace(self, step, bucket, example)

    monkeypatch.setattr(CompiledDecoder, "_trace", fails_for_batches)
    fast = load_bot(tiny_chat_dir, type="chat", compile=True, dtype="float32")
    slow = load_bot(tiny_chat_dir, type="chat", compile=False, dtype="float32")
    try:
        decode(fast, [prompt(fast, "warm up")], 2)
        assert fast.scheduler.compiled.wait_ready(600) and fast.describe()["decode_step"] == "compiled"
        texts = ["Hello, how are you today?", "The capital of France is Paris.", "我喜欢读书"]
        decode(fast, [prompt(fast, t) for t in texts], 2)  # asks for the 4-row bucket, which fails
        assert fast.scheduler.compiled.wait_ready(600)
        status = fast.describe()["decode_step"]
        assert status.startswith("compiled; 4 rows x 256 eager: compiling failed (RuntimeError")
        assert _decode_note(status) == "4 rows x 256 eager: compiling failed (RuntimeError)"
        assert_same_until_near_tie(fast, slow, texts)  # the batch decodes eagerly
        before = fast.scheduler.compiled.compiled_steps
        assert_same_until_near_tie(fast, slow, ["Hello, how are you today?"])
        assert fast.scheduler.compiled.compiled_steps - before == NEW - 1  # one row: still the graph
    finally:
        fast.close()
        slow.close()


def test_a_compile_that_fails_once_is_tried_again(tiny_chat_dir, monkeypatch, caplog):
    """A concurrent load changing torch's default dtype fails a trace once; the second try compiles."""
    caplog.set_level("INFO", logger="chatzoo_widget.engine.compiled")
    real, calls = torch.compile, []

    def fails_first(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise AssertionError("GLOBAL_STATE changed: default_dtype")
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "compile", fails_first)
    fast = load_bot(tiny_chat_dir, type="chat", compile=True, dtype="float32")
    try:
        decode(fast, [prompt(fast, "warm up")], 2)
        assert fast.scheduler.compiled.wait_ready(600)
        assert fast.describe()["decode_step"] == "compiled" and len(calls) == 2
        assert any("failed once" in r.getMessage() and "GLOBAL_STATE" in r.getMessage() for r in caplog.records)
    finally:
        fast.close()


def test_models_whose_cache_cannot_be_static_stay_eager_with_the_reason(tiny_chat_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_chat_dir)
    model.config.layer_types = ["sliding_attention", "full_attention"]
    decoder = CompiledDecoder(model, pad_token_id=0, cache_arg="cache")
    assert decoder.status.startswith("eager: sliding-window/hybrid attention")
    scheduler = Scheduler(model, pad_token_id=0, compile=True)
    assert scheduler.compiled.failure is not None
    scheduler.close()


def test_the_column_shows_compiling_then_why_it_stayed_eager(tiny_chat_dir, monkeypatch):
    from chatzoo_widget.manager import ChatManager
    from chatzoo_widget.testing import wait_until

    gate = threading.Event()

    def slow_then_broken(*args, **kwargs):
        gate.wait(120)
        raise RuntimeError("no inductor here")

    monkeypatch.setattr(torch, "compile", slow_then_broken)
    changes: list[int] = []
    m = ChatManager(on_change=lambda: changes.append(1))
    try:
        m.add({"name": "c", "model": str(tiny_chat_dir), "type": "chat",
               "load_options": {"compile": True, "dtype": "float32"}})
        assert wait_until(lambda: m.get("c").status == "ready", timeout=300)
        m.send("Hello there")
        assert wait_until(lambda: m.snapshot()[0]["note"] == "compiling (one-off)", timeout=60)
        assert wait_until(lambda: m.get("c").status == "ready", timeout=120)  # the reply did not wait for it
        seen = len(changes)
        gate.set()
        assert wait_until(lambda: len(changes) > seen, timeout=60)  # the column is told, not polled
        assert m.snapshot()[0]["note"] == "eager: compiling failed (RuntimeError)"
    finally:
        gate.set()
        m.close()
