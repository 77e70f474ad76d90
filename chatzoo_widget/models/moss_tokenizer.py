"""MOSS's tokenizer as transformers' `GPT2Tokenizer`, built from the checkpoint's own files.

Byte-level BPE on vocab.json + merges.txt, then MOSS's added tokens (added_tokens.json) at their published ids,
then the special tokens. Special tokens come last because any of them may be an added token: the original
`MossTokenizer` defaults to `eos_token="<eom>"`, so a tokenizer it saved names `<eom>` as its eos, and building
the GPT2Tokenizer with that eos would append `<eom>` at once and shift every added id after it.

Whitespace next to a token follows what transformers 4.33 did with MOSS's class: a plain added token (`<eoh>`,
`<|MOSS|>`, ...) swallows the whitespace on both sides (`...<eoh>\\n<|MOSS|>:` encodes without the newline); a
special token keeps it when it came as an AddedToken (tokenizer_config.json, or a special_tokens_map.json entry
written as an object, as MossTokenizer.save_pretrained does) and swallows it when special_tokens_map.json gives
it as a plain string (as the published repositories do).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

TOKENIZER_FILES = ("vocab.json", "merges.txt", "added_tokens.json", "special_tokens_map.json", "tokenizer_config.json")
#: the special tokens MossTokenizer.__init__ defaults to (pad: none)
CLASS_DEFAULTS = {"bos_token": "<|endoftext|>", "eos_token": "<eom>", "unk_token": "<|endoftext|>", "pad_token": None}


@dataclass(frozen=True)
class TokenSpec:
    """A token's text and whether it swallows the whitespace on its left / right."""

    text: str
    lstrip: bool
    rstrip: bool

    def added_token(self, special: bool) -> Any:
        from tokenizers import AddedToken

        return AddedToken(self.text, lstrip=self.lstrip, rstrip=self.rstrip, normalized=False, special=special)


def _read_json(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    return data if isinstance(data, dict) else {}


def read_merges(text: str) -> list[tuple[str, str]]:
    """merges.txt as MOSS's tokenizer reads it: line 1 is the version header and text after the last newline is
    not a merge."""
    lines = text.split("\n")[1:-1]
    return [tuple(line.split()) for line in lines if line.strip()]  # type: ignore[misc]


def _spec(value: Any, *, plain_strips: bool, where: str) -> TokenSpec | None:
    """A special-token entry: None, a string, or an AddedToken object ({"content": ..., "lstrip": ...})."""
    if value is None:
        return None
    if isinstance(value, str):
        return TokenSpec(value, plain_strips, plain_strips)
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return TokenSpec(value["content"], bool(value.get("lstrip", False)), bool(value.get("rstrip", False)))
    raise ValueError(f"MOSS tokenizer: {where} must be a string or an object with a 'content' string, "
                     f"not {value!r}")


def special_tokens(config: dict[str, Any], special_map: dict[str, Any]) -> dict[str, TokenSpec | None]:
    """bos / eos / unk / pad as transformers 4.33 resolved them for MossTokenizer: special_tokens_map.json wins
    over tokenizer_config.json, which wins over the class's defaults. A plain string from special_tokens_map.json
    swallows whitespace; one from tokenizer_config.json or the defaults does not (the class wraps it)."""
    out = {}
    for key, default in CLASS_DEFAULTS.items():
        if key in special_map:
            out[key] = _spec(special_map[key], plain_strips=True, where=f"special_tokens_map.json's {key}")
        elif key in config:
            out[key] = _spec(config[key], plain_strips=False, where=f"tokenizer_config.json's {key}")
        else:
            out[key] = _spec(default, plain_strips=False, where=key)
    return out


def moss_tokenizer(files: dict[str, str | None]) -> Any:
    """A GPT2Tokenizer from MOSS's tokenizer files (name -> local path, None when absent)."""
    from transformers import GPT2Tokenizer

    for name in ("vocab.json", "merges.txt"):
        if not files.get(name):
            raise FileNotFoundError(f"MOSS tokenizer file {name} is missing")
    vocab = _read_json(files["vocab.json"])
    with open(files["merges.txt"], encoding="utf-8") as f:
        merges = read_merges(f.read())
    config = _read_json(files.get("tokenizer_config.json"))
    special_map = _read_json(files.get("special_tokens_map.json"))
    named = {key: spec for key, spec in special_tokens(config, special_map).items() if spec is not None}
    extra = [spec for value in special_map.get("additional_special_tokens") or []
             if (spec := _spec(value, plain_strips=True, where="an additional special token")) is not None]
    specials: dict[str, TokenSpec] = {}  # text -> how it strips; the first name wins, as in transformers 4.33
    for spec in [*named.values(), *extra]:
        specials.setdefault(spec.text, spec)

    # no special tokens yet: the constructor would append any that vocab.json lacks before the added tokens
    tok = GPT2Tokenizer(vocab=vocab, merges=merges, add_prefix_space=bool(config.get("add_prefix_space", False)),
                        model_max_length=int(config.get("model_max_length") or 2048),
                        bos_token=None, eos_token=None, unk_token=None, pad_token=None)
    added = sorted(_read_json(files.get("added_tokens.json")).items(), key=lambda kv: kv[1])
    tok.add_tokens([(specials.get(text) or TokenSpec(text, True, True)).added_token(special=text in specials)
                    for text, _ in added if text not in vocab])
    for text, index in added:
        got = tok.convert_tokens_to_ids(text)
        if got != index:
            raise ValueError(f"MOSS added token {text!r} has id {index} in added_tokens.json but would get {got}: "
                             f"the ids must follow vocab.json's {len(vocab)} entries without gaps")
    # tokens already there keep their ids; one in neither file is appended, as transformers 4.33 did
    tok.add_special_tokens({key: specials[spec.text].added_token(special=True) for key, spec in named.items()})
    if extra:
        tok.add_special_tokens({"additional_special_tokens": [specials[s.text].added_token(special=True)
                                                              for s in extra]})
    return tok


__all__ = ["CLASS_DEFAULTS", "TOKENIZER_FILES", "TokenSpec", "moss_tokenizer", "read_merges", "special_tokens"]
