"""Shared fixtures: tiny random models of the real architectures, built once per test session in a temp folder.

    tiny_chat_dir      Qwen2 + ChatML chat template            load_bot(dir, type="chat")
    tiny_firefly_dir   Bloom, <s>/</s>                          load_bot(dir, type="firefly")
    tiny_moss_dir      CodeGen + <eoh> <eoa> <eom> <|Human|> <|MOSS|>   load_bot(dir, type="moss")
    tiny_chatglm_dir   GLM, a tokenizer that knows Chinese      load_bot(dir, type="chatglm")
    tiny_godel_dir     T5 + sentencepiece                       load_bot(dir, type="godel")
    tiny_dirs          family -> folder, all of the above
    tiny_bot           a loaded "chat" bot on tiny_chat_dir (shared: do not change it; load your own to patch)

No test may reach a model hub: HF_HUB_OFFLINE is set before transformers is imported.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_models_root(tmp_path_factory):
    return tmp_path_factory.mktemp("tiny_models")


def _build(root, family):
    from chatzoo_widget.testing import tiny_models

    folder = root / family
    if not (folder / "config.json").is_file():
        tiny_models.BUILDERS[family](folder)
    return folder


@pytest.fixture(scope="session")
def tiny_chat_dir(tiny_models_root):
    return _build(tiny_models_root, "chat")


@pytest.fixture(scope="session")
def tiny_firefly_dir(tiny_models_root):
    return _build(tiny_models_root, "firefly")


@pytest.fixture(scope="session")
def tiny_moss_dir(tiny_models_root):
    return _build(tiny_models_root, "moss")


@pytest.fixture(scope="session")
def tiny_chatglm_dir(tiny_models_root):
    return _build(tiny_models_root, "chatglm")


@pytest.fixture(scope="session")
def tiny_godel_dir(tiny_models_root):
    return _build(tiny_models_root, "godel")


@pytest.fixture(scope="session")
def tiny_dirs(tiny_chat_dir, tiny_firefly_dir, tiny_moss_dir, tiny_chatglm_dir, tiny_godel_dir):
    return {
        "chat": tiny_chat_dir,
        "firefly": tiny_firefly_dir,
        "moss": tiny_moss_dir,
        "chatglm": tiny_chatglm_dir,
        "godel": tiny_godel_dir,
    }


@pytest.fixture(scope="session")
def tiny_bot(tiny_chat_dir):
    from chatzoo_widget.registry import load_bot

    return load_bot(tiny_chat_dir, type="chat", name="tiny-chat")
