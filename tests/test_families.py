"""Seed families: the exact prompt of [HUMAN q1, BOT a1, HUMAN q2] for each, built through load_bot(folder,
type=FAMILY) as users do, and a generated, post-processed reply."""

from __future__ import annotations

import pytest

from chatzoo_widget.registry import load_bot

Q = [
    {"role": "HUMAN", "content": "q1"},
    {"role": "BOT", "content": "a1"},
    {"role": "HUMAN", "content": "q2"},
]

MOSS_META_START = "You are an AI assistant whose name is MOSS.\n- MOSS is a conversational language model"
GODEL_INSTRUCTION = "Instruction: given a dialog context, you need to response empathically."

EXPECTED = {
    "chat": "<|im_start|>user\nq1<|im_end|>\n<|im_start|>assistant\na1<|im_end|>\n"
            "<|im_start|>user\nq2<|im_end|>\n<|im_start|>assistant\n",
    "moss": "<|Human|>: q1<eoh>\n<|MOSS|>: a1<eoa>\n<|Human|>: q2<eoh>\n<|MOSS|>:",
    "chatglm": "[Round 0]\n问：q1\n答：a1\n[Round 1]\n问：q2\n答：",
    "firefly": "<s>q1</s></s>a1</s><s>q2</s></s>",
    "godel": f"{GODEL_INSTRUCTION} [CONTEXT] q1 EOS a1 EOS q2",
}
FAMILIES = list(EXPECTED)


@pytest.fixture(scope="module")
def bots(tiny_dirs):
    return {family: load_bot(tiny_dirs[family], type=family) for family in FAMILIES}


def prompt_of(bot, query, **settings):
    _, prompt_kwargs, _ = bot.merge_settings(settings)
    return bot.build_prompt(query, prompt_kwargs)


@pytest.mark.parametrize("family", FAMILIES)
def test_exact_prompt(bots, family):
    bot = bots[family]
    assert bot.family == family
    prompt = prompt_of(bot, Q)
    if family == "moss":  # the meta instruction comes first by default
        assert prompt.startswith(MOSS_META_START)
        assert prompt.endswith("Capabilities and tools that MOSS can possess.\n" + EXPECTED["moss"])
        assert prompt_of(bot, Q, system_prompt="") == EXPECTED["moss"]
    else:
        assert prompt == EXPECTED[family]


@pytest.mark.parametrize("family", FAMILIES)
def test_model_sees_that_prompt(bots, family):
    """The token count the reply reports is the count of the family's prompt, tokenized the family's way."""
    bot = bots[family]
    stream = bot.stream(Q, max_new_tokens=3, do_sample=False)
    stream.consume()
    ids = bot.tokenizer(prompt_of(bot, Q), add_special_tokens=bot.add_special_tokens)["input_ids"]
    assert stream.stats.prompt_tokens == len(ids) > 0


@pytest.mark.parametrize("family", FAMILIES)
def test_generates_and_post_processes_a_reply(bots, family):
    bot = bots[family]
    reply = bot.chat(Q, max_new_tokens=8, do_sample=False)
    assert isinstance(reply, str) and reply.strip()
    assert reply == reply.strip()
    for special in ("</s>", "<s>", "<pad>", "<eom>", "<eoa>", "<|MOSS|>", "<|im_end|>", "\ufffd"):
        assert special not in reply
    assert bot.last_stats.new_tokens == 8 and bot.last_stats.finish_reason == "length"


def test_process_response_rules(bots):
    assert bots["firefly"].process_response(" Hello</s>") == "Hello"
    assert bots["godel"].process_response("<pad> Hi there</s>") == "Hi there"
    assert bots["moss"].process_response(" Hello!<eom>") == "Hello!"
    assert bots["moss"].process_response("Sure<eoa>\n<|Human|>:") == "Sure\n:"
    assert bots["chatglm"].process_response("  你好,世界!ok, fine? 好?  ") == "你好，世界！ok, fine? 好？"
    assert bots["chat"].process_response("\n hi \n") == "hi"


def test_moss_stops_at_eom_read_from_the_tokenizer(bots):
    bot = bots["moss"]
    eom = bot.tokenizer.convert_tokens_to_ids("<eom>")
    assert eom != bot.tokenizer.eos_token_id
    gen, _, _ = bot.merge_settings({"max_new_tokens": 5})
    assert gen["eos_token_id"] == eom
    assert bot.settings_spec()["system_prompt"].default.startswith(MOSS_META_START)


