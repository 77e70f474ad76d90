"""Faster linear layers for 2 or 3 rows on a CPU.

On a CPU, MKL multiplies a batch of 2 or 3 rows by a weight matrix through a kernel that costs as much as 4 rows,
more than twice one row's (SmolLM2's MLP: 60 us for 1 row, 148 us for 2, 212 us for 3, 207 us for 4). Computed
the other way round (weight @ rows^T, then transposed), the same product of 2 rows costs about 1.4 rows'. Two
columns decoding together are the commonest batch, so the scheduler gives its model's plain `nn.Linear` layers
that path for 2-3 rows. One row, 4 or more rows, GPUs and other layer types (quantised ones) are left as they are.
"""

from __future__ import annotations

import types
from typing import Any

import torch
from torch import nn

FEW_ROWS = (2, 3)


def _few_rows_forward(self: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    rows = x.numel() // x.shape[-1] if x.dim() >= 2 else 1
    if rows not in FEW_ROWS:
        return nn.functional.linear(x, self.weight, self.bias)
    out = (self.weight @ x.reshape(rows, x.shape[-1]).t()).t()
    if self.bias is not None:
        out = out + self.bias
    return out.reshape(*x.shape[:-1], self.weight.shape[0])


def runs_on_cpu(model: Any) -> bool:
    """Whether the model computes on the CPU (its `.device`, else its first parameter's). A model placed on a GPU,
    even with some blocks offloaded to the CPU, is not: the engine's CPU-only tuning stays off for it."""
    device = getattr(model, "device", None)
    if device is None:
        device = next((p.device for p in model.parameters()), "cpu") if hasattr(model, "parameters") else "cpu"
    return torch.device(device).type == "cpu"


def use_few_rows_path(model: Any) -> int:
    """Give the model's plain CPU `nn.Linear` layers the few-rows path (idempotent); returns how many."""
    if not runs_on_cpu(model):  # the cost it works around is MKL's (module docstring), measured on CPUs only
        return 0
    count = 0
    for module in model.modules():
        if type(module) is nn.Linear and module.weight.device.type == "cpu" and "forward" not in vars(module):
            module.forward = types.MethodType(_few_rows_forward, module)
            count += 1
    return count
