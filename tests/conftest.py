"""Shared fixtures: tiny random models of the real architectures, built once per test session in a temp folder.

    tiny_chat_dir      Qwen2 + ChatML chat template            load_bot(dir, type="chat")
    tiny_firefly_dir   Bloom, <s>/</s>                          load_bot(dir, type="firefly")
    tiny_moss_dir      CodeGen + <eoh> <eoa> <eom> <|Human|> <|MOSS|>   load_bot(dir, type="moss")
    tiny_chatglm_dir   GLM, a tokenizer that knows Chinese      load_bot(dir, type="chatglm")
    tiny_godel_dir     T5 + sentencepiece                       load_bot(dir, type="godel")
    tiny_dirs          family -> folder, all of the above
    tiny_bot           a loaded "chat" bot on tiny_chat_dir (shared: do not change it; load your own to patch)
    sent               the custom messages widgets send to the front end

No test may reach a model hub: HF_HUB_OFFLINE is set before transformers is imported. Weights load in float32 on
every machine (CHATZOO_DTYPE, models/precision.py), so token-for-token tests do not depend on whether this CPU has
native bfloat16; test_dtype.py tests the automatic choice itself.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
os.environ.setdefault("CHATZOO_DTYPE", "float32")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_models_root(tmp_path_factory):
    return tmp_path_factory.mktemp("tiny_models")


FAMILIES = ("chat", "firefly", "moss", "chatglm", "godel")


def _tiny_dir_fixture(family: str):
    """A session fixture `tiny_<family>_dir`: the family's tiny model folder, built on first use."""

    @pytest.fixture(scope="session", name=f"tiny_{family}_dir")
    def fixture(tiny_models_root):
        from chatzoo_widget.testing import tiny_models

        folder = tiny_models_root / family
        if not (folder / "config.json").is_file():
            tiny_models.BUILDERS[family](folder)
        return folder

    return fixture


tiny_chat_dir, tiny_firefly_dir, tiny_moss_dir, tiny_chatglm_dir, tiny_godel_dir = map(_tiny_dir_fixture, FAMILIES)


@pytest.fixture(scope="session")
def tiny_dirs(request):
    return {family: request.getfixturevalue(f"tiny_{family}_dir") for family in FAMILIES}


@pytest.fixture
def sent(monkeypatch):
    """The custom messages widgets send to the front end, in order."""
    from chatzoo_widget import ChatZooWidget

    messages: list[dict] = []
    monkeypatch.setattr(ChatZooWidget, "send_message", lambda self, msg: messages.append(msg))
    return messages


@pytest.fixture(scope="session")
def tiny_bot(tiny_chat_dir):
    from chatzoo_widget.registry import load_bot

    return load_bot(tiny_chat_dir, type="chat", name="tiny-chat")
