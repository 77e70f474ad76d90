"""The README's headline call, `ChatZooWidget(["firefly-2b6", "moss-int4"])`, as a new user runs it, offline.

Tiny checkpoints in the published layouts sit in a temporary Hugging Face cache (the real layout:
models--org--name/snapshots/<commit>/, refs/main) under the hub ids the aliases name, and nothing else is on
the machine: the aliases must resolve, load natively (no remote code), and answer; moss-int4 really in 4 bit.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from chatzoo_widget.testing.legacy_checkpoints import write_chatglm6b_checkpoint, write_moss_checkpoint

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def cache_snapshot(hub: Path, repo: str) -> Path:
    """The snapshot folder of `repo` in a hub cache, with refs/main pointing at it."""
    entry = hub / ("models--" + repo.replace("/", "--"))
    (entry / "refs").mkdir(parents=True)
    (entry / "refs" / "main").write_text(COMMIT)
    snapshot = entry / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    return snapshot


@pytest.fixture
def hub_cache(tmp_path, monkeypatch, tiny_firefly_dir):
    import huggingface_hub.constants

    hub = tmp_path / "hf" / "hub"
    write_moss_checkpoint(cache_snapshot(hub, "fnlp/moss-moon-003-sft"))
    write_chatglm6b_checkpoint(cache_snapshot(hub, "THUDM/chatglm-6b"))
    firefly = cache_snapshot(hub, "YeungNLP/firefly-2b6")
    for item in Path(tiny_firefly_dir).iterdir():
        shutil.copy(item, firefly / item.name)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hub))
    return hub


def test_design_card_answers_in_both_columns_offline(hub_cache):
    import bitsandbytes as bnb

    from chatzoo_widget import ChatZooWidget

    w = ChatZooWidget(["firefly-2b6", "moss-int4"], settings={"max_new_tokens": 8})
    try:
        replies = w.send("Hello, how are you today?", wait=True, timeout=300)
        columns = list(w.manager.columns.values())
        assert [c.error for c in columns] == [None, None]
        assert len(replies) == 2 and all(isinstance(r, str) for r in replies.values())
        finish = {name: turns[-1]["finish_reason"] for name, turns in w.stats.items()}
        assert set(finish.values()) <= {"stop", "length"}, finish
        moss = next(c for c in columns if c.model == "moss-int4")
        assert moss.bot.native and moss.bot.quantization == "4bit"
        assert sum(isinstance(m, bnb.nn.Linear4bit) for m in moss.bot.model.modules()) == 8
    finally:
        w.close()


def test_chatglm_alias_answers_from_the_cache(hub_cache):
    from chatzoo_widget.registry import load_bot

    bot = load_bot("chatglm-6b")
    assert bot.native and bot.model_name_or_path == "THUDM/chatglm-6b"
    assert isinstance(bot.chat([{"role": "HUMAN", "content": "你好"}], max_new_tokens=6, do_sample=False), str)
