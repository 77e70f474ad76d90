"""Tiny random models of the real architectures, for fast tests and demos without a model hub.

Each builder writes a folder that loads exactly like a downloaded checkpoint (`load_bot(folder, type=FAMILY)`):
random weights (hidden 64, 2 layers, 4 heads), a tokenizer trained here on a few sentences (byte-level BPE, or
sentencepiece for T5) and a generation config that keeps replies non-empty, valid text.

    python -m chatzoo_widget.testing.tiny_models OUTDIR      # builds every family under OUTDIR, prints the folders

Needs torch, transformers, tokenizers (and sentencepiece + protobuf for the T5/GODEL one).
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

#: Text the tokenizers are trained on: English, Chinese, punctuation and digits, so any reply round-trips.
SENTENCES = [
    "Hello, how are you today? I am fine, thank you.",
    "The capital of France is Paris. The capital of Japan is Tokyo.",
    "I like to read books about science, history and art.",
    "What is your name? My name is Tiny, a small test model.",
    "Please write a short poem about the sea and the sky.",
    "Numbers: 0 1 2 3 4 5 6 7 8 9 10 42 100 2023.",
    "Let's write some code: def add(x, y): return x + y",
    "你好，今天天气很好！我们一起去公园散步吧。",
    "北京是中国的首都。上海是一个大城市。",
    "我喜欢读书和写字，你呢？",
    "Instruction: given a dialog context, you need to response empathically.",
    "[CONTEXT] Does money buy happiness? EOS It depends. [KNOWLEDGE] facts",
]

CHATML_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

MOSS_SPECIALS = ["<eoh>", "<eoa>", "<eom>", "<|Human|>", "<|MOSS|>"]

_DIMS = dict(hidden=64, layers=2, heads=4, positions=2048)


def _quiet() -> None:
    from transformers.utils import logging

    logging.disable_progress_bar()
    logging.set_verbosity_error()


def train_bpe_tokenizer(
    specials: list[str],
    *,
    bos: str | None = None,
    eos: str | None = None,
    pad: str | None = None,
    unk: str | None = None,
    vocab_size: int = 420,
    chat_template: str | None = None,
    model_max_length: int = _DIMS["positions"],
):
    """A byte-level BPE tokenizer trained on `SENTENCES`, wrapped as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(SENTENCES * 4, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=bos, eos_token=eos, pad_token=pad, unk_token=unk,
        model_max_length=model_max_length,
    )
    if chat_template:
        fast.chat_template = chat_template
    return fast


_BYTE_PIECE = re.compile(r"<0x[0-9A-Fa-f]{2}>")  # a sentencepiece byte-fallback piece shown as text


def suppressed_ids(tokenizer, keep: tuple[int | None, ...] = ()) -> list[int]:
    """Token ids a random model must not emit for its reply to be valid, visible text: tokens that decode to
    broken UTF-8 alone (one byte of a multi-byte character, shown as U+FFFD), to control characters, to nothing or
    to whitespace only, and the special
    tokens (pad, unk, ...) except those in `keep` (the eos)."""
    special = set(tokenizer.all_special_ids)
    out = []
    for i in range(len(tokenizer)):
        if i in keep:
            continue
        text = tokenizer.decode([i], skip_special_tokens=False)
        if i in special or _BYTE_PIECE.fullmatch(text.strip()) or "\ufffd" in text or not text.strip() or any(not (c.isprintable() or c in " \n") for c in text):
            out.append(i)
    return out


def _finish(model, tokenizer, outdir: Path, *, eos_id: int, pad_id: int | None, bos_id: int | None = None,
            decoder_start_id: int | None = None) -> Path:
    """Set a generation config that gives non-empty valid replies, then save model and tokenizer."""
    gc = model.generation_config
    gc.eos_token_id = eos_id
    gc.pad_token_id = pad_id if pad_id is not None else eos_id
    if bos_id is not None:
        gc.bos_token_id = bos_id
    if decoder_start_id is not None:
        gc.decoder_start_token_id = decoder_start_id
    gc.suppress_tokens = suppressed_ids(tokenizer, keep=(eos_id,))
    gc.begin_suppress_tokens = [eos_id]  # never an empty reply
    gc.do_sample = False
    outdir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(outdir)
    tokenizer.save_pretrained(outdir)
    return outdir


