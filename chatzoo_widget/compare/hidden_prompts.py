"""Rendered prompts stay in the kernel while an arena conversation is blind.

A rendered prompt gives a model away even with every name scrubbed: the chat template's own markers
(`<|im_start|>`, `<start_of_turn>`, `[INST]`), a default system prompt ("You are SmolLM, ..."), the family's prompt
rule. So while blind the widget sends replies without it (`prompt_hidden: true` in their place); the vote reveals
them with the names.
"""

from __future__ import annotations

from typing import Any


def hide_prompts(value: Any) -> Any:
    """`value` (columns, history entries, a document) with every `rendered_prompt` taken out, at any depth
    (alternatives and edited turns too); a copy, the input is untouched."""
    if isinstance(value, dict):
        out = {k: hide_prompts(v) for k, v in value.items() if k != "rendered_prompt"}
        if "rendered_prompt" in value:
            out["rendered_prompt"] = None
            out["prompt_hidden"] = True
        return out
    if isinstance(value, list):
        return [hide_prompts(v) for v in value]
    return value


__all__ = ["hide_prompts"]
