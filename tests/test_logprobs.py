"""Token probabilities of local replies (issue 21): the engine scores the rows that ask, from what it picks from."""

from __future__ import annotations

import math

import pytest
import torch

from chatzoo_widget.engine.request import EngineRequest

Q = [{"role": "HUMAN", "content": "Hello, how are you today?"}]
GREEDY = dict(do_sample=False, max_new_tokens=10)


def _reference(model, ids: list[int], prompt_length: int, **gen_kwargs) -> torch.Tensor:
    """log_softmax of a full forward pass of one row alone (no cache, no padding), after the processors of the
    model's generation config with these settings (the tiny models suppress broken-UTF-8 tokens; a repetition
    penalty), without the sampling warpers: the distribution the engine reports."""
    config = model.generation_config.__class__(**{**model.generation_config.to_dict(), **gen_kwargs,
                                                  "do_sample": False})
    processors = model._get_logits_processor(generation_config=config, input_ids_seq_length=prompt_length,
                                             device="cpu", model_kwargs={})
    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([ids])).logits[0, -1:].float()
        return torch.log_softmax(processors(torch.tensor([ids]), logits)[0], dim=-1)


def _run(scheduler, prompts, gen_kwargs_list, logprobs_list):
    requests = [scheduler.submit(EngineRequest(prepare=lambda p=p: torch.tensor([p]), gen_kwargs=kw, seed=7,
                                               logprobs=k))
                for p, kw, k in zip(prompts, gen_kwargs_list, logprobs_list)]
    for r in requests:
        assert r.wait_finished().reason in ("length", "stop")
    return requests


@pytest.fixture
def model(tiny_chat_dir):
    from chatzoo_widget.registry import load_bot

    bot = load_bot(tiny_chat_dir, type="chat", name="logprobs-engine")
    yield bot.model
    bot.close()


def test_batched_rows_report_the_log_softmax_of_a_full_forward_at_every_step(model):
    from chatzoo_widget.engine.scheduler import Scheduler

    scheduler = Scheduler(model, name="lp", pad_token_id=0)
    prompts = [list(range(20, 25)), list(range(40, 53)), list(range(60, 81))]  # padded to different lengths
    sampled = dict(do_sample=True, temperature=1.3, top_k=7, top_p=0.8, max_new_tokens=10)
    requests = _run(scheduler, prompts, [GREEDY, sampled, GREEDY], [5, 3, None])
    scheduler.close()
    for request, k in zip(requests[:2], (5, 3)):
        assert len(request.scores) == len(request.generated) == 10
        for step, (token, scores) in enumerate(zip(request.generated, request.scores)):
            ref = _reference(model, request.prompt_ids + request.generated[:step], len(request.prompt_ids))
            assert scores.logprob == pytest.approx(ref[token].item(), abs=1e-4)
            top = torch.topk(ref, k)
            assert scores.top_logprobs == pytest.approx(top.values.tolist(), abs=1e-4)
            assert len(scores.top_ids) == k
    # greedy: the chosen token is the top-1 alternative, at every step
    assert all(s.top_ids[0] == t for s, t in zip(requests[0].scores, requests[0].generated))
    # sampling: temperature, top-k and top-p do not change the reported distribution (pre-warper scores)
    assert all(len(s.top_logprobs) == 3 and all(math.isfinite(v) for v in s.top_logprobs) for s in requests[1].scores)
    assert requests[2].scores == []  # a row that did not ask gets nothing


def test_repetition_penalty_is_in_the_reported_scores(model):
    from chatzoo_widget.engine.scheduler import Scheduler

    scheduler = Scheduler(model, name="lp-rep", pad_token_id=0)
    prompt = list(range(30, 42))
    [request] = _run(scheduler, [prompt], [dict(GREEDY, repetition_penalty=1.5)], [2])
    scheduler.close()
    plain = []
    for step, (token, scores) in enumerate(zip(request.generated, request.scores)):
        seen = request.prompt_ids + request.generated[:step]
        ref = _reference(model, seen, len(prompt), repetition_penalty=1.5)
        plain.append(_reference(model, seen, len(prompt))[token].item())
        assert scores.logprob == pytest.approx(ref[token].item(), abs=1e-4)
        assert scores.top_ids[0] == token
    assert [s.logprob for s in request.scores] != pytest.approx(plain, abs=1e-3)  # the penalty shows


def test_no_row_asking_takes_the_plain_path(model, monkeypatch):
    import chatzoo_widget.engine.scheduler as scheduler_module

    calls = []
    real = scheduler_module.pick_tokens_scored
    monkeypatch.setattr(scheduler_module, "pick_tokens_scored", lambda *a: calls.append(1) or real(*a))
    scheduler = scheduler_module.Scheduler(model, name="lp-plain", pad_token_id=0)
    _run(scheduler, [list(range(20, 30))] * 2, [GREEDY] * 2, [None, None])
    assert calls == []
    _run(scheduler, [list(range(20, 30))] * 2, [GREEDY] * 2, [None, 0])
    scheduler.close()
    assert calls


