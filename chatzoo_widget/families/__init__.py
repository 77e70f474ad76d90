"""Seed families: the prompt rules of the models the original ChatZoo served, on `TransformersChatBOT`.

    chat     ChatTemplateBOT  the tokenizer's own chat template (most current models, SmolLM2)
    base     BaseModelBOT     base models without a chat template (Gemma 3 270M): a plain User:/Assistant: transcript
    moss     MossBOT          fnlp/moss-moon-003-sft*: meta instruction, <|Human|>/<|MOSS|>, stops at <eom>
    chatglm  ChatGLMBOT       THUDM/chatglm-6b: [Round n] 问/答, full-width punctuation next to CJK
    firefly  FireflyBOT       YeungNLP/firefly-*: Bloom with <s>q</s></s>a</s>
    godel    GodelBOT         microsoft/GODEL-*: T5 seq2seq, instruction + [CONTEXT] ... EOS ... [+ [KNOWLEDGE]]

Importing a family imports torch and transformers; `chatzoo_widget.registry` imports them only when needed.
"""

from __future__ import annotations

from typing import Any

_CLASSES = {
    "ChatTemplateBOT": "chat",
    "BaseModelBOT": "base",
    "MossBOT": "moss",
    "ChatGLMBOT": "chatglm",
    "FireflyBOT": "firefly",
    "GodelBOT": "godel",
}

__all__ = sorted(_CLASSES)


def __getattr__(name: str) -> Any:
    if name in _CLASSES:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_CLASSES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
