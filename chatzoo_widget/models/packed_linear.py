"""bfloat16 linear layers on oneDNN's prepacked weights, for CPUs with native bfloat16.

On a CPU with AVX-512 BF16 / AMX, torch's plain bfloat16 `F.linear` multiplies one row by a weight matrix at about
half the memory bandwidth float32 reaches (measured on SmolLM2's shapes: ~19 GB/s against ~31 GB/s), so bfloat16
weights decoded no faster than float32 ones. oneDNN's linear on weights reordered once into its blocked layout
(`mkldnn._reorder_linear_weight`, what inductor's `freezing` does) reads them at 30-46 GB/s: 1.5-2x faster for 1-8
rows. So a bfloat16 model loaded on such a CPU gets its `nn.Linear` layers replaced by `PackedLinear` at load.

- Memory: the packed tensor replaces the plain weight (same bytes). A head tied to the embedding (SmolLM2, Gemma)
  gets a packed copy of its own while the embedding keeps the plain one: vocab x hidden x 2 bytes more (SmolLM2-135M:
  57 MB on 270 MB).
- `.weight` still reads: it returns a dense copy (exact), made on each access; `state_dict()` holds it under the
  usual name. Code that needs the weights often should read them before packing.
- Compiled decode steps trace through `chatzoo::packed_linear` (an opaque op for inductor, which cannot lower
  oneDNN's op on a weight that is not a frozen constant), or its C++ twin once built (models/native_linear.py);
  eager calls oneDNN directly.
- Sibling projections of one input (attention's q/k/v, a gated MLP's gate/up) share one packed weight
  (`SiblingLinear`, on models/siblings.py): one oneDNN call instead of three or two, measured 2.3 ms less per
  SmolLM2 step (18.1 -> 15.8 ms of products), since each call costs ~15 us besides its reads and the stacked
  matrix streams better.
- `CHATZOO_PACKED_LINEAR=0` turns it off (plain `nn.Linear` stays), for comparisons and as an escape hatch.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from .native_linear import build_native_packed_linear, native_packed_linear
from .precision import native_bf16_flag
from .siblings import SIBLINGS, SiblingMember, group_siblings

#: the environment variable that turns packing off ("0", "false", "off", "no")
PACKED_ENV = "CHATZOO_PACKED_LINEAR"


def packing_unavailable(model: Any) -> str | None:
    """Why `pack_linears` leaves this model's linear layers plain (None: it packs them)."""
    if os.environ.get(PACKED_ENV, "").strip().lower() in ("0", "false", "off", "no"):
        return f"{PACKED_ENV} turns it off"
    device = getattr(model, "device", torch.device("cpu"))
    if torch.device(device).type != "cpu":
        return f"the model is on {device}, not the CPU"
    if getattr(model, "dtype", None) != torch.bfloat16:
        return f"weights are {getattr(model, 'dtype', None)}, not bfloat16 (oneDNN's float32 packing measured slower)"
    if not torch.backends.mkldnn.is_available() or not hasattr(torch.ops.mkldnn, "_linear_pointwise"):
        return "this torch has no oneDNN (mkldnn) linear"
    if not native_bf16_flag():
        return "the CPU has no native bfloat16 (avx512_bf16 or amx_bf16)"
    return None


@torch.library.custom_op("chatzoo::packed_linear", mutates_args=())
def packed_linear(x: torch.Tensor, packed: torch.Tensor, bias: torch.Tensor | None, out_features: int) -> torch.Tensor:
    """x [rows, in] @ packed^T (+ bias): oneDNN's linear on a weight from `mkldnn._reorder_linear_weight`."""
    return torch.ops.mkldnn._linear_pointwise(x, packed, bias, "none", [], "")


@packed_linear.register_fake
def _packed_linear_shape(x: torch.Tensor, packed: torch.Tensor, bias: torch.Tensor | None,
                         out_features: int) -> torch.Tensor:
    return x.new_empty((x.shape[0], out_features))


