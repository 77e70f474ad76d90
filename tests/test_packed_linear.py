"""bfloat16 linear layers on oneDNN's packed weights (models/packed_linear.py): the same products and greedy tokens
as plain bfloat16 `nn.Linear`, eager and compiled; `.weight` and `state_dict()` still read; and the fallbacks
(CHATZOO_PACKED_LINEAR=0, float32, a CPU without native bfloat16) keep plain layers and say why.

The suite pins CHATZOO_DTYPE=float32, so every load here asks for bfloat16 explicitly.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from chatzoo_widget.engine.request import EngineRequest
from chatzoo_widget.models import packed_linear, precision
from chatzoo_widget.models.packed_linear import (PACKED_ENV, PackedLinear, SiblingLinear, pack_linears,
                                                packing_unavailable)
from chatzoo_widget.registry import load_bot
from test_compiled import near_tie as compiled_near_tie

NATIVE = precision.native_bf16_flag() is not None and torch.backends.mkldnn.is_available()
needs_bf16 = pytest.mark.skipif(not NATIVE, reason="the CPU has no native bfloat16 (avx512_bf16/amx_bf16) or "
                                                    "torch has no oneDNN: packing stays off there")
NEW = 16
NEAR_TIE = 1e-2  # bfloat16 logits: two best this close may swap with the order of a sum


class TwoLayers(nn.Module):
    def __init__(self):
        super().__init__()
        self.up = nn.Linear(64, 96, bias=True)
        self.down = nn.Linear(96, 64, bias=False)

    @property
    def device(self) -> torch.device:
        return self.up.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.up.weight.dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(torch.relu(self.up(x)))


@needs_bf16
@pytest.mark.parametrize("shape", [(1, 64), (2, 64), (3, 64), (8, 64), (1, 1, 64), (2, 5, 64), (600, 64)])
def test_packed_layer_computes_what_the_plain_layer_does(shape):
    torch.manual_seed(0)
    plain = TwoLayers().to(torch.bfloat16).eval()
    packed = TwoLayers().to(torch.bfloat16).eval()
    packed.load_state_dict(plain.state_dict())
    assert pack_linears(packed) == 2 and isinstance(packed.up, PackedLinear)
    x = torch.randn(shape, dtype=torch.bfloat16)
    with torch.inference_mode():
        want, got = plain(x), packed(x)
    assert got.shape == want.shape and got.dtype == torch.bfloat16
    torch.testing.assert_close(got, want, rtol=1.6e-2, atol=1e-2)


@needs_bf16
def test_weight_and_state_dict_still_read_the_plain_weights():
    plain = TwoLayers().to(torch.bfloat16)
    packed = TwoLayers().to(torch.bfloat16)
    packed.load_state_dict(plain.state_dict())
    pack_linears(packed)
    assert torch.equal(packed.up.weight, plain.up.weight)  # unpacking is exact
    state = packed.state_dict()
    assert sorted(state) == sorted(plain.state_dict())
    assert all(torch.equal(state[k], v) for k, v in plain.state_dict().items())
    packed.down.weight = torch.zeros(64, 96, dtype=torch.bfloat16)  # what tie_weights does to a head
    assert not packed.down(torch.ones(1, 96, dtype=torch.bfloat16)).any()


class Block(nn.Module):
    """An attention's q/k/v and a gated MLP's gate/up: the sibling projections packing shares (one bias case)."""

    def __init__(self, bias: bool):
        super().__init__()
        self.q_proj, self.k_proj, self.v_proj = (nn.Linear(64, n, bias=bias) for n in (64, 32, 32))
        self.gate_proj, self.up_proj = nn.Linear(64, 96, bias=False), nn.Linear(64, 96, bias=False)
        self.down_proj = nn.Linear(96, 64, bias=False)

    device = property(lambda self: self.down_proj.weight.device)
    dtype = property(lambda self: self.down_proj.weight.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        attended = self.q_proj(x) * torch.cat([self.k_proj(x), self.v_proj(x)], dim=-1)
        return self.down_proj(torch.relu(self.gate_proj(attended)) * self.up_proj(attended))


def packed_pair(bias: bool) -> tuple[Block, Block]:
    torch.manual_seed(0)
    plain, packed = Block(bias).to(torch.bfloat16).eval(), Block(bias).to(torch.bfloat16).eval()
    packed.load_state_dict(plain.state_dict())
    assert pack_linears(packed) == 6
    return plain, packed


@needs_bf16
@pytest.mark.parametrize("bias", [False, True])
def test_sibling_projections_share_one_packed_matrix_and_compute_the_same(bias, monkeypatch):
    plain, packed = packed_pair(bias)
    products = []
    product = SiblingLinear.product
    monkeypatch.setattr(SiblingLinear, "product", lambda self, x: products.append(self.index) or product(self, x))
    assert all(isinstance(getattr(packed, n), SiblingLinear) for n in ("q_proj", "k_proj", "v_proj", "gate_proj"))
    assert isinstance(packed.down_proj, PackedLinear)  # no sibling: packed on its own
    assert packed.k_proj.leader is packed.q_proj and packed.up_proj.leader is packed.gate_proj
    with torch.inference_mode():
        for shape in [(1, 64), (2, 5, 64)]:
            x = torch.randn(shape, dtype=torch.bfloat16)
            torch.testing.assert_close(packed(x), plain(x), rtol=1.6e-2, atol=1e-2)
        assert products == [0, 0] * 2  # one product per group and forward: q's and gate's, the rest shared
        assert packed.q_proj.pending is None and packed.gate_proj.pending is None  # nothing kept after a forward
        compiled = torch.compile(packed.forward, dynamic=False, fullgraph=True)
        x = torch.randn(1, 64, dtype=torch.bfloat16)
        torch.testing.assert_close(compiled(x), packed(x), rtol=0, atol=0)
        assert packed.q_proj.pending is None
    state = packed.state_dict()
    assert sorted(state) == sorted(plain.state_dict())
    assert all(torch.equal(state[k], v) for k, v in plain.state_dict().items())
    assert torch.equal(packed.v_proj.weight, plain.v_proj.weight)


@needs_bf16
def test_a_sibling_called_with_another_input_computes_its_own_product():
    """Another thread's forward between q and k, or another call order, costs a product, never a wrong result."""
    plain, packed = packed_pair(True)
    with torch.inference_mode():
        x, other = torch.randn(1, 64, dtype=torch.bfloat16), torch.randn(1, 64, dtype=torch.bfloat16)
        packed.q_proj(x)  # leaves k and v of x
        torch.testing.assert_close(packed.k_proj(other), plain.k_proj(other), rtol=1.6e-2, atol=1e-2)
        torch.testing.assert_close(packed.v_proj(x), plain.v_proj(x), rtol=1.6e-2, atol=1e-2)
        torch.testing.assert_close(packed.v_proj(other), plain.v_proj(other), rtol=1.6e-2, atol=1e-2)  # v first


