"""MOSS on transformers' CodeGen classes, without its repository's code: token-for-token parity with the original.

The expected ids in fixtures/parity_moss.json were produced by MOSS's original code on transformers 4.33.3
(fp32, CPU) from the same tiny checkpoint (see fixtures/make_parity_fixtures.py).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from chatzoo_widget.registry import load_bot
from chatzoo_widget.testing.legacy_checkpoints import MOSS_PARITY_CASES, fingerprint, write_moss_checkpoint

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "parity_moss.json").read_text(encoding="utf-8"))
N = FIXTURE["new_tokens"]


@pytest.fixture(scope="module")
def moss_dir(tmp_path_factory):
    return write_moss_checkpoint(tmp_path_factory.mktemp("moss") / "moss-moon-003-sft")


@pytest.fixture(scope="module")
def moss_bot(moss_dir):
    return load_bot(moss_dir)


def prompt_ids(bot, case):
    _, prompt_kwargs, _ = bot.merge_settings(case.get("settings", {}))
    return bot.get_input(bot.build_prompt(case["query"], prompt_kwargs))


def greedy(bot, inputs, **kwargs):
    out = bot.model.generate(**inputs, do_sample=False, max_new_tokens=N, eos_token_id=bot.eom_token_id,
                             pad_token_id=bot.tokenizer.eos_token_id, **kwargs)
    return out[0, inputs["input_ids"].shape[-1]:].tolist()


def test_the_checkpoint_is_the_one_the_fixtures_were_recorded_on(moss_dir):
    assert fingerprint(moss_dir) == FIXTURE["checkpoint_fingerprint"], \
        "legacy_checkpoints changed: regenerate tests/fixtures with make_parity_fixtures.py"
    assert set(FIXTURE["cases"]) == set(MOSS_PARITY_CASES)


def test_loads_on_codegen_with_a_standard_tokenizer(moss_bot, moss_dir):
    from transformers import CodeGenForCausalLM, GPT2Tokenizer

    assert moss_bot.native and isinstance(moss_bot.model, CodeGenForCausalLM)
    assert isinstance(moss_bot.tokenizer, GPT2Tokenizer)
    added = json.loads((moss_dir / "added_tokens.json").read_text())
    assert moss_bot.eom_token_id == added["<eom>"]
    assert all(moss_bot.tokenizer.convert_tokens_to_ids(t) == i for t, i in added.items())


@pytest.mark.parametrize("name", sorted(MOSS_PARITY_CASES))
def test_prompt_ids_and_greedy_reply_match_the_original(moss_bot, name):
    expected = FIXTURE["cases"][name]
    inputs = prompt_ids(moss_bot, MOSS_PARITY_CASES[name])
    assert inputs["input_ids"][0].tolist() == expected["prompt_ids"]
    assert greedy(moss_bot, inputs) == expected["reply_ids"]


def test_added_tokens_swallow_the_whitespace_next_to_them(moss_bot):
    """As under transformers 4, where MOSS's tokenizer ran: the newline between <eoh> and <|MOSS|> is not encoded."""
    tok = moss_bot.tokenizer
    assert tok("hi<eoh>\n<|MOSS|>:")["input_ids"] == tok("hi<eoh><|MOSS|>:")["input_ids"]
    assert tok("a \n<eoh>")["input_ids"] == tok("a<eoh>")["input_ids"]


def test_chat_answers_with_the_greedy_reply(moss_bot):
    case = MOSS_PARITY_CASES["chinese"]
    ids = FIXTURE["cases"]["chinese"]["reply_ids"]
    expected = moss_bot.process_response(moss_bot.tokenizer.decode(ids, skip_special_tokens=True))
    reply = moss_bot.chat(case["query"], do_sample=False, repetition_penalty=1.0, max_new_tokens=N)
    assert reply == expected


@pytest.mark.parametrize("bits", ["8bit", "4bit"])
def test_bitsandbytes_loads_and_answers(moss_dir, bits):
    import bitsandbytes as bnb

    bot = load_bot(moss_dir, quantization=bits)
    kind = bnb.nn.Linear8bitLt if bits == "8bit" else bnb.nn.Linear4bit
    assert len([m for m in bot.model.modules() if isinstance(m, kind)]) == 4 * 2  # qkv, out, fc_in, fc_out x 2
    reply = bot.chat(MOSS_PARITY_CASES["hello"]["query"], do_sample=False, max_new_tokens=8)
    assert isinstance(reply, str) and bot.last_stats.new_tokens > 0


def test_the_repository_code_is_never_imported(moss_dir, tmp_path):
    folder = Path(shutil.copytree(moss_dir, tmp_path / "with-code"))
    for name in ("configuration_moss.py", "modeling_moss.py", "tokenization_moss.py", "quantization.py"):
        (folder / name).write_text("raise RuntimeError('the repository code was imported')\n")
    bot = load_bot(folder)
    assert bot.native and bot.chat(MOSS_PARITY_CASES["hello"]["query"], max_new_tokens=4) is not None


def test_gptq_repositories_point_to_bitsandbytes(moss_dir, tmp_path):
    with pytest.raises(ValueError, match="GPTQ.*Load 'moss-int4' instead"):
        load_bot("fnlp/moss-moon-003-sft-int4")
    with pytest.raises(ValueError, match="GPTQ.*Load 'moss-int8' instead"):
        load_bot("fnlp/moss-moon-003-sft-plugin-int8")
    folder = Path(shutil.copytree(moss_dir, tmp_path / "gptq"))
    cfg = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**cfg, "wbits": 4}))
    with pytest.raises(ValueError, match="GPTQ.*'moss-int4'"):
        load_bot(folder)
