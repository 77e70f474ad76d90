"""Reading long prompts in chunks: the same logits as one pass, progress per request, Stop within a chunk, and the
rows already decoding keep decoding meanwhile."""

from __future__ import annotations

import random
import threading

import pytest
import torch

from chatzoo_widget.engine.prefill import PrefillGroup, check_chunk
from chatzoo_widget.engine.request import EngineRequest
from chatzoo_widget.engine.scheduler import Scheduler
from chatzoo_widget.testing.tiny_models import sliding_gemma3

GREEDY = dict(do_sample=False, max_new_tokens=10)


@pytest.fixture(scope="module")
def tiny_llama_dir(tmp_path_factory):
    from chatzoo_widget.testing.tiny_models import build_chat

    return build_chat(tmp_path_factory.mktemp("llama") / "llama", arch="llama")


def _model(arch, tiny_dirs, tiny_llama_dir):
    if arch == "gemma3":
        return sliding_gemma3()
    from chatzoo_widget.registry import load_bot

    folder = tiny_llama_dir if arch == "llama" else tiny_dirs[arch]
    return load_bot(folder, type="chat" if arch == "llama" else arch).model


def _random_prompt(n: int, seed: int) -> torch.Tensor:
    return torch.randint(5, 250, (1, n), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("arch", ["chat", "llama", "firefly", "moss", "gemma3"])
def test_logits_after_a_chunked_read_equal_the_prompt_read_whole(arch, tiny_dirs, tiny_llama_dir, monkeypatch):
    """Prompts of 5, 13 and 21 tokens read 4 at a time (the 5-token row's first chunks are all padding), then
    decoded: every row's logits, at its first token and at every step after, are those of the model run on that
    row's tokens alone in one pass without a cache (Qwen2, Llama, Bloom's alibi, CodeGen, Gemma 3's windows)."""
    import chatzoo_widget.engine.scheduler as scheduler_module

    model = _model(arch, tiny_dirs, tiny_llama_dir)
    seen: list[tuple[list[int], torch.Tensor]] = []
    rng = random.Random(0)

    def forced_pick(rows, logits, history):  # record what the batch computed, go on with random tokens
        seen.extend((list(h), row.clone()) for h, row in zip(history, logits))
        return [rng.randrange(5, 250) for _ in rows]

    monkeypatch.setattr(scheduler_module, "pick_tokens", forced_pick)
    scheduler = Scheduler(model, name=arch, pad_token_id=0, prefill_chunk=4)
    reads: dict[int, list[int]] = {5: [], 13: [], 21: []}
    first = [scheduler.submit(EngineRequest(prepare=lambda n=n: _random_prompt(n, n), gen_kwargs=GREEDY,
                                            on_prefill=lambda read, total: reads[total].append(read)))
             for n in (5, 13)]
    first[0].next_ids()
    late = scheduler.submit(EngineRequest(prepare=lambda: _random_prompt(21, 21),
                                          gen_kwargs=dict(GREEDY, max_new_tokens=4),
                                          on_prefill=lambda read, total: reads[total].append(read)))
    for request in first + [late]:
        assert request.wait_finished().reason == "length"
    scheduler.close()
    assert reads[21] == [0, 4, 8, 12, 16, 20, 21]  # the late one was read in 6 chunks
    assert reads[21][-1] == 21 and reads[13][-1] == 13 and reads[5][-1] == 5

    def relative_error(ids, logits):  # float32 rounding grows with the logits' size (random weights: large)
        ref = model(input_ids=torch.tensor([ids])).logits[0, -1].float()
        return ((ref - logits).abs().max() / ref.abs().max().clamp(min=1.0)).item()

    with torch.inference_mode():
        worst = max(relative_error(ids, logits) for ids, logits in seen)
    assert len(seen) == 10 + 10 + 4
    # float32's rounding order differs between the batch and the lone pass: up to 1.3e-5 of the largest logit on
    # one CPU (Bloom's alibi), under 1e-7 in float64; a wrong mask or position moves logits by whole units
    assert worst < 5e-5


class _Prompt:
    def __init__(self, n: int):
        self.prompt_ids = list(range(1, n + 1))


def test_a_padded_row_counts_only_its_own_tokens_as_read():
    group = PrefillGroup([_Prompt(13), _Prompt(5)], pad_token_id=0, device="cpu")
    progress = []
    while not group.finished:
        ids, mask = group.next_chunk(4)
        assert mask.shape[1] == group.read + ids.shape[1]  # the mask covers every column read so far
        group.advance(ids.shape[1])
        progress.append((group.tokens_read(0), group.tokens_read(1)))
    assert progress == [(4, 0), (8, 0), (12, 4), (13, 5)]
    group.drop({0})
    assert [len(r.prompt_ids) for r in group.requests] == [5] and group.input_ids.shape == (1, 13)


@pytest.mark.parametrize("bad", [0, -3, 2.5, "512", None, True])
def test_a_bad_chunk_size_is_refused_with_its_value(bad):
    with pytest.raises(ValueError, match="prefill_chunk must be a positive number of tokens"):
        check_chunk(bad)


@pytest.fixture
def chat_model(tiny_chat_dir):
    from chatzoo_widget.registry import load_bot

    return load_bot(tiny_chat_dir, type="chat", name="prefill-test").model


def test_stop_while_reading_ends_that_request_within_a_chunk_and_the_decoding_row_goes_on(chat_model):
    """A row decodes; a 600-token prompt arrives and is read 8 tokens at a time. The decoding row takes steps between
    the chunks, Stop ends the long one before its next chunk ("cancelled", no token), and the decoding row's reply
    is the one it gives alone."""
    long_gen = dict(do_sample=False, max_new_tokens=150, eos_token_id=10**6)  # never ends early
    short_ids = _random_prompt(7, 1)
    alone_scheduler = Scheduler(chat_model, name="alone", pad_token_id=0)
    alone = alone_scheduler.submit(EngineRequest(prepare=lambda: short_ids, gen_kwargs=long_gen))
    alone.wait_finished()
    alone_scheduler.close()

    scheduler = Scheduler(chat_model, name="interleaved", pad_token_id=0, prefill_chunk=8)
    decoding = scheduler.submit(EngineRequest(prepare=lambda: short_ids, gen_kwargs=long_gen))
    decoding.next_ids()
    reads: list[tuple[int, int]] = []  # (tokens read, tokens the decoding row had then)

    def on_prefill(read, total):
        reads.append((read, len(decoding.generated)))
        if read >= 80:
            reading.stop_event.set()

    reading = scheduler.submit(EngineRequest(prepare=lambda: _random_prompt(600, 2), gen_kwargs=GREEDY,
                                             on_prefill=on_prefill))
    end = reading.wait_finished()
    assert end.reason == "cancelled" and reading.generated == []
    assert [r for r, _ in reads] == list(range(0, 81, 8))  # no chunk was read after the one that saw Stop
    steps = [n for _, n in reads]
    assert steps[-1] - steps[1] >= len(steps) - 3  # a decode step between (nearly) every two chunks
    assert decoding.wait_finished().reason == "length"
    assert decoding.generated == alone.generated
    assert scheduler.active == 0
    scheduler.close()


def test_a_request_that_stops_mid_group_leaves_the_others_reading(chat_model):
    """Two prompts read together; one is stopped after the second chunk: the other's reply is the one it gives
    alone (the stopped row left the group's cache cleanly)."""
    ids = {40: _random_prompt(40, 3), 33: _random_prompt(33, 4)}
    alone_scheduler = Scheduler(chat_model, name="alone", pad_token_id=0)
    alone = alone_scheduler.submit(EngineRequest(prepare=lambda: ids[33], gen_kwargs=GREEDY))
    alone.wait_finished()
    alone_scheduler.close()

    scheduler = Scheduler(chat_model, name="group", pad_token_id=0, prefill_chunk=8)
    stopped_reads: list[int] = []

    def on_prefill(read, total):
        stopped_reads.append(read)
        if read >= 16:
            first.stop_event.set()

    with scheduler._cv:  # both arrive before the scheduler looks: one group
        first = scheduler.submit(EngineRequest(prepare=lambda: ids[40], gen_kwargs=GREEDY, on_prefill=on_prefill))
        other = scheduler.submit(EngineRequest(prepare=lambda: ids[33], gen_kwargs=GREEDY))
    assert first.wait_finished().reason == "cancelled" and first.generated == []
    assert other.wait_finished().reason in ("length", "stop")
    assert stopped_reads == [0, 8, 16]
    assert other.generated == alone.generated
    scheduler.close()


def test_close_while_reading_cancels_the_request(chat_model):
    scheduler = Scheduler(chat_model, name="closing", pad_token_id=0, prefill_chunk=4)
    reads: list[int] = []

    def on_prefill(read, total):
        reads.append(read)
        if read == 8:  # close() joins the scheduler's thread: call it from another one
            threading.Thread(target=scheduler.close).start()

    request = scheduler.submit(EngineRequest(prepare=lambda: _random_prompt(200, 5), gen_kwargs=GREEDY,
                                             on_prefill=on_prefill))
    assert request.wait_finished().reason == "cancelled"
    assert reads[-1] < 200