def test_packing_stays_off_where_it_does_not_pay(monkeypatch):
    model = TwoLayers()
    assert "not bfloat16" in packing_unavailable(model) and pack_linears(model) == 0  # float32
    model = model.to(torch.bfloat16)
    monkeypatch.setenv(PACKED_ENV, "0")
    assert packing_unavailable(model) == f"{PACKED_ENV} turns it off" and pack_linears(model) == 0
    monkeypatch.delenv(PACKED_ENV)
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2", "fma"}))
    assert "no native bfloat16" in packing_unavailable(model) and pack_linears(model) == 0
    assert type(model.up) is nn.Linear


def greedy(bot, text: str, new: int = NEW) -> tuple[torch.Tensor, list[int]]:
    ids = bot.get_input(bot.build_prompt([{"role": "HUMAN", "content": text}], {}))["input_ids"]
    gen = bot.prepare_gen_kwargs(bot.merge_settings(dict(do_sample=False, max_new_tokens=new))[0])
    gen["eos_token_id"] = []  # the full length: more steps compared
    request = bot.scheduler.submit(EngineRequest(prepare=lambda: ids, gen_kwargs=gen))
    request.wait_finished()
    return ids, request.generated


def near_tie(bot, ids: torch.Tensor, reply: list[int]) -> int:
    """The first step at which the plain model's two best logits are within NEAR_TIE (len(reply): none)."""
    return compiled_near_tie(bot, ids, reply, within=NEAR_TIE)


@pytest.fixture(scope="module")
def plain_bf16(tiny_chat_dir):
    mp = pytest.MonkeyPatch()
    mp.setenv(PACKED_ENV, "0")
    bot = load_bot(tiny_chat_dir, type="chat", dtype="bfloat16", compile=False)
    mp.undo()
    yield bot
    bot.close()


