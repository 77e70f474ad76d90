"""ChatGLM-6B's tokenizer on transformers 5: sentencepiece (`ice_text.model`) with GLM's whitespace rules.

Before sentencepiece sees the text, a newline becomes the piece `<n>`, a tab `<|tab|>` and a run of 2 to 80 spaces
`<|blank_N|>` (longest runs first); decoding turns them back. A prompt gets `[gMASK] <sop>` appended. The special
tokens (`<sop>`, `<eop>`, `<unk>`, `<pad>`, `[MASK]`) typed inside a text stand for themselves and swallow the
whitespace around them, as they did under transformers 4. Ids are sentencepiece ids shifted by
`num_image_tokens` (0 in the published tokenizer_config.json).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from transformers import PreTrainedTokenizer

VOCAB_FILE = "ice_text.model"
MAX_BLANK = 80


def encode_whitespace(text: str, max_blank: int = MAX_BLANK) -> str:
    """GLM's text form: newlines, tabs and runs of spaces as marker pieces."""
    text = text.replace("\n", "<n>").replace("\t", "<|tab|>")
    for n in range(max_blank, 1, -1):
        text = text.replace(" " * n, f"<|blank_{n}|>")
    return text


def decode_whitespace(text: str, max_blank: int = MAX_BLANK) -> str:
    text = text.replace("<n>", "\n").replace("<|tab|>", "\t")
    for n in range(2, max_blank + 1):
        text = text.replace(f"<|blank_{n}|>", " " * n)
    return text


class ChatGLM6BTokenizer(PreTrainedTokenizer):
    """The tokenizer of THUDM/chatglm-6b, read from `ice_text.model` and tokenizer_config.json."""

    vocab_files_names = {"vocab_file": VOCAB_FILE}
    model_input_names = ["input_ids", "attention_mask"]

    def __init__(
        self,
        vocab_file: str,
        bos_token: str = "<sop>",
        eos_token: str = "<eop>",
        end_token: str = "</s>",
        mask_token: str = "[MASK]",
        gmask_token: str = "[gMASK]",
        pad_token: str = "<pad>",
        unk_token: str = "<unk>",
        num_image_tokens: int = 0,
        padding_side: str = "left",
        **kwargs: Any,
    ):
        import sentencepiece as spm

        self.vocab_file = vocab_file
        self.sp = spm.SentencePieceProcessor(model_file=vocab_file)
        self.num_image_tokens = int(num_image_tokens)
        self.end_token = end_token
        self.gmask_token = gmask_token
        self._specials = [bos_token, eos_token, unk_token, pad_token, mask_token]
        self._special_split = re.compile("(" + "|".join(re.escape(t) for t in
                                                        sorted(set(self._specials), key=len, reverse=True)) + ")")
        for key in ("do_lower_case", "remove_space", "auto_map", "tokenizer_class", "name_or_path"):
            kwargs.pop(key, None)
        super().__init__(bos_token=bos_token, eos_token=eos_token, mask_token=mask_token, pad_token=pad_token,
                         unk_token=unk_token, padding_side=padding_side, **kwargs)

    @classmethod
    def from_folder(cls, folder: str | os.PathLike) -> "ChatGLM6BTokenizer":
        """Build it from a checkpoint folder (its ice_text.model and tokenizer_config.json)."""
        folder = Path(folder)
        vocab = folder / VOCAB_FILE
        if not vocab.is_file():
            raise FileNotFoundError(f"ChatGLM-6B tokenizer file {VOCAB_FILE} not found in {str(folder)!r}")
        config_file = folder / "tokenizer_config.json"
        config = json.loads(config_file.read_text(encoding="utf-8")) if config_file.is_file() else {}
        keep = ("bos_token", "eos_token", "end_token", "mask_token", "gmask_token", "pad_token", "unk_token",
                "num_image_tokens")
        return cls(str(vocab), **{k: v for k, v in config.items() if k in keep and isinstance(v, (str, int))},
                   model_max_length=config.get("model_max_length", 2048))

    # ----- vocabulary --------------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return self.num_image_tokens + self.sp.get_piece_size()

    def get_vocab(self) -> dict[str, int]:
        return {self.sp.id_to_piece(i): i + self.num_image_tokens for i in range(self.sp.get_piece_size())}

    def _convert_token_to_id(self, token: str) -> int:
        return self.sp.piece_to_id(token) + self.num_image_tokens

    def _convert_id_to_token(self, index: int) -> str:
        if index < self.num_image_tokens:
            return f"<image_{index}>"
        return self.sp.id_to_piece(index - self.num_image_tokens)

    @property
    def gmask_token_id(self) -> int:
        return self._convert_token_to_id(self.gmask_token)

    # ----- text <-> pieces -------------------------------------------------------------------------------
    def tokenize(self, text: str, **kwargs: Any) -> list[str]:
        """Pieces of `text`: special tokens split out (whitespace next to them dropped), the rest in GLM form."""
        parts = self._special_split.split(text)
        for i, part in enumerate(parts):
            if part in self._specials:
                if i > 0:
                    parts[i - 1] = parts[i - 1].rstrip()
                if i + 1 < len(parts):
                    parts[i + 1] = parts[i + 1].lstrip()
        pieces: list[str] = []
        for part in parts:
            if part in self._specials:
                pieces.append(part)
            elif part:
                pieces.extend(self.sp.encode(encode_whitespace(part), out_type=str))
        return pieces

    def _tokenize(self, text: str, **kwargs: Any) -> list[str]:
        return self.sp.encode(encode_whitespace(text), out_type=str)

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        return decode_whitespace(self.sp.decode_pieces(tokens))

    def _decode(self, token_ids: int | list[int], skip_special_tokens: bool = False, **kwargs: Any) -> str:
        ids = [token_ids] if isinstance(token_ids, int) else list(token_ids)
        ids = [i for i in ids if i != self.pad_token_id and i >= self.num_image_tokens]
        if skip_special_tokens:
            special = set(self.all_special_ids)
            ids = [i for i in ids if i not in special]
        return decode_whitespace(self.sp.decode([i - self.num_image_tokens for i in ids]))

    def build_inputs_with_special_tokens(self, token_ids_0: list[int],
                                         token_ids_1: list[int] | None = None) -> list[int]:
        ids = token_ids_0 + [self.gmask_token_id, self.bos_token_id]
        if token_ids_1 is not None:
            ids = ids + token_ids_1 + [self.eos_token_id]
        return ids

    def save_vocabulary(self, save_directory: str, filename_prefix: str | None = None) -> tuple[str]:
        path = Path(save_directory) / ((filename_prefix + "-" if filename_prefix else "") + VOCAB_FILE)
        path.write_bytes(Path(self.vocab_file).read_bytes())
        return (str(path),)


__all__ = ["ChatGLM6BTokenizer", "decode_whitespace", "encode_whitespace"]
