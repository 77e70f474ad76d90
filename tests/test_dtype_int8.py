"""quantize="int8": weight-only int8 linear layers (models/int8.py), close to the float model they came from."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from chatzoo_widget.models.int8 import Int8Linear, Int8Sibling, quantize_int8
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


class Projections(nn.Module):
    def __init__(self):
        super().__init__()
        self.q_proj, self.k_proj, self.v_proj = (nn.Linear(64, n) for n in (64, 32, 32))
        self.gate_proj, self.up_proj = nn.Linear(64, 96, bias=False), nn.Linear(64, 96, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.q_proj(x), self.k_proj(x), self.v_proj(x), self.gate_proj(x) * self.up_proj(x)], -1)


def test_int8_siblings_share_one_matrix_and_equal_separate_int8_layers():
    """Scales are per output row, so stacking q/k/v (and gate/up) changes no product; one call per group."""
    torch.manual_seed(0)
    model = Projections().to(torch.bfloat16)
    separate = {name: Int8Linear(getattr(model, name)) for name in ("q_proj", "k_proj", "v_proj", "gate_proj",
                                                                    "up_proj")}
    assert quantize_int8(model) == 5 and all(isinstance(getattr(model, n), Int8Sibling) for n in separate)
    x = torch.randn(2, 3, 64, dtype=torch.bfloat16)
    with torch.inference_mode():
        want = torch.cat([separate["q_proj"](x), separate["k_proj"](x), separate["v_proj"](x),
                          separate["gate_proj"](x) * separate["up_proj"](x)], -1)
        torch.testing.assert_close(model(x), want, rtol=0, atol=0)
        assert model.q_proj.pending is None
        one = torch.randn(1, 1, 64, dtype=torch.bfloat16)
        torch.testing.assert_close(torch.compile(model, dynamic=False, fullgraph=True)(one), model(one),
                                   rtol=2e-2, atol=2e-2)
    state = model.state_dict()
    assert torch.equal(state["k_proj.weight_int8"], separate["k_proj"].weight_int8)
    assert torch.equal(state["v_proj.bias"], separate["v_proj"].bias) and "up_proj.scales" in state


def test_an_unknown_quantize_value_names_the_choices(tiny_chat_dir):
    with pytest.raises(ValueError, match="quantize must be None or 'int8'"):
        load_bot(tiny_chat_dir, type="chat", quantize="int4")


@pytest.mark.parametrize("rows", [1, 2, 3])
def test_the_compiled_int8_product_equals_the_kernels(rows):
    """Compiled, rows up to FUSED_ROWS take the fused reduction (more take the kernel): the same products."""
    torch.manual_seed(0)
    layer = Int8Linear(nn.Linear(256, 384).to(torch.bfloat16))
    x = torch.randn(rows, 1, 256, dtype=torch.bfloat16)
    with torch.inference_mode():
        eager = layer(x)
        compiled = torch.compile(layer, dynamic=False)(x)
    assert compiled.shape == eager.shape == (rows, 1, 384) and compiled.dtype == torch.bfloat16
    torch.testing.assert_close(compiled.float(), eager.float(), rtol=2e-2, atol=2e-2)


def test_a_compiled_int8_step_decodes_the_eager_int8_tokens(tiny_chat_dir):
    from chatzoo_widget.engine.request import EngineRequest

    fast = load_bot(tiny_chat_dir, type="chat", dtype="float32", quantize="int8", compile=True)
    slow = load_bot(tiny_chat_dir, type="chat", dtype="float32", quantize="int8", compile=False)

    def greedy(bot, new):
        ids = bot.get_input(bot.build_prompt([{"role": "HUMAN", "content": "Tell me about dragons"}], {}))
        gen = bot.prepare_gen_kwargs(bot.merge_settings(dict(do_sample=False, max_new_tokens=new))[0])
        gen["eos_token_id"] = []
        request = bot.scheduler.submit(EngineRequest(prepare=lambda: ids["input_ids"], gen_kwargs=gen))
        request.wait_finished()
        return ids["input_ids"], request.generated

    try:
        greedy(fast, 2)
        assert fast.scheduler.compiled.wait_ready(600), "compiling took over 10 minutes"
        before = fast.scheduler.compiled.compiled_steps
        ids, want = greedy(slow, 16)
        got = greedy(fast, 16)[1]
        assert fast.scheduler.compiled.compiled_steps > before
        with torch.inference_mode():  # compare up to the first near tie of the eager model's two best logits
            logits = slow.model(input_ids=torch.cat([ids, torch.tensor([want])], 1)).logits[0, ids.shape[1] - 1:-1]
        top = logits.float().topk(2, dim=-1).values
        ties = ((top[:, 0] - top[:, 1]) < 1e-3).nonzero()
        cut = int(ties[0]) if ties.numel() else len(want)
        assert got[:cut] == want[:cut], f"differs before the near tie at step {cut}"
    finally:
        fast.close()
        slow.close()
