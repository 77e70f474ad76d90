"""The running batch of one scheduler: the rows' KV cache and attention mask, kept left-padded.

Every row is `[padding..., its prompt..., its reply so far]`, so the newest token of every row sits in the last
column and one forward pass of shape [rows, 1] advances all of them. New rows are prefilled apart and joined by
padding the shorter side on the left; finished rows leave by index selection; columns that have become padding in
every row are trimmed off, so a long finished reply does not slow the rows that stay.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import DynamicCache


def cache_layers(cache: Any) -> list[Any]:
    """The per-layer key/value holders of a DynamicCache (transformers 5: `.layers` with `.keys`/`.values`)."""
    return list(getattr(cache, "layers", []))


def plain_cache(cache: Any) -> bool:
    """True when every layer keeps full keys and values, which is what padding and joining rows needs."""
    layers = cache_layers(cache)
    return bool(layers) and all(
        type(layer).__name__ == "DynamicLayer" and getattr(layer, "keys", None) is not None and layer.keys.dim() == 4
        for layer in layers
    )


def _pad_left(t: torch.Tensor, n: int, dim: int) -> torch.Tensor:
    if n <= 0:
        return t
    shape = list(t.shape)
    shape[dim] = n
    return torch.cat([t.new_zeros(shape), t], dim=dim)


class BatchState:
    """KV cache + attention mask of the rows decoding together; row i is `rows[i]` (the scheduler's requests)."""

    def __init__(self) -> None:
        self.cache: DynamicCache | None = None
        self.mask: torch.Tensor | None = None  # [rows, columns] of 1 (token) and 0 (padding)

    @property
    def size(self) -> int:
        return 0 if self.mask is None else int(self.mask.shape[0])

    @property
    def length(self) -> int:
        return 0 if self.mask is None else int(self.mask.shape[1])

    def join(self, cache: DynamicCache, mask: torch.Tensor) -> None:
        """Append the rows of a freshly prefilled group (its own cache and mask) below the running rows."""
        if self.mask is None:
            self.cache, self.mask = cache, mask
            return
        grow_old, grow_new = mask.shape[1] - self.length, self.length - mask.shape[1]
        for old, new in zip(cache_layers(self.cache), cache_layers(cache)):
            old.keys = torch.cat([_pad_left(old.keys, grow_old, 2), _pad_left(new.keys, grow_new, 2)], dim=0)
            old.values = torch.cat([_pad_left(old.values, grow_old, 2), _pad_left(new.values, grow_new, 2)], dim=0)
        self.mask = torch.cat([_pad_left(self.mask, grow_old, 1), _pad_left(mask, grow_new, 1)], dim=0)

    def keep(self, rows: list[int]) -> None:
        """Keep only these rows (in this order), then drop the columns that are padding in every row left."""
        if not rows:
            self.cache, self.mask = None, None
            return
        if rows != list(range(self.size)):
            index = torch.tensor(rows, dtype=torch.long, device=self.mask.device)
            self.mask = self.mask.index_select(0, index)
            for layer in cache_layers(self.cache):
                layer.keys = layer.keys.index_select(0, index)
                layer.values = layer.values.index_select(0, index)
        used = self.mask.any(dim=0).nonzero()
        start = int(used[0]) if used.numel() else 0
        if start > 0:
            self.mask = self.mask[:, start:].contiguous()
            for layer in cache_layers(self.cache):
                layer.keys = layer.keys[:, :, start:, :].contiguous()
                layer.values = layer.values[:, :, start:, :].contiguous()

    def extend_mask(self) -> torch.Tensor:
        """The mask for the next step: one more real column for every row."""
        self.mask = torch.cat([self.mask, self.mask.new_ones((self.size, 1))], dim=1)
        return self.mask
