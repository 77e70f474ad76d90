"""The scheduler: requests for one model decode together, each with its own settings, seed, stop and end."""

from __future__ import annotations

import threading
import time

import pytest

from chatzoo_widget.engine.request import EngineRequest
from chatzoo_widget.testing.tiny_models import sliding_gemma3

PROMPTS = ["Hello, how are you today?", "The capital of France is Paris.", "我喜欢读书和写字，你呢？"]
GREEDY = dict(do_sample=False, max_new_tokens=12)


@pytest.fixture
def bot(tiny_chat_dir):
    """A bot of its own (its own scheduler) whose forward passes take 5 ms, so concurrent requests overlap."""
    from chatzoo_widget.registry import load_bot

    b = load_bot(tiny_chat_dir, type="chat", name="sched-test")

    def slow(module, args, kwargs):
        time.sleep(0.005)

    handle = b.model.register_forward_pre_hook(slow, with_kwargs=True)
    yield b
    handle.remove()
    b.close()


def q(text: str) -> list[dict[str, str]]:
    return [{"role": "HUMAN", "content": text}]


def concurrently(calls):
    """Run each call in a thread of its own, started together; return their results in order."""
    results: list = [None] * len(calls)
    start = threading.Barrier(len(calls))

    def run(i, call):
        start.wait()
        results[i] = call()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def consume_then_stop(streams, stop: threading.Event, after: float) -> list[str]:
    """Read every stream in a thread of its own, set `stop` after `after` seconds, return the texts."""
    results: list = [None] * len(streams)

    def consume(i):
        results[i] = streams[i].consume()

    threads = [threading.Thread(target=consume, args=(i,)) for i in range(len(streams))]
    for t in threads:
        t.start()
    time.sleep(after)
    stop.set()
    for t in threads:
        t.join(60)
    return results


def streamed(bot, text, **settings):
    stream = bot.stream(q(text), **settings)
    return stream.consume(), stream.stats


def test_greedy_rows_in_a_batch_equal_their_reply_alone(bot):
    alone = [streamed(bot, p, **GREEDY) for p in PROMPTS]
    together = concurrently([lambda p=p: streamed(bot, p, **GREEDY) for p in PROMPTS])
    assert [t for t, _ in together] == [t for t, _ in alone]
    assert all(s.batched for _, s in together)
    assert bot.scheduler.peak_batch == len(PROMPTS)  # they really decoded together


def test_a_batched_greedy_reply_equals_bare_generate(bot):
    import torch

    settings = dict(GREEDY, max_new_tokens=10)
    gen = bot.prepare_gen_kwargs(bot.merge_settings(settings)[0])
    inputs = bot.get_input(bot.build_prompt(q(PROMPTS[0]), {}))
    with torch.inference_mode():
        out = bot.model.generate(**inputs, **gen)
    expected = bot.process_response(bot.tokenizer.decode(out[0, inputs["input_ids"].shape[1]:],
                                                         skip_special_tokens=True))
    text, _ = concurrently([lambda: streamed(bot, PROMPTS[0], **settings),
                            lambda: streamed(bot, PROMPTS[1], **settings)])[0]
    assert text == expected


def test_a_request_joins_mid_flight_and_a_short_one_leaves_early(bot):
    long_alone, _ = streamed(bot, PROMPTS[0], do_sample=False, max_new_tokens=60)
    long_stream = bot.stream(q(PROMPTS[0]), do_sample=False, max_new_tokens=60)
    first = next(long_stream)
    t0 = time.perf_counter()
    short_text, short_stats = streamed(bot, PROMPTS[1], do_sample=False, max_new_tokens=3)
    short_done = time.perf_counter() - t0
    assert not long_stream.done  # the long one is still decoding when the short one has finished
    long_text = first + "".join(long_stream)
    assert long_text == long_alone  # joining and leaving did not change the long reply
    assert short_stats.new_tokens == 3 and short_stats.finish_reason == "length"
    assert long_stream.stats.total_time > short_done
    assert bot.scheduler.peak_batch == 2


def test_each_row_keeps_its_own_max_new_tokens(bot):
    limits = [2, 5, 9]
    results = concurrently([lambda n=n: streamed(bot, PROMPTS[0], do_sample=False, max_new_tokens=n)
                            for n in limits])
    for n, (_, stats) in zip(limits, results):
        assert stats.new_tokens <= n
        if stats.finish_reason == "length":
            assert stats.new_tokens == n


