"""ChatGLM-6B on ChatZoo's own implementation: token-for-token parity with the original code, and loading options.

The expected ids in fixtures/parity_chatglm6b.json were produced by THUDM's original code on transformers 4.33.3
(fp32, CPU) from the same tiny checkpoint (see fixtures/make_parity_fixtures.py).
"""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest
import torch

from chatzoo_widget.registry import load_bot
from chatzoo_widget.testing.legacy_checkpoints import CHATGLM_PARITY_CASES, fingerprint, write_chatglm6b_checkpoint

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "parity_chatglm6b.json").read_text(encoding="utf-8"))
N = FIXTURE["new_tokens"]


@pytest.fixture(scope="module")
def glm_dir(tmp_path_factory):
    return write_chatglm6b_checkpoint(tmp_path_factory.mktemp("glm") / "chatglm-6b")


@pytest.fixture(scope="module")
def glm_bot(glm_dir):
    return load_bot(glm_dir, dtype="float32")  # parity with the original is in fp32


def prompt_ids(bot, case):
    _, prompt_kwargs, _ = bot.merge_settings(case.get("settings", {}))
    return bot.get_input(bot.build_prompt(case["query"], prompt_kwargs))


def greedy(bot, inputs, **kwargs):
    out = bot.model.generate(**inputs, do_sample=False, max_new_tokens=N, **kwargs)
    return out[0, inputs["input_ids"].shape[-1]:].tolist()


def test_the_checkpoint_is_the_one_the_fixtures_were_recorded_on(glm_dir):
    assert fingerprint(glm_dir) == FIXTURE["checkpoint_fingerprint"], \
        "legacy_checkpoints changed: regenerate tests/fixtures with make_parity_fixtures.py"
    assert set(FIXTURE["cases"]) == set(CHATGLM_PARITY_CASES)


def test_loads_natively(glm_bot):
    from chatzoo_widget.models.chatglm6b import ChatGLM6BForCausalLM
    from chatzoo_widget.models.chatglm6b_tokenizer import ChatGLM6BTokenizer

    assert type(glm_bot).__name__ == "ChatGLMBOT" and glm_bot.native and glm_bot.batchable is False
    assert isinstance(glm_bot.model, ChatGLM6BForCausalLM) and isinstance(glm_bot.tokenizer, ChatGLM6BTokenizer)
    assert glm_bot.model.lm_head.weight is glm_bot.model.transformer.word_embeddings.weight  # tied, as published
    assert glm_bot.describe()["context_length"] == 2048


@pytest.mark.parametrize("name", sorted(CHATGLM_PARITY_CASES))
def test_prompt_ids_and_greedy_reply_match_the_original(glm_bot, name):
    expected = FIXTURE["cases"][name]
    inputs = prompt_ids(glm_bot, CHATGLM_PARITY_CASES[name])
    assert inputs["input_ids"][0].tolist() == expected["prompt_ids"]
    assert greedy(glm_bot, inputs) == expected["reply_ids"]


def test_the_kv_cache_changes_nothing(glm_bot):
    for name in ("multi_turn", "newlines_tabs_spaces"):
        inputs = prompt_ids(glm_bot, CHATGLM_PARITY_CASES[name])
        assert greedy(glm_bot, inputs, use_cache=False) == FIXTURE["cases"][name]["reply_ids"]


