"""Sibling projections of one input as one matrix product: attention's q/k/v, a gated MLP's gate/up.

Decoding one row calls each linear layer once per token, and each call has a fixed cost besides reading its
weights (oneDNN: ~15 us; an inductor loop: a parallel region). Projections that read the same input can be one
product over their stacked rows. The layers stay where the model's code calls them (`self.q_proj(x)`,
`self.k_proj(x)`, ...): the first member's call computes every member's output and leaves the others theirs, keyed
by the input tensor itself. A member called with another tensor (another thread's forward, another call order)
computes the product again and takes its own slice, so the sharing can cost time but never change a result. The
last member to take its part lets go of the shared outputs.

Subclasses say how the stacked matrix is stored and multiplied: `models/packed_linear.py` (oneDNN-packed bfloat16)
and `models/int8.py` (weight-only int8).
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

#: sibling projections that read the same input, in the order their module's forward calls them
SIBLINGS = (("q_proj", "k_proj", "v_proj"), ("gate_proj", "up_proj"))


class SiblingMember(nn.Module):
    """One projection of a sibling group; the first member (the leader) holds the stacked matrix."""

    def __init__(self, linear: nn.Linear, index: int, rows: tuple[int, int], leader: SiblingMember | None):
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.index, self.rows = index, rows
        self.sizes: list[int] = [linear.out_features]  # every member's rows (the leader's list is the one read)
        self.last = False  # the last member: lets go of the shared outputs (set by `group`)
        self.pending: tuple[torch.Tensor, list[torch.Tensor]] | None = None  # (input, every member's output)
        if leader is not None:
            leader.sizes.append(linear.out_features)
        object.__setattr__(self, "leader", leader or self)  # a reference, not a submodule (no double registration)

    # ----- what a subclass provides (called on the leader) ---------------------------------------
    def fill(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        """Store the stacked [sum of rows, in] weight and bias."""
        raise NotImplementedError

    def product(self, flat: torch.Tensor) -> torch.Tensor:
        """flat [rows, in] times the stacked matrix: [rows, sum of rows]."""
        raise NotImplementedError

    def own_state(self) -> dict[str, torch.Tensor]:
        """This member's weights as a plain layer of its kind would save them (the bias is added here)."""
        raise NotImplementedError

    def _save_to_state_dict(self, destination: dict, prefix: str, keep_vars: bool) -> None:
        # each layer under its own usual names, never the leader's stacked tensors
        destination.update({prefix + name: value for name, value in self.own_state().items()})
        bias = self.leader.bias
        if bias is not None:
            start, stop = self.rows
            destination[prefix + "bias"] = bias[start:stop]

    # ----- the shared call ----------------------------------------------------------------------
    def _parts(self, x: torch.Tensor) -> list[torch.Tensor]:
        lead = self.leader
        out = lead.product(x.reshape(-1, self.in_features))
        return [part.reshape(*x.shape[:-1], part.shape[-1]) for part in out.split(lead.sizes, dim=-1)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = self.leader
        if self.index == 0:  # forwards call the first member first: it never finds outputs to take
            parts = self._parts(x)
            lead.pending = (x, parts)
            return parts[0]
        shared = lead.pending
        if shared is not None and shared[0] is x:
            if self.last:
                lead.pending = None
            return shared[1][self.index]
        return self._parts(x)[self.index]

    @classmethod
    def group(cls, linears: list[nn.Linear]) -> list[SiblingMember]:
        """Members of `cls` for `linears` (the leader first), the leader filled with their stacked weights."""
        members: list[SiblingMember] = []
        start = 0
        for index, linear in enumerate(linears):
            members.append(cls(linear, index, (start, start + linear.out_features), members[0] if members else None))
            start += linear.out_features
        members[-1].last = True
        bias = None if linears[0].bias is None else torch.cat([m.bias.detach() for m in linears])
        members[0].fill(torch.cat([m.weight.detach() for m in linears]).contiguous(), bias)
        return members

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, rows {self.rows[0]}:" \
               f"{self.rows[1]} of {sum(self.leader.sizes)} shared"


def group_siblings(model: Any, member: type[SiblingMember], eligible: Callable[[nn.Linear], bool]) -> int:
    """Replace every sibling group of plain `nn.Linear` layers that `eligible` accepts (one input size, biases on
    all or none) by `member.group` (in place); return how many layers were replaced."""
    replaced = 0
    for module in list(model.modules()):
        for names in SIBLINGS:
            linears = [getattr(module, name, None) for name in names]
            if not all(type(m) is nn.Linear and "forward" not in vars(m) and eligible(m) for m in linears):
                continue
            if len({m.in_features for m in linears}) != 1 or len({m.bias is None for m in linears}) != 1:
                continue
            for name, new in zip(names, member.group(linears)):
                setattr(module, name, new)
            replaced += len(names)
    return replaced


__all__ = ["SIBLINGS", "SiblingMember", "group_siblings"]
