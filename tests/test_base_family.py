"""The "base" family on a tiny model without a chat template: the transcript prompt, the stop at the user's next
line (also while streaming), and a column labelled as a base model."""

from __future__ import annotations

import time

import pytest

from chatzoo_widget.registry import load_bot

Q = [
    {"role": "HUMAN", "content": "q1"},
    {"role": "BOT", "content": "a1"},
    {"role": "HUMAN", "content": "q2"},
]
ASK = [{"role": "HUMAN", "content": "Where is Paris?"}]
#: what the scripted model writes after "Assistant:", over and over: an answer, then the user's next line
SCRIPT = " Paris.\nUser:"


@pytest.fixture(scope="module")
def no_template_dir(tmp_path_factory):
    from chatzoo_widget.testing.tiny_models import build_chat

    return build_chat(tmp_path_factory.mktemp("base") / "no-template", chat_template=None)


@pytest.fixture(scope="module")
def bot(no_template_dir):
    return load_bot(no_template_dir, type="base", name="tiny-base")


def script_model(model, tokenizer, text: str) -> int:
    """Set a tiny Qwen2's weights so that greedy decoding writes `text`'s tokens in a loop, each token chosen by the
    one before it (attention and MLP outputs zeroed: the last token's embedding alone picks the next token).
    Returns the number of tokens in one round of the loop."""
    import torch

    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert len(set(ids)) == len(ids) <= model.config.hidden_size, "each scripted token must be distinct"
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        model.model.norm.weight.fill_(1.0)
        embed, head = model.model.embed_tokens.weight, model.lm_head.weight
        head.zero_()
        for k, (tok, nxt) in enumerate(zip(ids, ids[1:] + ids[:1])):
            embed[tok] = 0.0
            embed[tok, k] = 1.0
            head[nxt, k] = 10.0
    model.generation_config.suppress_tokens = None  # the tiny model's defaults forbid "\n" and " "
    model.generation_config.begin_suppress_tokens = None
    return len(ids)


def scripted(folder, script: str):
    bot = load_bot(folder, type="base", name="scripted-base")
    # The prompt ends with "Assistant:", whose ":" is the script's last token: the loop starts at its first token.
    bot.round_tokens = script_model(bot.model, bot.tokenizer, script)
    return bot


@pytest.fixture(scope="module")
def scripted_bot(no_template_dir):
    return scripted(no_template_dir, SCRIPT)


def prompt_of(bot, query, **settings):
    _, prompt_kwargs, _ = bot.merge_settings(settings)
    return bot.build_prompt(query, prompt_kwargs)


def test_prompt_is_a_plain_transcript(bot):
    assert bot.family == "base"
    assert prompt_of(bot, Q) == "User: q1\nAssistant: a1\nUser: q2\nAssistant:"


def test_system_prompt_is_the_first_line(bot):
    expected = "Answer briefly.\nUser: q1\nAssistant: a1\nUser: q2\nAssistant:"
    assert prompt_of(bot, Q, system_prompt="Answer briefly.") == expected
    assert prompt_of(bot, [{"role": "SYSTEM", "content": "Answer briefly."}, *Q]) == expected


def test_the_model_sees_that_prompt(bot):
    stream = bot.stream(Q, max_new_tokens=2, do_sample=False)
    stream.consume()
    assert stream.stats.prompt_tokens == len(bot.tokenizer(prompt_of(bot, Q))["input_ids"])


def test_reply_ends_where_the_model_starts_the_users_next_line(scripted_bot):
    reply = scripted_bot.chat(ASK, max_new_tokens=60, do_sample=False)
    assert reply == "Paris."
    stats = scripted_bot.last_stats
    # Generation stopped at the stop text instead of writing both sides up to max_new_tokens, in the batch.
    assert stats.new_tokens < 2 * scripted_bot.round_tokens, "generation ran on past the stop text"
    assert stats.finish_reason == "stop" and stats.batched


def test_the_stop_text_never_shows_while_streaming(scripted_bot):
    shown = []
    stream = scripted_bot.stream(ASK, max_new_tokens=60, do_sample=False)
    for delta in stream:
        shown.append((shown[-1] if shown else "") + delta)
    assert shown and shown[-1] == stream.text == "Paris."
    assert all("Paris.".startswith(text) for text in shown), shown


def test_a_reply_that_starts_with_the_users_line_is_empty(no_template_dir):
    bot = scripted(no_template_dir, "\nUser:")
    assert bot.chat(ASK, max_new_tokens=60, do_sample=False) == ""
    assert bot.last_stats.finish_reason == "stop" and bot.last_stats.new_tokens < 2 * bot.round_tokens


def test_only_a_new_user_line_ends_the_reply(bot):
    # process_response strips the answer and leaves a stop text to the stop strings (which cut it off).
    assert bot.process_response(" Paris.\n\nUsers often ask this. ") == "Paris.\n\nUsers often ask this."
    assert bot.process_response(" Paris. \nUser: and Rome?") == "Paris.\nUser: and Rome?"
    assert bot.process_response("\nUs") == "\nUs"  # may become a stop text: not stripped to "Us"
    assert bot.process_response(" Paris.\n") == "Paris."


def test_column_is_labelled_as_a_base_model(no_template_dir):
    from chatzoo_widget import ChatZooWidget

    w = ChatZooWidget([{"name": "b", "model": str(no_template_dir), "type": "base"}])
    try:
        assert w.wait(timeout=120)
        deadline = time.monotonic() + 30  # the synced state follows the load in a callback
        while w.columns[0]["status"] == "loading" and time.monotonic() < deadline:
            time.sleep(0.05)
        (column,) = w.columns
        assert column["status"] != "error", column["error"]
        assert column["family"] == "base model"
        assert "system_prompt" in [s["name"] for s in column["spec"]]
    finally:
        w.close()


def test_no_chat_template_error_names_the_base_family(no_template_dir):
    with pytest.raises(ValueError, match='has no chat template.*type="base" for a base model'):
        load_bot(no_template_dir)