def _seed() -> None:
    import torch

    torch.manual_seed(0)


def build_chat(outdir: str | os.PathLike, arch: str = "qwen2", chat_template: str | None = CHATML_TEMPLATE) -> Path:
    """Qwen2 (or LLaMA with arch="llama") with a ChatML chat template: the "chat" family."""
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    _quiet()
    tok = train_bpe_tokenizer(["<|endoftext|>", "<pad>", "<|im_start|>", "<|im_end|>"], bos="<|endoftext|>",
                              eos="<|im_end|>", pad="<pad>", chat_template=chat_template)
    cfg_cls, model_cls = (LlamaConfig, LlamaForCausalLM) if arch == "llama" else (Qwen2Config, Qwen2ForCausalLM)
    cfg = cfg_cls(vocab_size=len(tok), hidden_size=_DIMS["hidden"], intermediate_size=128,
                  num_hidden_layers=_DIMS["layers"], num_attention_heads=_DIMS["heads"], num_key_value_heads=_DIMS["heads"],
                  max_position_embeddings=_DIMS["positions"], initializer_range=0.5, tie_word_embeddings=False,
                  bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    _seed()
    return _finish(model_cls(cfg), tok, Path(outdir), eos_id=tok.eos_token_id, pad_id=tok.pad_token_id,
                   bos_id=tok.bos_token_id)


def build_firefly(outdir: str | os.PathLike) -> Path:
    """Bloom with `<s>`/`</s>`: the Firefly family."""
    from transformers import BloomConfig, BloomForCausalLM

    _quiet()
    tok = train_bpe_tokenizer(["<unk>", "<s>", "</s>", "<pad>"], bos="<s>", eos="</s>", pad="<pad>", unk="<unk>")
    cfg = BloomConfig(vocab_size=len(tok), hidden_size=_DIMS["hidden"], n_layer=_DIMS["layers"], n_head=_DIMS["heads"],
                      initializer_range=0.5, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id)
    _seed()
    return _finish(BloomForCausalLM(cfg), tok, Path(outdir), eos_id=tok.eos_token_id, pad_id=tok.pad_token_id,
                   bos_id=tok.bos_token_id)


def build_moss(outdir: str | os.PathLike) -> Path:
    """CodeGen (the architecture MOSS is built on) with MOSS's special tokens `<eoh>`, `<eoa>`, `<eom>`,
    `<|Human|>`, `<|MOSS|>`; like MOSS, the tokenizer's eos is `<|endoftext|>` and replies end at `<eom>`."""
    from transformers import CodeGenConfig, CodeGenForCausalLM

    _quiet()
    tok = train_bpe_tokenizer(["<|endoftext|>", *MOSS_SPECIALS], bos="<|endoftext|>", eos="<|endoftext|>")
    tok.add_special_tokens({"additional_special_tokens": MOSS_SPECIALS})
    cfg = CodeGenConfig(vocab_size=len(tok), n_embd=_DIMS["hidden"], n_layer=_DIMS["layers"], n_head=_DIMS["heads"],
                        n_positions=_DIMS["positions"], n_ctx=_DIMS["positions"], rotary_dim=8, initializer_range=0.5,
                        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, tie_word_embeddings=False)
    _seed()
    eom = tok.convert_tokens_to_ids("<eom>")
    return _finish(CodeGenForCausalLM(cfg), tok, Path(outdir), eos_id=eom, pad_id=tok.eos_token_id,
                   bos_id=tok.bos_token_id)


def build_chatglm(outdir: str | os.PathLike) -> Path:
    """GLM (transformers' built-in relative of ChatGLM, whose own code is remote) with a tokenizer that knows
    Chinese: the ChatGLM family's prompt rules on a built-in architecture."""
    from transformers import GlmConfig, GlmForCausalLM

    _quiet()
    tok = train_bpe_tokenizer(["<|endoftext|>", "<pad>", "[gMASK]", "<sop>"], bos="<sop>", eos="<|endoftext|>",
                              pad="<pad>")
    cfg = GlmConfig(vocab_size=len(tok), hidden_size=_DIMS["hidden"], intermediate_size=128,
                    num_hidden_layers=_DIMS["layers"], num_attention_heads=_DIMS["heads"],
                    num_key_value_heads=_DIMS["heads"], head_dim=_DIMS["hidden"] // _DIMS["heads"],
                    max_position_embeddings=_DIMS["positions"], initializer_range=0.5,
                    eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id)
    _seed()
    return _finish(GlmForCausalLM(cfg), tok, Path(outdir), eos_id=tok.eos_token_id, pad_id=tok.pad_token_id)


def build_godel(outdir: str | os.PathLike) -> Path:
    """T5 seq2seq with a sentencepiece tokenizer: the GODEL family."""
    import sentencepiece as spm
    from transformers import T5Config, T5ForConditionalGeneration, T5Tokenizer

    _quiet()
    outdir = Path(outdir)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.txt"
        corpus.write_text("\n".join(SENTENCES * 4), encoding="utf-8")
        spm.SentencePieceTrainer.train(
            input=str(corpus), model_prefix=str(Path(tmp) / "spiece"), vocab_size=600, model_type="unigram",
            pad_id=0, eos_id=1, unk_id=2, bos_id=-1, hard_vocab_limit=False, byte_fallback=True,
            character_coverage=1.0, minloglevel=2,
        )
        tok = T5Tokenizer.from_pretrained(tmp, extra_ids=8, model_max_length=_DIMS["positions"])
    cfg = T5Config(vocab_size=len(tok), d_model=_DIMS["hidden"], d_kv=16, d_ff=128, num_layers=_DIMS["layers"],
                   num_decoder_layers=_DIMS["layers"], num_heads=_DIMS["heads"], initializer_factor=5.0,
                   pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                   decoder_start_token_id=tok.pad_token_id, n_positions=_DIMS["positions"])
    _seed()
    return _finish(T5ForConditionalGeneration(cfg), tok, outdir, eos_id=tok.eos_token_id, pad_id=tok.pad_token_id,
                   decoder_start_id=tok.pad_token_id)


#: family -> builder(outdir) -> folder
BUILDERS: dict[str, Callable[..., Path]] = {
    "chat": build_chat,
    "firefly": build_firefly,
    "moss": build_moss,
    "chatglm": build_chatglm,
    "godel": build_godel,
}


def sliding_gemma3(window: int = 6) -> Any:
    """An in-memory Gemma 3 (seeded random weights) whose sliding window (6) is shorter than test prompts, so its
    sliding layers' masks and caches are exercised; no tokenizer (tests feed token ids)."""
    import torch
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    torch.manual_seed(0)
    config = Gemma3TextConfig(vocab_size=300, hidden_size=64, intermediate_size=128, num_hidden_layers=4,
                              num_attention_heads=4, num_key_value_heads=1, head_dim=16, sliding_window=window,
                              layer_types=["sliding_attention", "full_attention"] * 2)
    return Gemma3ForCausalLM(config).eval()


def build_all(outdir: str | os.PathLike) -> dict[str, Path]:
    """Build every family's tiny model under `outdir/<family>`; returns family -> folder."""
    return {family: build(Path(outdir) / family) for family, build in BUILDERS.items()}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0] in ("-h", "--help"):
        print("usage: python -m chatzoo_widget.testing.tiny_models OUTDIR", file=sys.stderr)
        return 2
    folders = build_all(argv[0])
    print(json.dumps({k: str(v) for k, v in folders.items()}, indent=2))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())


__all__: list[Any] = ["BUILDERS", "SENTENCES", "build_all", "build_chat", "build_chatglm", "build_firefly",
                      "build_godel", "build_moss", "suppressed_ids", "train_bpe_tokenizer"]
