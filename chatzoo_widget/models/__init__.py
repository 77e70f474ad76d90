"""Native implementations of the seed families whose published code was written for transformers 4.

    chatglm6b, chatglm6b_tokenizer   ChatGLM-6B (THUDM/chatglm-6b): model and sentencepiece tokenizer, our own code
    moss                             MOSS (fnlp/moss-moon-003-sft) on transformers' CodeGen classes
    loading                          loading into a chosen class with a config built here (no remote code)

Modules import torch/transformers, so they load on first use (from the family bots).
"""
