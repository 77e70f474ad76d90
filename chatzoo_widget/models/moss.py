"""MOSS (fnlp/moss-moon-003-sft) on transformers' own CodeGen classes, from the checkpoint's files alone.

MOSS is CodeGen: the same fused qkv projection in 4 model-parallel groups, rotary embeddings on `rotary_dim`
channels, GPT-J style blocks, and weights under CodeGen's names (the published shards add only each layer's
`causal_mask` buffer, which CodeGen ignores). So the model is `CodeGenForCausalLM` with MOSS's config fields
copied over, and the tokenizer is transformers' `GPT2Tokenizer` (byte-level BPE) on vocab.json + merges.txt, with
MOSS's added tokens (added_tokens.json) at their published ids (`moss_tokenizer.py`). The repository's Python files
are never read.
"""

from __future__ import annotations

from typing import Any

from .moss_tokenizer import TOKENIZER_FILES, moss_tokenizer, read_merges

#: fields of MOSS's config.json that CodeGenConfig takes under the same name
_CODEGEN_FIELDS = (
    "vocab_size", "n_positions", "n_ctx", "n_embd", "n_layer", "n_head", "rotary_dim", "n_inner",
    "activation_function", "resid_pdrop", "embd_pdrop", "attn_pdrop", "layer_norm_epsilon", "initializer_range",
    "use_cache", "bos_token_id", "eos_token_id", "pad_token_id", "tie_word_embeddings",
)
#: the hub's GPTQ repositories: their kernels were written for transformers 4
GPTQ_REPOS = {
    "fnlp/moss-moon-003-sft-int4": "moss-int4", "fnlp/moss-moon-003-sft-int8": "moss-int8",
    "fnlp/moss-moon-003-sft-plugin-int4": "moss-int4", "fnlp/moss-moon-003-sft-plugin-int8": "moss-int8",
}


def is_moss_config(config: dict[str, Any]) -> bool:
    return config.get("model_type") == "moss"


def gptq_message(source: str, bits: int | None = None) -> str:
    """The error for MOSS's GPTQ checkpoints, pointing to the bitsandbytes aliases."""
    alias = GPTQ_REPOS.get(source) or (f"moss-int{bits}" if bits in (4, 8) else "moss-int4")
    return (
        f"{source!r} is a GPTQ-quantized MOSS checkpoint (wbits={bits or alias[-1]}) whose kernels were written for "
        f"transformers 4 and do not run on this one. Load {alias!r} instead: the same MOSS weights "
        f"(fnlp/moss-moon-003-sft), quantized to {alias[-1]} bit by bitsandbytes while loading "
        f"(load_bot({alias!r}), or any MOSS folder with quantization='{alias[-1]}bit')"
    )


def codegen_config(config: dict[str, Any]) -> Any:
    """transformers' CodeGenConfig for a MOSS config.json (as a dict)."""
    from transformers import CodeGenConfig

    wbits = config.get("wbits", 32)
    if wbits in (4, 8):
        raise ValueError(gptq_message(str(config.get("_name_or_path") or "this MOSS checkpoint"), wbits))
    kwargs = {k: config[k] for k in _CODEGEN_FIELDS if k in config}
    kwargs.setdefault("tie_word_embeddings", False)  # MOSS's own default, unlike PreTrainedConfig's
    dtype = config.get("dtype") or config.get("torch_dtype")
    if isinstance(dtype, str) and dtype != "auto":
        kwargs["dtype"] = dtype
    out = CodeGenConfig(**kwargs)
    out.architectures = ["CodeGenForCausalLM"]
    return out


__all__ = ["GPTQ_REPOS", "TOKENIZER_FILES", "codegen_config", "gptq_message", "is_moss_config", "moss_tokenizer",
           "read_merges"]
