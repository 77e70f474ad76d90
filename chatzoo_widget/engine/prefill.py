"""Reading prompts in chunks: a group of newcomers is prefilled `chunk` tokens per forward pass.

A 5,000-word prompt takes a minute to read on two CPU cores. Read whole, it is one forward pass that nothing can
interrupt and that holds every other row of the model still. Read in chunks through the same DynamicCache (a causal
model's keys and values for the first k tokens do not depend on what follows), the scheduler can, between two
chunks, tell each request how far it got, end the requests stopped meanwhile, and give the rows already decoding a
step. The logits after the last chunk are those of the prompt read whole, to float rounding (tested for Qwen2,
Llama, Bloom's alibi, CodeGen's rotary and Gemma 3's sliding windows).

The group is left-padded to its longest prompt, as batch_state.py keeps rows, and read column block by column
block; each chunk's attention mask is the mask of every column read so far, so positions and alibi are computed
exactly as in one pass.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from transformers import DynamicCache

from .batch_state import cache_layers

#: Prompt tokens per forward pass while reading a prompt (a bot's `prefill_chunk` load option changes it). On two
#: CPU cores a chunk of 512 takes a few seconds on a 135M-parameter model: progress moves and Stop is felt.
DEFAULT_PREFILL_CHUNK = 512


def check_chunk(chunk: Any) -> int:
    """`chunk` as a positive int; ValueError naming the bad value otherwise."""
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"prefill_chunk must be a positive number of tokens (e.g. {DEFAULT_PREFILL_CHUNK}), "
                         f"got {chunk!r}")
    return chunk


class PrefillGroup:
    """Newcomers being read together: their left-padded ids and mask, the cache filled so far, and how far.

    requests[i] is row i. `next_chunk` gives the next forward pass's inputs; `advance` records it as read.
    """

    def __init__(self, requests: Sequence[Any], pad_token_id: int, device: Any):
        self.requests = list(requests)
        longest = max(len(r.prompt_ids) for r in self.requests)
        self.input_ids = torch.full((len(self.requests), longest), pad_token_id, dtype=torch.long, device=device)
        self.mask = torch.zeros((len(self.requests), longest), dtype=torch.long, device=device)
        for i, request in enumerate(self.requests):
            n = len(request.prompt_ids)
            self.input_ids[i, longest - n:] = torch.tensor(request.prompt_ids, dtype=torch.long)
            self.mask[i, longest - n:] = 1
        self.cache = DynamicCache()
        self.read = 0  # columns already in the cache

    @property
    def length(self) -> int:
        return int(self.input_ids.shape[1])

    @property
    def finished(self) -> bool:
        return self.read >= self.length

    def next_chunk(self, chunk: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(ids of the next `chunk` columns, the mask of every column up to their end)."""
        end = min(self.length, self.read + chunk)
        return self.input_ids[:, self.read:end], self.mask[:, :end]

    def advance(self, columns: int) -> None:
        self.read = min(self.length, self.read + columns)

    def tokens_read(self, row: int) -> int:
        """How many of row `row`'s own prompt tokens are in the cache (its padding does not count)."""
        n = len(self.requests[row].prompt_ids)
        return max(0, min(n, self.read - (self.length - n)))

    def drop(self, rows: set[int]) -> None:
        """Let these rows go (stopped mid-read); the others keep what they have read."""
        keep = [i for i in range(len(self.requests)) if i not in rows]
        self.requests = [self.requests[i] for i in keep]
        if not keep:
            return
        index = torch.tensor(keep, dtype=torch.long, device=self.mask.device)
        self.input_ids = self.input_ids.index_select(0, index)
        self.mask = self.mask.index_select(0, index)
        for layer in cache_layers(self.cache):
            if getattr(layer, "keys", None) is not None and layer.keys.dim() == 4:
                layer.keys = layer.keys.index_select(0, index)
                layer.values = layer.values.index_select(0, index)