def test_firefly_stops_at_tokenizer_eos(bots):
    bot = bots["firefly"]
    gen, _, _ = bot.merge_settings({})
    assert gen["eos_token_id"] == bot.tokenizer.eos_token_id == bot.tokenizer.convert_tokens_to_ids("</s>")
    # the prompt's <s> and </s> are the special tokens themselves, and nothing is added around them
    ids = bot.get_input(prompt_of(bot, Q))["input_ids"][0].tolist()
    assert ids[0] == bot.tokenizer.bos_token_id and ids[-1] == bot.tokenizer.eos_token_id


def test_chatglm_rounds_count_human_turns(bots):
    q = [{"role": "HUMAN", "content": "一"}, {"role": "BOT", "content": "1"}, {"role": "HUMAN", "content": "二"},
         {"role": "BOT", "content": "2"}, {"role": "HUMAN", "content": "三"}]
    assert prompt_of(bots["chatglm"], q) == (
        "[Round 0]\n问：一\n答：1\n[Round 1]\n问：二\n答：2\n[Round 2]\n问：三\n答："
    )
    assert "system_prompt" not in bots["chatglm"].settings_spec()
    with pytest.raises(ValueError, match="system_prompt"):
        bots["chatglm"].stream(Q, system_prompt="x")


def test_godel_knowledge_and_instruction(bots):
    bot = bots["godel"]
    assert prompt_of(bot, Q, knowledge="Paris is in France.") == EXPECTED["godel"] + " [KNOWLEDGE] Paris is in France."
    assert prompt_of(bot, Q, system_prompt="Instruction: be short.").startswith("Instruction: be short. [CONTEXT] q1")
    assert bot.seq2seq and bot.model.config.is_encoder_decoder
    from transformers import AutoModelForSeq2SeqLM

    assert bot.model_cls is AutoModelForSeq2SeqLM


def test_godel_reply_counts_only_generated_tokens(bots):
    bot = bots["godel"]
    stream = bot.stream(Q, max_new_tokens=4, do_sample=False)
    text = stream.consume()
    assert text and stream.stats.new_tokens == 4  # the decoder start token is not a new token


def test_system_prompt_setting_and_system_message(bots):
    chat = bots["chat"]
    assert prompt_of(chat, Q, system_prompt="Be brief.") == "<|im_start|>system\nBe brief.<|im_end|>\n" + EXPECTED["chat"]
    with_system = [{"role": "SYSTEM", "content": "From query."}] + Q
    assert prompt_of(chat, with_system, system_prompt="ignored") == (
        "<|im_start|>system\nFrom query.<|im_end|>\n" + EXPECTED["chat"]
    )
    assert prompt_of(bots["moss"], with_system) == "From query." + EXPECTED["moss"]
    assert prompt_of(bots["godel"], with_system) == "From query. [CONTEXT] q1 EOS a1 EOS q2"
    assert prompt_of(bots["chatglm"], with_system) == "From query.\n" + EXPECTED["chatglm"]


def test_chat_template_is_not_given_a_second_bos(tiny_chat_dir):
    """A template that writes BOS itself, with a tokenizer that would add BOS too: the model gets one BOS."""
    from tokenizers import processors
    from transformers import AutoTokenizer

    from chatzoo_widget.families.chat import ChatTemplateBOT

    tok = AutoTokenizer.from_pretrained(tiny_chat_dir)
    bos = tok.bos_token_id
    tok._tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{tok.bos_token} $A", special_tokens=[(tok.bos_token, bos)]
    )
    assert tok("hi")["input_ids"][0] == bos  # the tokenizer adds BOS on its own
    tok.chat_template = "{{ bos_token }}" + tok.chat_template
    bot = ChatTemplateBOT(tiny_chat_dir, tokenizer=tok)
    ids = bot.get_input(prompt_of(bot, Q))["input_ids"][0].tolist()
    assert ids.count(bos) == 1 and ids[0] == bos


def test_chatglm_remote_code_loads_through_automodel(tiny_chatglm_dir):
    """ChatGLM-6B's own code registers only AutoModel; a built-in relative loads as a causal LM."""
    from transformers import AutoModel, AutoModelForCausalLM

    from chatzoo_widget.families.chatglm import ChatGLMBOT

    bot = load_bot(tiny_chatglm_dir, type="chatglm")
    assert bot.model_cls is AutoModelForCausalLM
    bot.trust_remote_code = True
    bot._config_dict = {"model_type": "chatglm", "auto_map": {
        "AutoConfig": "configuration_chatglm.ChatGLMConfig",
        "AutoModel": "modeling_chatglm.ChatGLMForConditionalGeneration"}}
    assert isinstance(bot, ChatGLMBOT) and bot.model_cls is AutoModel
