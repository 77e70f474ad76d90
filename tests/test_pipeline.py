"""The streaming pipeline of TransformersChatBOT on a tiny model: deltas, stop, statistics, settings, history."""

from __future__ import annotations

import threading
import time

import pytest

from chatzoo_widget.registry import load_bot

Q = [{"role": "HUMAN", "content": "Hello, how are you?"}]
GREEDY = dict(max_new_tokens=16, do_sample=False)


def generate_threads():
    return [t for t in threading.enumerate() if t.name.startswith("chatzoo-generate") and t.is_alive()]


@pytest.fixture
def fresh_bot(tiny_chat_dir):
    """A bot of its own, for tests that patch it."""
    return load_bot(tiny_chat_dir, type="chat")


@pytest.fixture
def slow_bot(fresh_bot):
    """Each forward pass takes 20 ms and is counted, so a test can see exactly when generation stops."""
    calls = []

    def hook(module, args, kwargs):
        calls.append(time.perf_counter())
        time.sleep(0.02)

    handle = fresh_bot.model.register_forward_pre_hook(hook, with_kwargs=True)
    fresh_bot.forward_calls = calls
    yield fresh_bot
    handle.remove()


def record_generate(bot):
    """Wrap bot.generate to record its kwargs and thread."""
    seen = []
    original = bot.generate

    def generate(input_dict, gen_kwargs):
        import torch

        seen.append({"gen_kwargs": dict(gen_kwargs), "thread": threading.current_thread(),
                     "num_threads": torch.get_num_threads()})
        return original(input_dict, gen_kwargs)

    bot.generate = generate
    return seen


# ----- deltas --------------------------------------------------------------------------------------
def test_stream_deltas_concatenate_to_the_chat_reply(tiny_bot):
    stream = tiny_bot.stream(Q, **GREEDY)
    deltas = list(stream)
    reply = tiny_bot.chat(Q, **GREEDY)
    assert len(deltas) > 3  # token by token, not one chunk
    assert all(deltas)
    assert "".join(deltas) == stream.text == reply != ""


def test_stream_of_every_family_concatenates_to_its_reply(tiny_dirs):
    for family, folder in tiny_dirs.items():
        bot = load_bot(folder, type=family)
        stream = bot.stream([{"role": "HUMAN", "content": "你好, hello"}], max_new_tokens=12, do_sample=False)
        assert "".join(stream) == bot.chat([{"role": "HUMAN", "content": "你好, hello"}], max_new_tokens=12,
                                           do_sample=False), family


def test_visible_text_holds_back_what_may_change(tiny_bot, tiny_dirs):
    assert tiny_bot.visible_text("Hello \n") == "Hello"
    assert tiny_bot.visible_text("caf\ufffd") == "caf"  # half a UTF-8 character waits
    firefly = load_bot(tiny_dirs["firefly"], type="firefly")
    assert firefly.visible_text("Hi </") == "Hi"  # may be the start of </s>, which is removed
    chatglm = load_bot(tiny_dirs["chatglm"], type="chatglm")
    assert chatglm.visible_text("你好,") == "你好"  # may turn full width


# ----- stop ----------------------------------------------------------------------------------------
def test_stop_event_ends_within_one_token_and_frees_the_model(slow_bot):
    stop = threading.Event()
    stream = slow_bot.stream(Q, stop_event=stop, max_new_tokens=200, do_sample=False)
    next(stream)
    calls_at_stop = len(slow_bot.forward_calls)
    t0 = time.perf_counter()
    stop.set()
    rest = list(stream)
    elapsed = time.perf_counter() - t0
    assert len(slow_bot.forward_calls) - calls_at_stop <= 1
    assert elapsed < 0.5  # 200 tokens at 20 ms would take 4 s
    assert stream.stats.finish_reason == "cancelled"
    assert stream.stats.new_tokens < 10
    assert len(rest) <= 2
    assert generate_threads() == []


def test_closing_the_stream_early_stops_the_worker(slow_bot):
    stream = slow_bot.stream(Q, max_new_tokens=200, do_sample=False)
    next(stream)
    t0 = time.perf_counter()
    stream.close()
    assert time.perf_counter() - t0 < 0.5
    assert generate_threads() == []
    assert stream.stats.finish_reason == "cancelled"
    n = len(slow_bot.forward_calls)
    time.sleep(0.1)
    assert len(slow_bot.forward_calls) == n  # nothing runs after close


