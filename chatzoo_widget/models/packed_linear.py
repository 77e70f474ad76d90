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
  (`SiblingLinear`): one oneDNN call instead of three or two, measured 2.3 ms less per SmolLM2 step (18.1 -> 15.8
  ms of products), since each call costs ~15 us besides its reads and the fused matrix streams better.
- `CHATZOO_PACKED_LINEAR=0` turns it off (plain `nn.Linear` stays), for comparisons and as an escape hatch.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from .native_linear import build_native_packed_linear, native_packed_linear
from .precision import native_bf16_flag

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


#: sibling projections that read the same input, in the order their module's forward calls them
SIBLINGS = (("q_proj", "k_proj", "v_proj"), ("gate_proj", "up_proj"))


class SiblingLinear(nn.Module):
    """One of a few projections of the same input whose weights are packed as one matrix.

    The first member's weight buffer holds every member's rows. The first member's call computes every member's
    output and leaves the others theirs, keyed by the input tensor itself: a member
    called with another tensor (another thread's forward, another call order) computes the product again and
    takes its own slice, so the sharing can cost time but never change a result. The last member to take its
    part lets go of the shared outputs."""

    def __init__(self, linear: nn.Linear, index: int, rows: tuple[int, int], leader: SiblingLinear | None):
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.index, self.rows = index, rows
        self.sizes: list[int] = [linear.out_features]
        self.last = False  # the last member: lets go of the shared outputs (set by _pack_group)
        self.pending: tuple[torch.Tensor, list[torch.Tensor]] | None = None  # (input, every member's output)
        if leader is None:
            self.register_buffer("packed", torch.empty(0), persistent=False)  # filled by _pack_group
            self.bias = None
        else:
            leader.sizes.append(linear.out_features)
        object.__setattr__(self, "leader", leader or self)  # a reference, not a submodule (no double registration)

    def _product(self, x: torch.Tensor) -> list[torch.Tensor]:
        lead = self.leader
        flat = x.reshape(-1, self.in_features)
        if flat.dtype != torch.bfloat16:
            flat = flat.to(torch.bfloat16)
        flat = flat.contiguous()
        if torch.compiler.is_compiling():
            out = (native_packed_linear() or packed_linear)(flat, lead.packed, lead.bias, sum(lead.sizes))
        else:
            out = torch.ops.mkldnn._linear_pointwise(flat, lead.packed, lead.bias, "none", [], "")
        return [part.reshape(*x.shape[:-1], part.shape[-1]) for part in out.split(lead.sizes, dim=-1)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = self.leader
        if self.index == 0:  # forwards call the first member first: it never finds outputs to take
            parts = self._product(x)
            lead.pending = (x, parts)
            return parts[0]
        shared = lead.pending
        if shared is not None and shared[0] is x:
            if self.last:
                lead.pending = None
            return shared[1][self.index]
        return self._product(x)[self.index]

    @property
    def weight(self) -> torch.Tensor:
        """This member's plain [out, in] weight (exact), unpacked on each access."""
        start, stop = self.rows
        return self.leader.packed.to_dense()[start:stop]

    before_compile = PackedLinear.before_compile

    def _save_to_state_dict(self, destination: dict, prefix: str, keep_vars: bool) -> None:
        super()._save_to_state_dict(destination, prefix, keep_vars)
        destination[prefix + "weight"] = self.weight
        lead = self.leader
        if lead.bias is not None:
            start, stop = self.rows
            destination[prefix + "bias"] = lead.bias[start:stop]
        destination.pop(prefix + "packed", None)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, rows {self.rows[0]}:" \
               f"{self.rows[1]} of one oneDNN packed bfloat16 matrix"


def _pack_group(parent: nn.Module, names: tuple[str, ...]) -> bool:
    """Pack `parent`'s sibling projections `names` as one SiblingLinear group; False: they do not qualify."""
    linears = [getattr(parent, name, None) for name in names]
    if not all(type(m) is nn.Linear and m.weight.dtype == torch.bfloat16 and m.weight.device.type == "cpu"
               and "forward" not in vars(m) for m in linears):
        return False
    if len({m.in_features for m in linears}) != 1 or len({m.bias is None for m in linears}) != 1:
        return False
    leader, start = None, 0
    members = []
    for index, linear in enumerate(linears):
        member = SiblingLinear(linear, index, (start, start + linear.out_features), leader)
        leader = leader or member
        start += linear.out_features
        members.append(member)
    members[-1].last = True
    weight = torch.cat([m.weight.detach() for m in linears]).contiguous()
    leader.packed = torch.ops.mkldnn._reorder_linear_weight(weight, 1)
    if linears[0].bias is not None:
        leader.bias = nn.Parameter(torch.cat([m.bias.detach() for m in linears]), requires_grad=False)
    for name, member in zip(names, members):
        setattr(parent, name, member)
    return True


def pack_linears(model: Any) -> int:
    """Replace the model's plain bfloat16 CPU `nn.Linear` layers by `PackedLinear` (in place) where it pays
    (`packing_unavailable` is None); return how many were replaced."""
    if packing_unavailable(model):
        return 0
    grouped = sum(len(names) for module in list(model.modules()) for names in SIBLINGS
                  if _pack_group(module, names))
    targets = [(name, module) for name, module in model.named_modules()
               if type(module) is nn.Linear and module.weight.dtype == torch.bfloat16
               and module.weight.device.type == "cpu" and "forward" not in vars(module)]
    for name, module in targets:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, PackedLinear(module))
    return grouped + len(targets)


__all__ = ["PACKED_ENV", "PackedLinear", "SIBLINGS", "SiblingLinear", "pack_linears", "packed_linear",
           "packing_unavailable"]