def test_stopping_one_request_leaves_the_others_untouched(bot):
    alone = [streamed(bot, p, do_sample=False, max_new_tokens=30)[0] for p in PROMPTS]
    stop = threading.Event()
    streams = [bot.stream(q(p), stop_event=stop if i == 1 else None, do_sample=False, max_new_tokens=30)
               for i, p in enumerate(PROMPTS)]
    results = consume_then_stop(streams, stop, after=0.03)
    assert streams[1].stats.finish_reason == "cancelled"
    assert streams[1].stats.new_tokens < 30
    assert results[0] == alone[0] and results[2] == alone[2]
    assert bot.scheduler.active == 0  # idle and ready
    assert streamed(bot, PROMPTS[0], do_sample=False, max_new_tokens=30)[0] == alone[0]


def test_stop_strings_cut_their_own_row_only(bot):
    full, _ = streamed(bot, PROMPTS[0], do_sample=False, max_new_tokens=30)
    other, _ = streamed(bot, PROMPTS[1], do_sample=False, max_new_tokens=30)
    marker = full[len(full) // 2:len(full) // 2 + 2]
    assert marker.strip(), f"the reply {full!r} has no middle to cut at"
    (cut, cut_stats), (rest, _) = concurrently([
        lambda: streamed(bot, PROMPTS[0], do_sample=False, max_new_tokens=30, stop=[marker]),
        lambda: streamed(bot, PROMPTS[1], do_sample=False, max_new_tokens=30),
    ])
    assert cut == full[:full.index(marker)].strip()
    assert cut_stats.finish_reason == "stop"
    assert rest == other


def test_a_seeded_request_gives_the_same_reply_alone_and_in_any_batch(bot):
    sampling = dict(do_sample=True, temperature=1.3, top_k=0, top_p=1.0, max_new_tokens=16)
    alone = streamed(bot, PROMPTS[0], seed=7, **sampling)[0]
    assert streamed(bot, PROMPTS[0], seed=7, **sampling)[0] == alone
    batch = concurrently([
        lambda: streamed(bot, PROMPTS[0], seed=7, **sampling)[0],
        lambda: streamed(bot, PROMPTS[0], seed=8, **sampling)[0],
        lambda: streamed(bot, PROMPTS[1], **sampling)[0],  # unseeded neighbours draw from their own generators
        lambda: streamed(bot, PROMPTS[0], seed=7, **dict(sampling, temperature=0.5, top_k=5))[0],
    ])
    assert batch[0] == alone
    assert batch[1] != alone  # another seed, another reply
    assert len({streamed(bot, PROMPTS[0], seed=s, **sampling)[0] for s in range(4)}) > 1


def test_a_seeded_truncated_request_is_the_same_next_to_rows_that_truncate_otherwise(bot):
    topk = dict(do_sample=True, temperature=1.2, top_k=5, top_p=0.95, max_new_tokens=16)
    alone = streamed(bot, PROMPTS[1], seed=3, **topk)[0]
    batch = concurrently([
        lambda: streamed(bot, PROMPTS[1], seed=3, **topk)[0],
        lambda: streamed(bot, PROMPTS[0], seed=4, **dict(topk, top_k=40, top_p=0.5))[0],
        lambda: streamed(bot, PROMPTS[2], seed=5, **dict(topk, top_k=0, top_p=1.0))[0],
        lambda: streamed(bot, PROMPTS[0], seed=6, **dict(topk, top_k=0, top_p=0.8))[0],
    ])
    assert batch[0] == alone


def test_nothing_touches_torchs_global_random_state(bot):
    import torch

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    concurrently([lambda: streamed(bot, p, do_sample=True, max_new_tokens=8) for p in PROMPTS])
    assert torch.equal(torch.rand(3), expected)


def test_a_row_failing_mid_batch_ends_alone(bot):
    scheduler = bot.scheduler
    ids = bot.get_input(bot.build_prompt(q(PROMPTS[0]), {}))["input_ids"]
    gen = bot.prepare_gen_kwargs(bot.merge_settings(dict(do_sample=False, max_new_tokens=20))[0])
    healthy = scheduler.submit(EngineRequest(prepare=lambda: ids, gen_kwargs=gen))
    broken = scheduler.submit(EngineRequest(prepare=lambda: ids, gen_kwargs=gen))
    broken.next_ids()

    def explode(input_ids, scores):
        raise RuntimeError("injected decode failure")

    from transformers import LogitsProcessorList

    broken.state.processors = LogitsProcessorList([explode])  # its next token fails
    end = broken.wait_finished()
    assert end.reason == "error" and "injected decode failure" in str(end.error)
    assert healthy.wait_finished().reason in ("length", "stop")
    assert len(healthy.generated) == 20 or healthy.generated[-1] in healthy.state.eos


def test_a_prompt_longer_than_the_context_fails_only_its_own_request(bot):
    too_long = " ".join(["Hello, how are you today?"] * 800)
    (long_text, long_stats), (ok_text, ok_stats) = concurrently([
        lambda: _safely(lambda: streamed(bot, too_long, **GREEDY)),
        lambda: streamed(bot, PROMPTS[0], **GREEDY),
    ])
    assert isinstance(long_text, ValueError) and "shorten the message" in str(long_text)
    assert ok_stats.finish_reason in ("length", "stop") and ok_text


def _safely(call):
    try:
        return call()
    except Exception as exc:  # noqa: BLE001 - the test inspects it
        return exc, None


def test_beam_search_runs_alone_and_says_so(bot):
    text, stats = streamed(bot, PROMPTS[0], do_sample=False, num_beams=2, max_new_tokens=6)
    assert stats.batched is False
    assert streamed(bot, PROMPTS[0], **GREEDY)[1].batched is True


def test_a_stopped_batch_leaves_the_scheduler_idle_and_ready(bot):
    stop = threading.Event()
    streams = [bot.stream(q(p), stop_event=stop, do_sample=False, max_new_tokens=200) for p in PROMPTS]
    consume_then_stop(streams, stop, after=0.05)
    assert all(s.stats.finish_reason == "cancelled" for s in streams)
    assert bot.scheduler.active == 0
    assert streamed(bot, PROMPTS[0], **GREEDY)[0]


@pytest.mark.parametrize("arch", ["chat", "firefly", "moss", "gemma3"])
def test_every_rows_logits_equal_a_full_forward_of_that_row_alone(arch, tiny_dirs, monkeypatch):
    """Rows of different lengths join, pad and leave; at every step each row's logits are those of the model run
    on that row's tokens alone, without a cache (Qwen2, Bloom's alibi, CodeGen's rotary, Gemma 3's windows)."""
    import random

    import torch

    import chatzoo_widget.engine.scheduler as scheduler_module
    from chatzoo_widget.engine.scheduler import Scheduler

    if arch == "gemma3":
        model = sliding_gemma3()
    else:
        from chatzoo_widget.registry import load_bot

        model = load_bot(tiny_dirs[arch], type=arch).model
    seen_logits: list[tuple[list[int], torch.Tensor]] = []
    rng = random.Random(0)

    def forced_pick(rows, logits, seen):  # record what the batch computed, continue with random tokens
        seen_logits.extend((list(s), row.clone()) for s, row in zip(seen, logits))
        return [rng.randrange(5, 250) for _ in rows]

    monkeypatch.setattr(scheduler_module, "pick_tokens", forced_pick)
    scheduler = Scheduler(model, name=arch, pad_token_id=0)
    gen = dict(do_sample=False, max_new_tokens=10)
    first = [scheduler.submit(EngineRequest(prepare=lambda n=n: torch.randint(5, 250, (1, n)), gen_kwargs=gen))
             for n in (5, 13)]
    first[0].next_ids()
    late = scheduler.submit(EngineRequest(prepare=lambda: torch.randint(5, 250, (1, 21)),
                                          gen_kwargs=dict(gen, max_new_tokens=4)))
    for request in first + [late]:
        request.wait_finished()
    scheduler.close()
    assert scheduler.peak_batch == 3
    def relative_error(ids, logits):  # float32 rounding grows with the logits' size (random weights: large)
        ref = model(input_ids=torch.tensor([ids])).logits[0, -1].float()
        return ((ref - logits).abs().max() / ref.abs().max().clamp(min=1.0)).item()

    with torch.inference_mode():
        worst = max(relative_error(ids, logits) for ids, logits in seen_logits)
    assert len(seen_logits) == 10 + 10 + 4
    assert worst < 1e-5
