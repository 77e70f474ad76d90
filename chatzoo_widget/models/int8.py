"""Weight-only int8 (`quantize="int8"`): each linear layer's weights as int8 with one scale per output row.

Decoding reads every weight once per token, so a quarter of float32's bytes is up to 4x less to read. The product
is torch's own `aten._weight_int8pack_mm` (activations stay in the model's float dtype; the int8 weights are
scaled inside the kernel), so nothing beyond torch is needed. Inside a compiled CPU decode step (engine/compiled.py)
the product is written so that inductor generates one fused int8 reduction instead (see `int8_product`). Symmetric
per-row scales: scale = max |w| / 127.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .siblings import SiblingMember, group_siblings

#: rows up to which a compiled step computes the product as one fused reduction (measured: 1.3x the kernel for
#: one row, 1.7x slower for four; prefill is eager)
FUSED_ROWS = 1


class Int8Linear(nn.Module):
    """A linear layer with int8 weights [out, in], float scales [out] and the original bias."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        weight_int8, scales = quantize_rows(linear.weight)
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.register_buffer("weight_int8", weight_int8)
        self.register_buffer("scales", scales.to(linear.weight.dtype))
        self.bias = None if linear.bias is None else nn.Parameter(linear.bias.detach(), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = int8_product(x.reshape(-1, self.in_features), self.weight_int8, self.scales, self.bias)
        return out.reshape(*x.shape[:-1], self.out_features)


def quantize_rows(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(int8 weight, float32 scale per output row): symmetric, scale = max |w| / 127."""
    weight = weight.detach().float()
    scales = (weight.abs().amax(dim=1) / 127).clamp(min=1e-12)
    return torch.round(weight / scales[:, None]).clamp(-127, 127).to(torch.int8), scales


def int8_product(flat: torch.Tensor, weight_int8: torch.Tensor, scales: torch.Tensor,
                 bias: torch.Tensor | None) -> torch.Tensor:
    """flat [rows, in] (cast to the scales' dtype) times int8 [out, in] scaled per row, plus bias."""
    if flat.dtype != scales.dtype:
        flat = flat.to(scales.dtype)
    if torch.compiler.is_compiling() and flat.shape[0] <= FUSED_ROWS and flat.device.type == "cpu":
        # Written as a product and a sum, inductor fuses the int8 -> float conversion into one reduction
        # loop that reads each int8 weight once: about twice `_weight_int8pack_mm`'s speed for a decode step.
        # Never eager: there the product would be materialized ([rows, out, in] floats).
        out = ((flat[:, None, :].float() * weight_int8[None].float()).sum(-1) * scales.float()).to(flat.dtype)
    else:
        out = torch.ops.aten._weight_int8pack_mm(flat.contiguous(), weight_int8, scales)
    return out if bias is None else out + bias


class Int8Sibling(SiblingMember):
    """An int8 projection sharing one stacked int8 matrix with its siblings (models/siblings.py). Scales are
    per output row, so stacking changes no weight's rounding: the products equal separate `Int8Linear`s'."""

    def fill(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        weight_int8, scales = quantize_rows(weight)
        self.register_buffer("weight_int8", weight_int8)
        self.register_buffer("scales", scales.to(weight.dtype))
        self.bias = None if bias is None else nn.Parameter(bias, requires_grad=False)

    def product(self, flat: torch.Tensor) -> torch.Tensor:
        return int8_product(flat, self.weight_int8, self.scales, self.bias)

    def own_state(self) -> dict[str, torch.Tensor]:
        lead, (start, stop) = self.leader, self.rows
        return {"weight_int8": lead.weight_int8[start:stop], "scales": lead.scales[start:stop]}


def quantize_int8(model: Any) -> int:
    """Replace every nn.Linear of `model` by an Int8Linear (in place); return how many were replaced.

    Tied weights (an lm_head sharing the embedding) are quantized as the head only; the embedding stays. Sibling
    projections of one input (q/k/v, gate/up) become one stacked int8 matrix (`Int8Sibling`)."""
    grouped = group_siblings(model, Int8Sibling, lambda linear: True)
    targets = [(name, module) for name, module in model.named_modules() if type(module) is nn.Linear]
    for name, module in targets:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, Int8Linear(module))
    return grouped + len(targets)


__all__ = ["Int8Linear", "Int8Sibling", "int8_product", "quantize_int8", "quantize_rows"]
