"""dtype="auto" loads the weights in the dtype the hardware computes fastest; `dtype=` overrides it."""

from __future__ import annotations

import pytest
import torch

from chatzoo_widget.compare import manifest
from chatzoo_widget.manager import ChatManager
from chatzoo_widget.models import precision
from chatzoo_widget.registry import load_bot
from chatzoo_widget.testing import wait_until


@pytest.fixture(autouse=True)
def automatic_choice(monkeypatch):
    """The suite pins CHATZOO_DTYPE=float32 (conftest.py); these tests are about the choice it overrides."""
    monkeypatch.delenv(precision.DTYPE_ENV, raising=False)


def test_chatzoo_dtype_overrides_the_hardware_choice(monkeypatch, tiny_chat_dir):
    monkeypatch.setenv(precision.DTYPE_ENV, "bfloat16")
    assert precision.best_dtype("cpu") == precision.DtypeChoice(torch.bfloat16, "CHATZOO_DTYPE=bfloat16")
    monkeypatch.setenv(precision.DTYPE_ENV, "float32")
    bot = load_bot(tiny_chat_dir, type="chat")
    try:
        assert bot.model.dtype == torch.float32 and bot.describe()["dtype_reason"] == "CHATZOO_DTYPE=float32"
    finally:
        bot.close()
    monkeypatch.setenv(precision.DTYPE_ENV, "fp8")
    with pytest.raises(ValueError, match="CHATZOO_DTYPE='fp8' is not a dtype"):
        precision.best_dtype("cpu")


@pytest.fixture
def cpu_flags(monkeypatch):
    """Pretend the CPU has exactly the given flags."""

    def set_flags(*flags: str) -> None:
        monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset(flags))
    return set_flags


def test_a_cpu_with_native_bf16_gets_bf16_and_one_without_gets_fp32(cpu_flags):
    cpu_flags("avx2", "avx512f", "avx512_bf16")
    assert precision.best_dtype("cpu").dtype == torch.bfloat16
    assert "avx512_bf16" in precision.best_dtype("cpu").reason
    cpu_flags("avx2", "amx_bf16", "amx_tile")
    assert precision.best_dtype("cpu").dtype == torch.bfloat16
    cpu_flags("avx2", "fma")  # bf16 would be emulated through fp32 there: slower than fp32
    choice = precision.best_dtype("cpu")
    assert choice.dtype == torch.float32 and "no avx512_bf16" in choice.reason


def test_this_machine_reads_its_own_flags():
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        text = f.read()
    native = "avx512_bf16" in text or "amx_bf16" in text
    assert precision.best_dtype("cpu").dtype == (torch.bfloat16 if native else torch.float32)


def test_auto_loads_bf16_on_a_bf16_cpu_and_says_why(cpu_flags, tiny_chat_dir):
    cpu_flags("avx512_bf16")
    bot = load_bot(tiny_chat_dir, type="chat")
    try:
        assert bot.model.dtype == torch.bfloat16
        info = bot.describe()
        assert info["dtype"] == "bfloat16" and "native bfloat16" in info["dtype_reason"]
        assert isinstance(bot.chat([{"role": "HUMAN", "content": "Hello"}], max_new_tokens=4, temperature=0), str)
    finally:
        bot.close()


def test_dtype_overrides_the_automatic_choice(cpu_flags, tiny_chat_dir):
    cpu_flags("avx512_bf16")
    bot = load_bot(tiny_chat_dir, type="chat", dtype="float32")
    try:
        assert bot.model.dtype == torch.float32
        assert bot.describe()["dtype"] == "float32" and bot.describe()["dtype_reason"] == "dtype='float32'"
    finally:
        bot.close()


def test_auto_on_a_cpu_without_bf16_loads_fp32(cpu_flags, tiny_chat_dir):
    cpu_flags("avx2")
    bot = load_bot(tiny_chat_dir, type="chat")
    try:
        assert bot.model.dtype == torch.float32
    finally:
        bot.close()


def test_a_bad_dtype_names_the_choices(tiny_chat_dir):
    with pytest.raises(ValueError, match="dtype must be one of auto, float32, bfloat16, float16, checkpoint"):
        load_bot(tiny_chat_dir, type="chat", dtype="bf16")


def test_the_manifest_shows_the_dtype_in_use(cpu_flags, tiny_chat_dir):
    cpu_flags("amx_bf16")
    m = ChatManager()
    try:
        m.add({"name": "tiny", "model": str(tiny_chat_dir), "type": "chat"})
        assert wait_until(lambda: m.get("tiny").status == "ready", timeout=300)
        assert manifest(m, "tiny")["dtype"] == "bfloat16"
    finally:
        m.close()
