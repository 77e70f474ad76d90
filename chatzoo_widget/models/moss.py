"""MOSS (fnlp/moss-moon-003-sft) on transformers' own CodeGen classes, from the checkpoint's files alone.

MOSS is CodeGen: the same fused qkv projection in 4 model-parallel groups, rotary embeddings on `rotary_dim`
channels, GPT-J style blocks, and weights under CodeGen's names (the published shards add only each layer's
`causal_mask` buffer, which CodeGen ignores). So the model is `CodeGenForCausalLM` with MOSS's config fields
copied over, and the tokenizer is transformers' `GPT2Tokenizer` (byte-level BPE) on vocab.json + merges.txt, with
MOSS's added tokens (added_tokens.json) at their published ids. The repository's Python files are never read.

Added tokens (`<eoh>`, `<|MOSS|>`, ...) swallow the whitespace next to them, as they did under transformers 4,
where MOSS's tokenizer ran: `...<eoh>\\n<|MOSS|>:` encodes without the newline.
"""

from __future__ import annotations

import json
from typing import Any

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
TOKENIZER_FILES = ("vocab.json", "merges.txt", "added_tokens.json", "special_tokens_map.json", "tokenizer_config.json")


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


def _read_json(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    return data if isinstance(data, dict) else {}


def _token_text(value: Any, default: str) -> str:
    if isinstance(value, dict):
        return str(value.get("content", default))
    return str(value) if isinstance(value, str) else default


def read_merges(text: str) -> list[tuple[str, str]]:
    """merges.txt as MOSS's tokenizer reads it: line 1 is the version header and text after the last newline is
    not a merge."""
    lines = text.split("\n")[1:-1]
    return [tuple(line.split()) for line in lines if line.strip()]  # type: ignore[misc]


def moss_tokenizer(files: dict[str, str | None]) -> Any:
    """A GPT2Tokenizer from MOSS's tokenizer files (name -> local path, None when absent)."""
    from tokenizers import AddedToken
    from transformers import GPT2Tokenizer

    for name in ("vocab.json", "merges.txt"):
        if not files.get(name):
            raise FileNotFoundError(f"MOSS tokenizer file {name} is missing")
    vocab = _read_json(files["vocab.json"])
    with open(files["merges.txt"], encoding="utf-8") as f:
        merges = read_merges(f.read())
    config = _read_json(files.get("tokenizer_config.json"))
    special = _read_json(files.get("special_tokens_map.json"))
    names = {key: _token_text(config.get(key, special.get(key)), "<|endoftext|>")
             for key in ("bos_token", "eos_token", "unk_token")}
    tok = GPT2Tokenizer(vocab=vocab, merges=merges, add_prefix_space=bool(config.get("add_prefix_space", False)),
                        model_max_length=int(config.get("model_max_length") or 2048), **names)
    added = sorted(_read_json(files.get("added_tokens.json")).items(), key=lambda kv: kv[1])
    extra_special = {_token_text(t, "") for t in special.get("additional_special_tokens", [])}
    tok.add_tokens([AddedToken(text, lstrip=True, rstrip=True, normalized=False, special=text in extra_special)
                    for text, _ in added if text not in vocab])
    for text, index in added:
        got = tok.convert_tokens_to_ids(text)
        if got != index:
            raise ValueError(f"MOSS added token {text!r} has id {index} in added_tokens.json but would get {got}: "
                             f"the ids must follow vocab.json's {len(vocab)} entries without gaps")
    return tok


__all__ = ["GPTQ_REPOS", "TOKENIZER_FILES", "codegen_config", "gptq_message", "is_moss_config", "moss_tokenizer",
           "read_merges"]
