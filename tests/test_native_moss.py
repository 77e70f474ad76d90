"""MOSS on transformers' CodeGen classes, without its repository's code: token-for-token parity with the original.

The expected ids in fixtures/parity_moss*.json were produced by MOSS's original code on transformers 4.33.3
(fp32, CPU) from the same tiny checkpoints (see fixtures/make_parity_fixtures.py): one per tokenizer layout, the
hub's (every special token <|endoftext|>, in vocab.json) and tokenizers re-saved by the original class, whose
special tokens are added tokens (its default eos <eom>; bos / eos / pad all added).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from chatzoo_widget.models.moss_tokenizer import TOKENIZER_FILES, moss_tokenizer
from chatzoo_widget.registry import load_bot
from chatzoo_widget.testing.legacy_checkpoints import (
    MOSS_PARITY_CASES,
    MOSS_TOKENIZER_LAYOUTS,
    fingerprint,
    write_moss_checkpoint,
)

FIXTURES = {layout: json.loads((Path(__file__).parent / "fixtures" / name).read_text(encoding="utf-8"))
            for layout, name in [("hub", "parity_moss.json"),
                                 *((layout, f"parity_moss_{layout}.json") for layout in MOSS_TOKENIZER_LAYOUTS)]}
N = FIXTURES["hub"]["new_tokens"]
LAYOUTS = sorted(FIXTURES)


@pytest.fixture(scope="module")
def layout_dir(tmp_path_factory):
    """layout -> a tiny MOSS checkpoint with that tokenizer layout (written once per module)."""
    root, made = tmp_path_factory.mktemp("moss-layouts"), {}

    def get(layout: str) -> Path:
        if layout not in made:
            made[layout] = write_moss_checkpoint(root / layout / "moss-moon-003-sft", tokenizer_layout=layout)
        return made[layout]
    return get


@pytest.fixture(scope="module")
def layout_bot(layout_dir):
    bots = {}

    def get(layout: str):
        if layout not in bots:
            bots[layout] = load_bot(layout_dir(layout), dtype="float32")  # parity with the original is in fp32
        return bots[layout]
    return get


@pytest.fixture(scope="module")
def moss_dir(layout_dir):
    return layout_dir("hub")


@pytest.fixture(scope="module")
def moss_bot(layout_bot):
    return layout_bot("hub")


def tokenizer_files(folder: Path) -> dict[str, str | None]:
    return {name: str(folder / name) if (folder / name).exists() else None for name in TOKENIZER_FILES}


def prompt_ids(bot, case):
    _, prompt_kwargs, _ = bot.merge_settings(case.get("settings", {}))
    return bot.get_input(bot.build_prompt(case["query"], prompt_kwargs))


def greedy(bot, inputs, **kwargs):
    out = bot.model.generate(**inputs, do_sample=False, max_new_tokens=N, eos_token_id=bot.eom_token_id,
                             pad_token_id=bot.tokenizer.eos_token_id, **kwargs)
    return out[0, inputs["input_ids"].shape[-1]:].tolist()


@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_checkpoints_are_the_ones_the_fixtures_were_recorded_on(layout_dir, layout):
    fixture = FIXTURES[layout]
    assert fingerprint(layout_dir(layout)) == fixture["checkpoint_fingerprint"], \
        "legacy_checkpoints changed: regenerate tests/fixtures with make_parity_fixtures.py"
    assert fixture.get("tokenizer_layout", layout) == layout
    assert set(fixture["cases"]) == set(MOSS_PARITY_CASES)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_loads_on_codegen_with_a_standard_tokenizer(layout_bot, layout_dir, layout):
    from transformers import CodeGenForCausalLM, GPT2Tokenizer

    bot = layout_bot(layout)
    assert bot.native and isinstance(bot.model, CodeGenForCausalLM)
    assert isinstance(bot.tokenizer, GPT2Tokenizer)
    added = json.loads((layout_dir(layout) / "added_tokens.json").read_text())
    assert bot.eom_token_id == added["<eom>"]
    assert all(bot.tokenizer.convert_tokens_to_ids(t) == i for t, i in added.items())
    assert len(bot.tokenizer) == bot.model.config.vocab_size  # no special token was appended


def test_a_tokenizer_saved_with_the_original_class_defaults_ends_sequences_at_eom(layout_bot, layout_dir):
    tok = layout_bot("class_defaults").tokenizer
    added = json.loads((layout_dir("class_defaults") / "added_tokens.json").read_text())
    assert (tok.eos_token, tok.eos_token_id) == ("<eom>", added["<eom>"])
    assert tok.bos_token == tok.unk_token == "<|endoftext|>" and tok.pad_token is None


def test_bos_eos_and_pad_may_each_be_an_added_token(layout_bot, layout_dir):
    tok = layout_bot("added_specials").tokenizer
    added = json.loads((layout_dir("added_specials") / "added_tokens.json").read_text())
    assert (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id) == (added["<eoh>"], added["<eom>"], added["<eoa>"])
    assert tok.unk_token == "<|endoftext|>"


@pytest.mark.parametrize("name", sorted(MOSS_PARITY_CASES))
@pytest.mark.parametrize("layout", LAYOUTS)
def test_prompt_ids_and_greedy_reply_match_the_original(layout_bot, layout, name):
    bot, expected = layout_bot(layout), FIXTURES[layout]["cases"][name]
    inputs = prompt_ids(bot, MOSS_PARITY_CASES[name])
    assert inputs["input_ids"][0].tolist() == expected["prompt_ids"]
    assert greedy(bot, inputs) == expected["reply_ids"]


def test_added_tokens_swallow_the_whitespace_next_to_them(moss_bot):
    """As under transformers 4, where MOSS's tokenizer ran: the newline between <eoh> and <|MOSS|> is not encoded."""
    tok = moss_bot.tokenizer
    assert tok("hi<eoh>\n<|MOSS|>:")["input_ids"] == tok("hi<eoh><|MOSS|>:")["input_ids"]
    assert tok("a \n<eoh>")["input_ids"] == tok("a<eoh>")["input_ids"]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_chat_answers_with_the_greedy_reply(layout_bot, layout):
    bot, case = layout_bot(layout), MOSS_PARITY_CASES["chinese"]
    ids = FIXTURES[layout]["cases"]["chinese"]["reply_ids"]
    expected = bot.process_response(bot.tokenizer.decode(ids, skip_special_tokens=True))
    reply = bot.chat(case["query"], do_sample=False, repetition_penalty=1.0, max_new_tokens=N)
    assert reply == expected