# ----- the bot: reply entries ------------------------------------------------------------------------
@pytest.fixture
def bot(tiny_chat_dir):
    from chatzoo_widget.registry import load_bot

    b = load_bot(tiny_chat_dir, type="chat", name="logprobs-bot")
    yield b
    b.close()


def test_reply_tokens_carry_text_bytes_ids_and_statistics(bot):
    stream = bot.stream(Q, logprobs=True, top_logprobs=4, **GREEDY)
    text = stream.consume()
    stats = stream.stats
    tokens = stats.tokens
    assert stats.batched is True and len(tokens) == stats.new_tokens  # no end-of-sequence token in 10
    for t in tokens:
        assert set(t) == {"token", "logprob", "bytes", "id", "top_logprobs"}
        assert bytes(t["bytes"]).decode("utf-8", errors="replace") == t["token"]
        assert len(t["top_logprobs"]) == 4 and t["top_logprobs"][0]["id"] == t["id"]
    assert bytes(b for t in tokens for b in t["bytes"]).decode("utf-8").strip() == text
    mean = sum(t["logprob"] for t in tokens) / len(tokens)
    assert stats.mean_logprob == pytest.approx(mean)
    assert stats.perplexity == pytest.approx(math.exp(-mean))
    assert stats.to_dict()["perplexity"] == stats.perplexity and "tokens" not in stats.to_dict()


def test_batched_and_alone_agree(bot, monkeypatch):
    batched = bot.stream(Q, logprobs=True, top_logprobs=3, **GREEDY)
    batched.consume()
    monkeypatch.setattr(bot, "can_batch", lambda gen_kwargs: False)
    alone = bot.stream(Q, logprobs=True, top_logprobs=3, **GREEDY)
    alone.consume()
    assert alone.stats.batched is False and alone.text == batched.text
    a, b = alone.stats.tokens, batched.stats.tokens
    assert [t["id"] for t in a] == [t["id"] for t in b]
    assert [t["logprob"] for t in a] == pytest.approx([t["logprob"] for t in b], abs=1e-4)
    assert [[x["id"] for x in t["top_logprobs"]] for t in a] == [[x["id"] for x in t["top_logprobs"]] for t in b]
    assert alone.stats.perplexity == pytest.approx(batched.stats.perplexity, rel=1e-4)


def test_sampled_alone_matches_sampled_batched_scores(bot, monkeypatch):
    settings = dict(do_sample=True, temperature=1.5, top_k=20, max_new_tokens=8, seed=3, logprobs=True)
    batched = bot.stream(Q, **settings)
    batched.consume()
    monkeypatch.setattr(bot, "can_batch", lambda gen_kwargs: False)
    alone = bot.stream(Q, **settings)
    alone.consume()
    # the draws differ (generate uses torch's global generator), but each token's score is the same function of
    # the prefix; the pre-warper scores of the shared first token agree
    assert alone.stats.tokens[0]["top_logprobs"] == [] and batched.stats.tokens[0]["top_logprobs"] == []
    if alone.stats.tokens[0]["id"] == batched.stats.tokens[0]["id"]:
        assert alone.stats.tokens[0]["logprob"] == pytest.approx(batched.stats.tokens[0]["logprob"], abs=1e-4)


def test_logprobs_off_keeps_no_tokens(bot):
    stream = bot.stream(Q, **GREEDY)
    stream.consume()
    assert stream.stats.tokens is None and stream.stats.mean_logprob is None and stream.stats.perplexity is None
    assert stream.stats.logprobs_unavailable is None
    stream = bot.stream(Q, top_logprobs=5, **GREEDY)  # alternatives asked without logprobs: off, not an error
    stream.consume()
    assert stream.stats.tokens is None


@pytest.mark.parametrize("value", [21, -1])
def test_top_logprobs_out_of_range_names_the_setting(bot, value):
    with pytest.raises(ValueError, match=r"setting 'top_logprobs' must be int from 0 to 20"):
        bot.stream(Q, logprobs=True, top_logprobs=value)


def test_beam_search_says_logprobs_are_unavailable(bot):
    stream = bot.stream(Q, logprobs=True, num_beams=2, do_sample=False, max_new_tokens=4)
    stream.consume()
    assert stream.stats.tokens is None and "beam search" in stream.stats.logprobs_unavailable


def test_a_bot_without_probabilities_says_so_without_failing():
    from chatzoo_widget.testing.scripted import ScriptedBOT

    stream = ScriptedBOT().stream(Q, logprobs=True)
    assert stream.consume()
    assert stream.stats.finish_reason == "stop"
    assert "reports no token probabilities" in stream.stats.logprobs_unavailable
