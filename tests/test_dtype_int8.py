"""quantize="int8": weight-only int8 linear layers (models/int8.py), close to the float model they came from."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from chatzoo_widget.models.int8 import Int8Linear
from chatzoo_widget.registry import load_bot

TEXT = "The quick brown fox jumps over the lazy dog, and then it runs into the forest."


def mean_log_prob(bot, text: str) -> float:
    ids = bot.tokenizer(text, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        logits = bot.model(input_ids=ids).logits.float()
    return float(torch.log_softmax(logits[0, :-1], -1).gather(1, ids[0, 1:, None]).mean())


def test_an_int8_linear_layer_is_within_a_percent_of_the_float_one():
    torch.manual_seed(0)
    linear = nn.Linear(256, 512)
    x = torch.randn(3, 5, 256)
    with torch.no_grad():
        exact, approx = linear(x), Int8Linear(linear)(x)
    assert approx.shape == exact.shape
    assert float((approx - exact).norm() / exact.norm()) < 0.01


def test_an_int8_model_answers_and_keeps_the_text_likelihood(tiny_chat_dir):
    full = load_bot(tiny_chat_dir, type="chat", dtype="float32")
    small = load_bot(tiny_chat_dir, type="chat", dtype="float32", quantize="int8")
    try:
        assert not any(type(m) is nn.Linear for m in small.model.modules())
        assert small.describe()["quantization"] == "int8 weight-only"
        q = [{"role": "HUMAN", "content": "Hello"}]
        assert isinstance(small.chat(q, max_new_tokens=6, temperature=0), str)
        a, b = mean_log_prob(full, TEXT), mean_log_prob(small, TEXT)
        assert abs(a - b) < 0.05 * abs(a), (a, b)
    finally:
        full.close()
        small.close()


def test_an_unknown_quantize_value_names_the_choices(tiny_chat_dir):
    with pytest.raises(ValueError, match="quantize must be None or 'int8'"):
        load_bot(tiny_chat_dir, type="chat", quantize="int4")