def _with_tokenizer_config(folder: Path, tmp_path: Path, **changes) -> Path:
    copy = Path(shutil.copytree(folder, tmp_path / "changed"))
    config = json.loads((copy / "tokenizer_config.json").read_text())
    (copy / "tokenizer_config.json").write_text(json.dumps({**config, **changes}))
    return copy


def test_an_added_unk_and_a_new_pad_keep_the_published_ids(layout_dir, tmp_path):
    """Beyond what the original class loads: ids follow added_tokens.json, and a special token in neither file
    comes after them (where transformers 4 put it)."""
    folder = _with_tokenizer_config(layout_dir("class_defaults"), tmp_path, unk_token="<eot>", pad_token="<pad>")
    (folder / "special_tokens_map.json").unlink()
    tok = moss_tokenizer(tokenizer_files(folder))
    added = json.loads((folder / "added_tokens.json").read_text())
    assert all(tok.convert_tokens_to_ids(t) == i for t, i in added.items())
    assert tok.unk_token_id == added["<eot>"] and tok.pad_token_id == max(added.values()) + 1


def test_a_malformed_special_token_names_the_file_and_key(layout_dir, tmp_path):
    folder = _with_tokenizer_config(layout_dir("class_defaults"), tmp_path, pad_token=7)
    (folder / "special_tokens_map.json").unlink()
    with pytest.raises(ValueError, match="tokenizer_config.json's pad_token must be a string or an object"):
        moss_tokenizer(tokenizer_files(folder))


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
