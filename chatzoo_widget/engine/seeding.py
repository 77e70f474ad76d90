"""Seeds for the few requests that must use torch's process-wide random state.

Batched requests draw from their own generators (sampling.py). A request that runs alone through `model.generate`
(beam search, seq2seq, a family that cannot batch) samples from torch's global generator, which generate offers no
way around; such sampling runs under one lock, with the global state saved and restored around it, so a seeded
request is reproducible and nobody else's random state changes.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator

import torch

_GLOBAL_RNG = threading.Lock()


@contextlib.contextmanager
def seeded(seed: int | None) -> Iterator[None]:
    """Run the block with torch's global generator seeded (and restored afterwards); None: do nothing."""
    if seed is None:
        yield
        return
    with _GLOBAL_RNG, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
