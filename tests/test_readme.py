"""README.md's "Add your own model" example runs as written (on a tiny local checkpoint)."""

from __future__ import annotations

import pathlib
import re

import pytest

from chatzoo_widget import registry

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def example(section: str) -> str:
    text = README.read_text(encoding="utf-8")
    body = text.split(f"## {section}", 1)[1]
    return re.search(r"```python\n(.*?)```", body, re.S).group(1)


@pytest.fixture
def clean_registry():
    saved = (dict(registry.ALIASES), dict(registry.NAME_TABLE), dict.copy(registry.MODEL_DICT))
    yield
    for table, old in zip((registry.ALIASES, registry.NAME_TABLE, registry.MODEL_DICT), saved):
        dict.clear(table)
        dict.update(table, old)


def test_add_your_own_model_example_runs(tiny_chat_dir, clean_registry, monkeypatch):
    code = example("Add your own model")
    assert "path/to/alpaca-checkpoint" in code and code.rstrip().splitlines()[-1].startswith("ChatZooWidget(")
    code = code.replace("path/to/alpaca-checkpoint", str(tiny_chat_dir))
    lines = code.rstrip().splitlines()
    lines[-1] = "w = " + lines[-1].replace('"smollm2-135m"', "")  # keep the example's own model only
    namespace: dict = {}
    exec("\n".join(lines), namespace)
    w = namespace["w"]
    assert w.wait(120)
    assert [c["status"] for c in w.columns] == ["ready"], w.columns[0]["error"]
    replies = w.send("Hello there", wait=True, timeout=120)
    assert w.history["my-alpaca"][0] == {"role": "HUMAN", "content": "Hello there"}
    bot = w.manager.get("my-alpaca").bot
    assert type(bot).__name__ == "AlpacaBOT"
    assert bot.get_prompt([{"role": "HUMAN", "content": "Hi"}]) == "### Instruction:\nHi\n\n### Response:\n"
    assert isinstance(replies["my-alpaca"], str)
    assert w.stats["my-alpaca"][0]["finish_reason"] in ("stop", "length")