def test_left_padded_batch_answers_like_each_prompt_alone(glm_bot):
    tok, names = glm_bot.tokenizer, ["hello", "multi_turn"]
    prompts = [tok.decode(FIXTURE["cases"][n]["prompt_ids"][:-2]) for n in names]
    rows = [tok(p)["input_ids"] for p in prompts]
    assert rows == [FIXTURE["cases"][n]["prompt_ids"] for n in names]
    width = max(map(len, rows))
    ids = torch.tensor([[tok.pad_token_id] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    out = glm_bot.model.generate(input_ids=ids, attention_mask=mask, do_sample=False, max_new_tokens=N)
    for row, name in zip(out[:, width:].tolist(), names):
        expected = FIXTURE["cases"][name]["reply_ids"]
        eos = tok.eos_token_id
        assert row[:len(expected)] == expected or (eos in expected and row[:expected.index(eos) + 1] ==
                                                   expected[:expected.index(eos) + 1])


def test_chat_streams_the_greedy_reply_and_stops(glm_bot):
    case = CHATGLM_PARITY_CASES["hello"]
    ids = FIXTURE["cases"]["hello"]["reply_ids"]
    expected = glm_bot.process_response(glm_bot.tokenizer.decode(ids, skip_special_tokens=True))
    stream = glm_bot.stream(case["query"], do_sample=False, max_new_tokens=N)
    assert "".join(stream) == expected == stream.text
    assert stream.stats.finish_reason in ("length", "stop")
    stop = threading.Event()
    stream = glm_bot.stream(case["query"], stop_event=stop, do_sample=False, max_new_tokens=200)
    for _ in stream:
        stop.set()
    assert stream.stats.finish_reason == "cancelled"


def test_tokenizer_whitespace_rules(glm_bot):
    tok = glm_bot.tokenizer
    pieces = tok.tokenize("a\nb\tc" + " " * 85 + "d")
    assert "<n>" in pieces and "<|tab|>" in pieces and "<|blank_80|>" in pieces and "<|blank_5|>" in pieces
    text = "第一行\n\tindented  two   three" + " " * 90 + "end"
    assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text


@pytest.mark.parametrize("bits", ["8bit", "4bit"])
def test_bitsandbytes_loads_and_answers(glm_dir, bits):
    import bitsandbytes as bnb

    bot = load_bot(glm_dir, quantization=bits)
    kind = bnb.nn.Linear8bitLt if bits == "8bit" else bnb.nn.Linear4bit
    quantized = [m for m in bot.model.modules() if isinstance(m, kind)]
    assert len(quantized) == 4 * 2  # qkv, dense, h_to_4h, 4h_to_h in each of the 2 layers
    reply = bot.chat(CHATGLM_PARITY_CASES["chinese"]["query"], do_sample=False, max_new_tokens=8)
    assert isinstance(reply, str) and bot.last_stats.new_tokens > 0


def test_device_map_keeps_blocks_whole_and_offloads(glm_dir, tmp_path):
    bot = load_bot(glm_dir, device_map="auto", max_memory={"cpu": "300KB"}, offload_folder=tmp_path / "offload")
    plan = bot.device_map_plan
    assert plan and "disk" in set(map(str, plan.values()))
    assert bot.no_split_module_classes == ["ChatGLM6BBlock"]
    assert not any(k.startswith("transformer.layers.") and k.count(".") > 2 for k in plan), plan
    inputs = prompt_ids(bot, CHATGLM_PARITY_CASES["hello"])
    assert greedy(bot, inputs) == FIXTURE["cases"]["hello"]["reply_ids"]


def test_the_repository_code_is_never_imported(glm_dir, tmp_path):
    folder = Path(shutil.copytree(glm_dir, tmp_path / "with-code"))
    for name in ("configuration_chatglm.py", "modeling_chatglm.py", "tokenization_chatglm.py", "quantization.py"):
        (folder / name).write_text("raise RuntimeError('the repository code was imported')\n")
    bot = load_bot(folder)
    assert bot.native and bot.chat(CHATGLM_PARITY_CASES["hello"]["query"], max_new_tokens=4) is not None


@pytest.mark.parametrize("config, named", [
    ({"_name_or_path": "THUDM/chatglm2-6b", "padded_vocab_size": 65024, "multi_query_attention": True,
      "ffn_hidden_size": 13696, "kv_channels": 128, "seq_length": 32768}, "ChatGLM2-6B / ChatGLM3-6B"),
    ({"_name_or_path": "THUDM/glm-4-9b-chat", "padded_vocab_size": 151552, "multi_query_attention": True,
      "seq_length": 131072}, "GLM-4"),
])
def test_later_chatglm_generations_are_named(tmp_path, config, named):
    folder = tmp_path / "glm"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "chatglm", "num_layers": 2, **config}))
    (folder / "pytorch_model.bin").write_bytes(b"")
    with pytest.raises(ValueError, match=f"is a {named}.*not ChatGLM-6B"):
        load_bot(folder)


def test_pre_quantized_thudm_checkpoints_point_to_bitsandbytes(glm_dir, tmp_path):
    folder = Path(shutil.copytree(glm_dir, tmp_path / "int4"))
    cfg = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**cfg, "quantization_bit": 4}))
    with pytest.raises(ValueError, match="quantization='4bit'"):
        load_bot(folder)
