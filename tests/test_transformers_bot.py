"""Loading TransformersChatBOT: quantization, accelerate device maps, dtypes, overrides and every bad input."""

from __future__ import annotations

import json
import shutil

import pytest

from chatzoo_widget.bots.transformers import HubUnavailableError, RemoteCodeError, TransformersChatBOT
from chatzoo_widget.registry import load_bot

Q = [{"role": "HUMAN", "content": "Hello, how are you?"}]
GREEDY = dict(max_new_tokens=6, do_sample=False)


@pytest.fixture(scope="module")
def plain_reply(tiny_chat_dir):
    return load_bot(tiny_chat_dir, type="chat").chat(Q, **GREEDY)


def copy_model(src, dst):
    shutil.copytree(src, dst)
    return dst


# ----- quantization and big-model loading ----------------------------------------------------------
def test_4bit_quantized_loading_on_cpu(tiny_chat_dir):
    bot = load_bot(tiny_chat_dir, type="chat", quantization="4bit")
    import bitsandbytes as bnb

    linears = [m for m in bot.model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert len(linears) >= 14  # 7 projections in each of the 2 blocks
    assert bot.model.is_loaded_in_4bit
    assert bot.describe()["quantization"] == "4bit"
    assert bot.describe()["parameters"] == load_bot(tiny_chat_dir, type="chat").describe()["parameters"]
    reply = bot.chat(Q, **GREEDY)
    assert reply and bot.last_stats.new_tokens == 6


def test_8bit_quantized_loading_on_cpu(tiny_chat_dir):
    bot = load_bot(tiny_chat_dir, type="chat", quantization="8bit")
    import bitsandbytes as bnb

    assert any(isinstance(m, bnb.nn.Linear8bitLt) for m in bot.model.modules())
    assert bot.model.is_loaded_in_8bit
    assert bot.chat(Q, **GREEDY)


def test_device_map_auto_keeps_blocks_whole(tiny_chat_dir, plain_reply):
    bot = load_bot(tiny_chat_dir, type="chat", device_map="auto")
    assert bot.no_split_module_classes == ["Qwen2DecoderLayer"]
    assert set(bot.device_map_plan.values()) == {"cpu"}
    assert bot.chat(Q, **GREEDY) == plain_reply


def test_device_map_offloads_to_disk_without_splitting_a_block(tiny_chat_dir, plain_reply, tmp_path):
    bot = load_bot(tiny_chat_dir, type="chat", device_map="auto", max_memory={"cpu": 450_000},
                   offload_folder=tmp_path / "offload")
    plan = bot.device_map_plan
    assert "disk" in plan.values() and "cpu" in plan.values()
    for module in plan:  # a decoder layer is placed whole, never its attention and MLP apart
        assert not module.startswith("model.layers.") or module.count(".") == 2
    assert bot.describe()["device_map"] == {k: str(v) for k, v in plan.items()}
    assert bot.chat(Q, **GREEDY) == plain_reply


def test_dtype_option(tiny_chat_dir):
    import torch

    bot = load_bot(tiny_chat_dir, type="chat", dtype="bfloat16")
    assert bot.model.dtype == torch.bfloat16 and bot.describe()["dtype"] == "bfloat16"
    assert load_bot(tiny_chat_dir, type="chat").model.dtype == torch.float32  # "auto" on CPU
    with pytest.raises(ValueError, match="dtype must be one of auto, float32, bfloat16, float16"):
        load_bot(tiny_chat_dir, type="chat", dtype="fp8")
    with pytest.raises(ValueError, match="quantization must be None, '8bit' or '4bit'"):
        load_bot(tiny_chat_dir, type="chat", quantization="3bit")


def test_describe_and_context_length(tiny_bot, tiny_chat_dir):
    info = tiny_bot.describe()
    assert info["family"] == "chat" and info["name"] == "tiny-chat"
    assert info["path"] == str(tiny_chat_dir)
    assert info["model_type"] == "qwen2" and info["dtype"] == "float32" and info["quantization"] is None
    assert info["parameters"] == sum(p.numel() for p in tiny_bot.model.parameters())
    assert info["context_length"] == tiny_bot.context_length == 2048
    from transformers import AutoModelForCausalLM

    assert tiny_bot.model_cls is AutoModelForCausalLM


def test_wrap_loaded_model_and_tokenizer(tiny_bot):
    from chatzoo_widget.families.chat import ChatTemplateBOT

    bot = ChatTemplateBOT(model=tiny_bot.model, tokenizer=tiny_bot.tokenizer, name="wrapped")
    assert bot.model is tiny_bot.model
    assert bot.chat(Q, **GREEDY) == tiny_bot.chat(Q, **GREEDY)


# ----- overrides -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def no_template_dir(tiny_chat_dir, tmp_path_factory):
    folder = copy_model(tiny_chat_dir, tmp_path_factory.mktemp("nt") / "no-template")
    (folder / "chat_template.jinja").unlink(missing_ok=True)
    cfg_path = folder / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg.pop("chat_template", None)
    cfg_path.write_text(json.dumps(cfg))
    return folder


def test_tokenizer_without_chat_template_and_no_family_rule(no_template_dir):
    with pytest.raises(ValueError, match="has no chat template, and no family prompt rule.*type="):
        load_bot(no_template_dir)


def test_tokenizer_path_override(no_template_dir, tiny_chat_dir, plain_reply):
    bot = load_bot(no_template_dir, tokenizer_path=tiny_chat_dir)
    assert bot.tokenizer.chat_template
    assert bot.chat(Q, **GREEDY) == plain_reply
    with pytest.raises(FileNotFoundError, match="no such tokenizer folder"):
        load_bot(tiny_chat_dir, tokenizer_path="./no/such/tokenizer")


def test_type_override(tiny_chat_dir):
    bot = load_bot(tiny_chat_dir, type="firefly")
    assert bot.family == "firefly"
    _, prompt_kwargs, _ = bot.merge_settings({})
    assert bot.build_prompt(Q, prompt_kwargs) == "<s>Hello, how are you?</s></s>"
    assert bot.chat(Q, **GREEDY)


# ----- bad inputs ----------------------------------------------------------------------------------
def test_folder_without_model(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no model \\(no config.json\\)"):
        load_bot(tmp_path / "empty")
    (tmp_path / "config-only").mkdir()
    (tmp_path / "config-only" / "config.json").write_text('{"model_type": "llama"}')
    with pytest.raises(ValueError, match="holds no model \\(no model weights\\)"):
        load_bot(tmp_path / "config-only")


def test_missing_folder():
    with pytest.raises(FileNotFoundError, match="no such model folder: './does/not/exist'"):
        load_bot("./does/not/exist")


def test_unknown_hub_model_offline():
    with pytest.raises(HubUnavailableError, match="hub cannot be reached.*local folder"):
        load_bot("some-org/some-model-that-is-not-cached")


@pytest.fixture
def remote_code_dir(tiny_moss_dir, tmp_path):
    folder = copy_model(tiny_moss_dir, tmp_path / "moss-remote")
    cfg = json.loads((folder / "config.json").read_text())
    cfg["model_type"] = "moss"
    cfg["auto_map"] = {"AutoConfig": "configuration_moss.MossConfig",
                       "AutoModelForCausalLM": "modeling_moss.MossForCausalLM"}
    (folder / "config.json").write_text(json.dumps(cfg))
    (folder / "configuration_moss.py").write_text(
        "from transformers.configuration_utils import PretrainedConfig\n"
        "from transformers.utils import is_torch_fx_proxy  # gone in transformers 5\n"
        "class MossConfig(PretrainedConfig):\n    model_type = 'moss'\n"
    )
    (folder / "modeling_moss.py").write_text("raise ImportError('written for transformers 4')\n")
    return folder


def test_remote_code_needs_opt_in(remote_code_dir):
    # MOSS itself now loads natively (tests/test_native_moss.py); an architecture transformers lacks still needs
    # the opt-in to run its code.
    cfg = json.loads((remote_code_dir / "config.json").read_text())
    (remote_code_dir / "config.json").write_text(json.dumps({**cfg, "model_type": "acme-lm"}))
    with pytest.raises(ValueError, match="ships its own model code.*pass trust_remote_code=True"):
        load_bot(remote_code_dir)
    with pytest.raises(ValueError, match="trust_remote_code=True"):
        load_bot(remote_code_dir, type="chat")


def test_remote_code_that_fails_on_transformers_5_says_so(remote_code_dir):
    with pytest.raises(RemoteCodeError, match="remote code of .* failed to load .* on transformers 5.*older"):
        load_bot(remote_code_dir, trust_remote_code=True)


def test_unknown_model_type_without_code(tiny_chat_dir, tmp_path):
    folder = copy_model(tiny_chat_dir, tmp_path / "odd")
    cfg = json.loads((folder / "config.json").read_text())
    cfg["model_type"] = "no-such-architecture"
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="model_type 'no-such-architecture' is unknown to transformers"):
        load_bot(folder)


def test_needs_a_model():
    with pytest.raises(ValueError, match="model_name_or_path"):
        TransformersChatBOT()


# ----- the offline default -------------------------------------------------------------------------
@pytest.mark.slow
def test_smollm2_answers_paris_offline():
    bot = load_bot("smollm2-135m")
    reply = bot.chat([{"role": "HUMAN", "content": "What is the capital of France?"}], max_new_tokens=24,
                     do_sample=False)
    assert "Paris" in reply
    assert bot.describe()["parameters"] > 100_000_000
    assert bot.last_stats.finish_reason == "stop"