class PackedLinear(nn.Module):
    """A bfloat16 `nn.Linear` whose weight lives in oneDNN's packed layout (see the module docstring)."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        weight = linear.weight.detach()
        # batch-size hint 1: the layout for decoding one row (measured as fast as any other hint for 1-8 rows)
        self.register_buffer("packed", torch.ops.mkldnn._reorder_linear_weight(weight.contiguous(), 1),
                             persistent=False)
        self.bias = None if linear.bias is None else nn.Parameter(linear.bias.detach(), requires_grad=False)

    @property
    def weight(self) -> torch.Tensor:
        """The plain [out, in] weight: a dense copy of the packed one (exact), made on each access."""
        return self.packed.to_dense()

    @weight.setter
    def weight(self, value: torch.Tensor) -> None:  # transformers' tie_weights may assign the head's weight
        self.packed = torch.ops.mkldnn._reorder_linear_weight(value.detach().to(torch.bfloat16).contiguous(), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, self.in_features)
        if flat.dtype != torch.bfloat16:
            flat = flat.to(torch.bfloat16)
        flat = flat.contiguous()
        if torch.compiler.is_compiling():
            out = (native_packed_linear() or packed_linear)(flat, self.packed, self.bias, self.out_features)
        else:  # the custom op's Python dispatch costs ~10 us a call: eager calls oneDNN itself
            out = torch.ops.mkldnn._linear_pointwise(flat, self.packed, self.bias, "none", [], "")
        return out.reshape(*x.shape[:-1], self.out_features)

    @staticmethod
    def before_compile() -> None:
        """Called before a decode step is traced (engine/compiled.py): the op's C++ kernel, built once."""
        build_native_packed_linear()

    def _save_to_state_dict(self, destination: dict, prefix: str, keep_vars: bool) -> None:
        super()._save_to_state_dict(destination, prefix, keep_vars)
        destination[prefix + "weight"] = self.weight  # exports see the usual names and a plain tensor

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, " \
               "oneDNN packed bfloat16"


class SiblingLinear(SiblingMember):
    """A bfloat16 projection sharing one oneDNN-packed matrix with its siblings (models/siblings.py)."""

    def fill(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        self.register_buffer("packed", torch.ops.mkldnn._reorder_linear_weight(weight.to(torch.bfloat16), 1),
                             persistent=False)
        self.bias = None if bias is None else nn.Parameter(bias, requires_grad=False)

    def product(self, flat: torch.Tensor) -> torch.Tensor:
        flat = (flat if flat.dtype == torch.bfloat16 else flat.to(torch.bfloat16)).contiguous()
        if torch.compiler.is_compiling():
            return (native_packed_linear() or packed_linear)(flat, self.packed, self.bias, sum(self.sizes))
        return torch.ops.mkldnn._linear_pointwise(flat, self.packed, self.bias, "none", [], "")

    @property
    def weight(self) -> torch.Tensor:
        """This member's plain [out, in] weight (exact), unpacked on each access."""
        start, stop = self.rows
        return self.leader.packed.to_dense()[start:stop]

    before_compile = PackedLinear.before_compile

    def own_state(self) -> dict[str, torch.Tensor]:
        return {"weight": self.weight}

    def extra_repr(self) -> str:
        return super().extra_repr() + " (one oneDNN packed bfloat16 matrix)"


def _packable(linear: nn.Linear) -> bool:
    return linear.weight.dtype == torch.bfloat16 and linear.weight.device.type == "cpu"


def pack_linears(model: Any) -> int:
    """Replace the model's plain bfloat16 CPU `nn.Linear` layers by `PackedLinear` (in place) where it pays
    (`packing_unavailable` is None); return how many were replaced."""
    if packing_unavailable(model):
        return 0
    grouped = group_siblings(model, SiblingLinear, _packable)
    targets = [(name, module) for name, module in model.named_modules()
               if type(module) is nn.Linear and _packable(module) and "forward" not in vars(module)]
    for name, module in targets:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, PackedLinear(module))
    return grouped + len(targets)


__all__ = ["PACKED_ENV", "PackedLinear", "SIBLINGS", "SiblingLinear", "pack_linears", "packed_linear",
           "packing_unavailable"]