@needs_bf16
def test_a_bf16_load_packs_and_decodes_the_same_greedy_tokens(plain_bf16, tiny_chat_dir):
    assert plain_bf16.describe()["packed_linears"] == 0
    assert not any(isinstance(m, (PackedLinear, SiblingLinear)) for m in plain_bf16.model.modules())
    bot = load_bot(tiny_chat_dir, type="chat", dtype="bfloat16", compile=False)
    try:
        linears = sum(isinstance(m, (PackedLinear, SiblingLinear)) for m in bot.model.modules())
        assert linears > 0 and bot.describe()["packed_linears"] == linears
        for text in ("Hello there", "Tell me about dragons and paint"):
            ids, want = greedy(plain_bf16, text)
            _, got = greedy(bot, text)
            cut = near_tie(plain_bf16, ids, want)
            assert got[:cut] == want[:cut], f"differs before the near tie at step {cut}"
    finally:
        bot.close()


@needs_bf16
def test_the_compiled_step_runs_on_packed_linears_with_the_same_tokens(plain_bf16, tiny_chat_dir):
    bot = load_bot(tiny_chat_dir, type="chat", dtype="bfloat16", compile=True)
    try:
        greedy(bot, "warm up", 2)
        assert bot.scheduler.compiled.wait_ready(600), "compiling took over 10 minutes"
        assert bot.describe()["decode_step"] == "compiled" and bot.describe()["packed_linears"] > 0
        before = bot.scheduler.compiled.compiled_steps
        ids, want = greedy(plain_bf16, "Tell me about dragons and paint")
        _, got = greedy(bot, "Tell me about dragons and paint")
        assert bot.scheduler.compiled.compiled_steps > before  # the compiled graph decoded
        cut = near_tie(plain_bf16, ids, want)
        assert got[:cut] == want[:cut], f"differs before the near tie at step {cut}"
    finally:
        bot.close()


@needs_bf16
def test_the_packed_product_has_a_cpp_kernel_that_computes_the_same():
    """Compiled steps call it without Python (models/native_linear.py); built once per machine."""
    from chatzoo_widget.models.native_linear import build_native_packed_linear, native_packed_linear

    op = build_native_packed_linear()
    assert op is not None, "the C++ kernel did not build (ninja and a C++ compiler are installed by .ci/setup)"
    assert native_packed_linear() is op
    plain, packed = packed_pair(True)
    x = torch.randn(3, 64, dtype=torch.bfloat16)
    with torch.inference_mode():
        leader = packed.q_proj
        want = torch.ops.mkldnn._linear_pointwise(x, leader.packed, leader.bias, "none", [], "")
        torch.testing.assert_close(op(x, leader.packed, leader.bias, 128), want, rtol=0, atol=0)
        compiled = torch.compile(packed.forward, dynamic=False, fullgraph=True)
        torch.testing.assert_close(compiled(x[:1]), packed(x[:1]), rtol=0, atol=0)


def test_where_the_cpp_kernel_cannot_build_the_python_op_stays(monkeypatch, caplog):
    from chatzoo_widget.models import native_linear

    def no_compiler(*args, **kwargs):
        raise RuntimeError("Ninja is required to load C++ extensions")

    monkeypatch.setattr(native_linear, "_state", {"op": None, "tried": False, "why": None})
    monkeypatch.setattr("torch.utils.cpp_extension.load_inline", no_compiler)
    caplog.set_level("INFO", logger="chatzoo_widget.models.native_linear")
    assert native_linear.build_native_packed_linear() is None and native_linear.native_packed_linear() is None
    assert "Ninja is required" in native_linear._state["why"] and "through Python" in caplog.text
    assert native_linear.build_native_packed_linear() is None  # tried once per process


def test_the_custom_op_gives_its_shape_to_the_compiler():
    fake = packed_linear._packed_linear_shape(torch.empty(3, 64, device="meta"), torch.empty(0), None, 96)
    assert fake.shape == (3, 96)


@needs_bf16
def test_int8_on_bf16_keeps_its_own_layers(tiny_chat_dir):
    from chatzoo_widget.models.int8 import Int8Linear

    bot = load_bot(tiny_chat_dir, type="chat", dtype="bfloat16", quantize="int8", compile=False)
    try:
        assert any(isinstance(m, Int8Linear) for m in bot.model.modules())
        assert bot.describe()["packed_linears"] == 0
        assert len(greedy(bot, "Hello", 4)[1]) == 4
    finally:
        bot.close()
