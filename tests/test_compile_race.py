"""A decode step compiling in the background never breaks the eager steps that run meanwhile.

transformers' and kernels' per-call switches are shared objects while dynamo traces (engine/trace_lock.py); before
the lock, eager forwards during a background compile failed ("'_contextvars.Token' object has no attribute 'get'",
ending every row of the step) or the compile did ("Guard failed on the same frame it was created").
"""

from __future__ import annotations

import threading

import pytest
import torch

from chatzoo_widget.engine.compiled import CompiledDecoder
from chatzoo_widget.engine.trace_lock import TRACE_LOCK
from chatzoo_widget.registry import load_bot


def test_eager_forwards_keep_working_while_a_step_compiles(tiny_dirs):
    bot = load_bot(tiny_dirs["chat"], type="chat", compile=False, dtype="float32")
    model = bot.model
    ids = bot.get_input(bot.build_prompt([{"role": "HUMAN", "content": "Hello there"}], {}))["input_ids"]
    with torch.inference_mode():
        expected = model(input_ids=ids).logits[0, -1]
    decoder = CompiledDecoder(model, pad_token_id=0, cache_arg="past_key_values")
    errors: list[str] = []
    forwards = 0

    def eager_until(done: threading.Event) -> None:
        nonlocal forwards
        while not done.is_set():
            try:
                with torch.inference_mode(), TRACE_LOCK.forward():  # as the scheduler's steps do
                    logits = model(input_ids=ids).logits[0, -1]
                assert torch.allclose(logits, expected, atol=1e-5), "an eager forward changed its answer"
                forwards += 1
            except Exception as exc:  # noqa: BLE001 - every failure is the finding
                errors.append(f"{type(exc).__name__}: {exc}")

    bucket = decoder._bucket(1, 8)  # starts compiling on its own thread
    eager = threading.Thread(target=eager_until, args=(bucket.ready,))
    eager.start()
    assert bucket.ready.wait(600), "compiling took over 10 minutes"
    eager.join()
    assert decoder.failure is None and bucket.state == "ready"
    assert forwards > 0 and errors == [], errors[:3]
    bot.close()


@pytest.mark.timeout(600, method="thread")  # before the fix this could hang as well as fail
def test_a_compiled_model_decodes_beside_another_models_eager_forwards(tiny_dirs):
    """Each call of a compiled graph replays its trace's writes to those switches: beside it, another model's eager
    forwards failed ("expected an instance of Token") until compiled calls ran alone."""
    fast = load_bot(tiny_dirs["chat"], type="chat", compile=True, dtype="float32")
    other = load_bot(tiny_dirs["firefly"], type="firefly", compile=False, dtype="float32")
    ids = other.get_input(other.build_prompt([{"role": "HUMAN", "content": "Hello there"}], {}))["input_ids"]
    with torch.inference_mode():
        expected = other.model(input_ids=ids).logits[0, -1]
    history = [{"role": "HUMAN", "content": "Tell me a story"}]
    fast.chat(history, max_new_tokens=4, temperature=0)  # starts the build
    assert fast.scheduler.compiled.wait_ready(600), "compiling took over 10 minutes"
    errors: list[str] = []
    done = threading.Event()

    def eager_until_done() -> None:
        while not done.is_set():
            try:
                with torch.inference_mode(), TRACE_LOCK.forward():
                    logits = other.model(input_ids=ids).logits[0, -1]
                assert torch.allclose(logits, expected, atol=1e-5), "an eager forward changed its answer"
            except Exception as exc:  # noqa: BLE001 - every failure is the finding
                errors.append(f"{type(exc).__name__}: {exc}")

    eager = threading.Thread(target=eager_until_done)
    eager.start()
    try:
        before = fast.scheduler.compiled.compiled_steps
        replies = [fast.chat(history, max_new_tokens=12, temperature=0) for _ in range(3)]
    finally:
        done.set()
        eager.join()
    assert fast.scheduler.compiled.compiled_steps > before, "the replies did not use the compiled step"
    assert errors == [], errors[:3]
    assert len(set(replies)) == 1, replies
    fast.close()
    other.close()


@pytest.mark.timeout(900, method="thread")  # before the fix this hung
def test_two_buckets_building_at_once_both_finish(tiny_dirs):
    """Two builds at once (a batch of 1 and one of 2 rows) deadlocked: one held the trace lock waiting for dynamo's
    compile lock, the other held dynamo's waiting for the trace lock. Builds now take turns."""
    bot = load_bot(tiny_dirs["chat"], type="chat", compile=False, dtype="float32")
    decoder = CompiledDecoder(bot.model, pad_token_id=0, cache_arg="past_key_values")
    one, two = decoder._bucket(1, 8), decoder._bucket(2, 8)  # each on its own thread
    assert one.ready.wait(600) and two.ready.wait(600), "a build never finished"
    assert (one.state, two.state) == ("ready", "ready") and decoder.failure is None
    bot.close()
