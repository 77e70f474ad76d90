"""The weight dtype a load's `dtype="auto"` picks: what the hardware computes fastest without a loss that matters.

Decoding one token reads every weight once, so the bytes per weight set the pace: bfloat16 halves them. It pays
only where the hardware multiplies bfloat16 natively: CUDA GPUs (Ampere and later; float16 on older cards) and CPUs
with AVX-512 BF16 or AMX (Intel Cooper Lake / Sapphire Rapids and later, AMD Zen 4 and later). Elsewhere torch
emulates bfloat16 matrix products through float32 and is slower than float32 itself, so float32 stays.

`CHATZOO_DTYPE` (float32, bfloat16 or float16) makes "auto" pick that dtype on every device instead: for runs that
must give the same tokens on any machine (the test suite sets float32).
"""

from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass
from typing import Any

import torch

#: the environment variable that overrides the automatic choice
DTYPE_ENV = "CHATZOO_DTYPE"
_ENV_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}

#: the /proc/cpuinfo flags of native bfloat16 matrix arithmetic
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """This CPU's feature flags (Linux; empty elsewhere, where nothing is assumed)."""
    if not sys.platform.startswith("linux"):
        return frozenset()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def native_bf16_flag() -> str | None:
    """The CPU flag that makes bfloat16 native here, or None."""
    flags = cpu_flags()
    return next((f for f in BF16_CPU_FLAGS if f in flags), None)


@dataclass(frozen=True)
class DtypeChoice:
    """The dtype `dtype="auto"` chose and why (shown by `describe()` and the manifest)."""

    dtype: torch.dtype
    reason: str

    @property
    def name(self) -> str:
        return str(self.dtype).removeprefix("torch.")


def best_dtype(device: Any = None) -> DtypeChoice:
    """The fastest weight dtype for `device` (default: CUDA when present, else the CPU)."""
    forced = os.environ.get(DTYPE_ENV, "").strip()
    if forced:
        if forced not in _ENV_DTYPES:
            raise ValueError(f"{DTYPE_ENV}={forced!r} is not a dtype ChatZoo loads; use one of {sorted(_ENV_DTYPES)}")
        return DtypeChoice(_ENV_DTYPES[forced], f"{DTYPE_ENV}={forced}")
    kind = torch.device(device).type if device is not None else ("cuda" if torch.cuda.is_available() else "cpu")
    if kind == "cuda":
        if torch.cuda.is_bf16_supported():
            return DtypeChoice(torch.bfloat16, "GPU with native bfloat16")
        return DtypeChoice(torch.float16, "GPU without bfloat16: float16")
    if kind == "cpu":
        flag = native_bf16_flag()
        if flag:
            return DtypeChoice(torch.bfloat16, f"CPU with native bfloat16 ({flag})")
        return DtypeChoice(torch.float32, "CPU without native bfloat16 (no avx512_bf16 or amx_bf16): float32")
    return DtypeChoice(torch.float32, f"{kind}: float32")


__all__ = ["BF16_CPU_FLAGS", "DTYPE_ENV", "DtypeChoice", "best_dtype", "cpu_flags", "native_bf16_flag"]