def test_stop_before_start_generates_nothing_more_than_one_token(fresh_bot):
    stop = threading.Event()
    stop.set()
    stream = fresh_bot.stream(Q, stop_event=stop, max_new_tokens=50)
    stream.consume()
    assert stream.stats.finish_reason == "cancelled"
    assert stream.stats.new_tokens <= 1


def test_generation_runs_in_a_worker_thread_and_leaves_the_callers_threads_alone(fresh_bot):
    import torch

    before = torch.get_num_threads()
    seen = record_generate(fresh_bot)
    fresh_bot.stream(Q, **GREEDY).consume()
    assert seen[0]["thread"] is not threading.current_thread()
    assert torch.get_num_threads() == before


# ----- statistics ----------------------------------------------------------------------------------
def test_statistics_of_a_reply_cut_by_length(tiny_bot):
    stream = tiny_bot.stream(Q, max_new_tokens=10, do_sample=False)
    stream.consume()
    s = stream.stats
    prompt = tiny_bot.build_prompt(Q, tiny_bot.merge_settings({})[1])
    assert s.prompt_tokens == len(tiny_bot.tokenizer(prompt, add_special_tokens=False)["input_ids"])
    assert s.new_tokens == 10
    assert s.finish_reason == "length"
    assert 0 < s.time_to_first_token <= s.total_time
    assert s.tokens_per_second and s.tokens_per_second > 0
    assert s.dropped_turns == 0 and s.error is None


def test_finish_reason_stop_at_eos(fresh_bot):
    out = fresh_bot.stream(Q, max_new_tokens=20, do_sample=False)
    out.consume()
    ids = fresh_bot.tokenizer(out.text, add_special_tokens=False)["input_ids"]
    eos = ids[min(3, len(ids) - 1)]  # a token the model is about to emit becomes its end of reply
    fresh_bot.extra_settings = lambda: {"eos_token_id": eos}
    stream = fresh_bot.stream(Q, max_new_tokens=20, do_sample=False)
    stream.consume()
    assert stream.stats.finish_reason == "stop"
    assert stream.stats.new_tokens <= 5 < 20


def test_finish_reason_error(fresh_bot):
    def broken(input_dict, gen_kwargs):
        raise RuntimeError("boom in generate")

    fresh_bot.generate = broken
    stream = fresh_bot.stream(Q, **GREEDY)
    with pytest.raises(RuntimeError, match="boom in generate"):
        stream.consume()
    assert stream.stats.finish_reason == "error"
    assert "boom in generate" in stream.stats.error
    assert generate_threads() == []


# ----- settings ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "settings, match",
    [
        ({"temprature": 0.5}, "unknown setting 'temprature'"),
        ({"max_new_tokens": "10"}, "'max_new_tokens' must be int from 1 to 4096"),
        ({"do_sample": 1}, "'do_sample' must be true or false"),
        ({"temperature": 5.0}, "'temperature' must be float from 0 to 2"),
        ({"top_p": -0.1}, "'top_p' must be float from 0 to 1"),
        ({"max_new_tokens": 0}, "'max_new_tokens' must be int from 1 to 4096"),
    ],
)
def test_bad_settings_fail_before_any_model_work(fresh_bot, settings, match):
    seen = record_generate(fresh_bot)
    calls = []
    fresh_bot.get_prompt = lambda *a, **k: calls.append(a)
    with pytest.raises(ValueError, match=match):
        fresh_bot.stream(Q, **settings)  # raised at the call, not when iterating
    assert seen == [] and calls == []


def test_settings_are_merged_on_a_copy(fresh_bot):
    seen = record_generate(fresh_bot)
    before = fresh_bot.default_settings()
    fresh_bot.chat(Q, max_new_tokens=3, temperature=1.5, top_k=7, seed=1)
    fresh_bot.chat(Q, max_new_tokens=3, seed=1)
    assert fresh_bot.default_settings() == before
    assert seen[0]["gen_kwargs"]["temperature"] == 1.5 and seen[0]["gen_kwargs"]["top_k"] == 7
    assert seen[1]["gen_kwargs"]["temperature"] == before["temperature"]
    assert seen[1]["gen_kwargs"]["top_k"] == before["top_k"]
    assert "seed" not in seen[0]["gen_kwargs"]  # a pipeline control, not a generate kwarg


def test_extra_settings_win(fresh_bot):
    fresh_bot.extra_settings = lambda: {"max_new_tokens": 3}
    stream = fresh_bot.stream(Q, max_new_tokens=12, do_sample=False)
    stream.consume()
    assert stream.stats.new_tokens == 3


def test_greedy_drops_sampling_settings(fresh_bot):
    seen = record_generate(fresh_bot)
    greedy = fresh_bot.chat(Q, max_new_tokens=8, do_sample=False, temperature=1.3)
    zero_temp = fresh_bot.chat(Q, max_new_tokens=8, do_sample=True, temperature=0.0)
    for call in seen:
        assert call["gen_kwargs"]["do_sample"] is False
        assert not {"temperature", "top_p", "top_k"} & set(call["gen_kwargs"])
    assert greedy == zero_temp


def test_seed_makes_sampling_repeatable(tiny_bot):
    a = tiny_bot.chat(Q, max_new_tokens=12, do_sample=True, temperature=1.5, top_k=0, seed=123)
    b = tiny_bot.chat(Q, max_new_tokens=12, do_sample=True, temperature=1.5, top_k=0, seed=123)
    others = {tiny_bot.chat(Q, max_new_tokens=12, do_sample=True, temperature=1.5, top_k=0, seed=s) for s in (1, 2, 3)}
    assert a == b
    assert len(others | {a}) > 1


def test_beam_search_replies_in_one_chunk(tiny_bot):
    stream = tiny_bot.stream(Q, max_new_tokens=6, do_sample=False, num_beams=2)
    deltas = list(stream)
    assert len(deltas) == 1 and deltas[0]
    assert stream.stats.new_tokens == 6


# ----- bad queries and long histories --------------------------------------------------------------
@pytest.mark.parametrize(
    "query, match",
    [
        ([], "non-empty list"),
        ([{"role": "HUMAN", "content": "hi"}, {"role": "BOT", "content": "hello"}], "must end with a HUMAN turn"),
        ([{"role": "USER", "content": "hi"}], "unknown role 'USER'"),
        ([{"role": "HUMAN", "content": 3}], "must be a string"),
        ([{"role": "HUMAN"}], "must be a dict with 'role' and 'content'"),
    ],
)
def test_bad_queries(tiny_bot, query, match):
    with pytest.raises(ValueError, match=match):
        tiny_bot.stream(query)


def long_history(pairs, words=60):
    q = []
    for i in range(pairs):
        q.append({"role": "HUMAN", "content": f"question {i}: " + "hello world " * words})
        q.append({"role": "BOT", "content": f"answer {i}: " + "fine thanks " * words})
    return q + [{"role": "HUMAN", "content": "last question?"}]


def test_over_long_history_drops_the_oldest_turns(fresh_bot):
    fresh_bot.model.config.max_position_embeddings = 600  # a short context for the test
    assert fresh_bot.context_length == 600
    query = long_history(8)
    stream = fresh_bot.stream(query, max_new_tokens=8, do_sample=False)
    text = stream.consume()
    s = stream.stats
    assert text and s.finish_reason == "length"
    assert s.dropped_turns > 0 and s.dropped_turns % 2 == 0  # whole HUMAN/BOT pairs, oldest first
    assert s.prompt_tokens <= 600 - 8
    kept = query[s.dropped_turns:]
    prompt = fresh_bot.build_prompt(kept, fresh_bot.merge_settings({})[1])
    assert s.prompt_tokens == len(fresh_bot.tokenizer(prompt, add_special_tokens=False)["input_ids"])
    # one pair more would not have fit
    wider = fresh_bot.build_prompt(query[s.dropped_turns - 2:], fresh_bot.merge_settings({})[1])
    assert len(fresh_bot.tokenizer(wider, add_special_tokens=False)["input_ids"]) > 600 - 8


def test_last_turn_too_long_is_a_clear_error(fresh_bot):
    fresh_bot.model.config.max_position_embeddings = 100
    query = [{"role": "HUMAN", "content": "hello world " * 200}]
    stream = fresh_bot.stream(query, max_new_tokens=20)
    with pytest.raises(ValueError, match=r"prompt of \d+ tokens.*room for 80 \(100 tokens of context minus "
                                         r"max_new_tokens=20\)"):
        stream.consume()
    assert stream.stats.finish_reason == "error"
