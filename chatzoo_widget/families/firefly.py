"""The "firefly" family (YeungNLP/firefly-1b4, firefly-2b6: Bloom).

    <s>q1</s></s>a1</s><s>q2</s></s>

Replies end at the tokenizer's eos; `</s>` and `<s>` are removed from them.
"""

from __future__ import annotations

from typing import Any

from ..bots.settings import GENERATION_SETTINGS, SettingsSpec
from ..bots.transformers import TransformersChatBOT


class FireflyBOT(TransformersChatBOT):
    family = "firefly"
    add_special_tokens = False  # the prompt spells out <s> and </s> itself
    stream_holdback_strings = ("</s>", "<s>")

    def settings_spec(self) -> SettingsSpec:
        return GENERATION_SETTINGS.with_defaults(temperature=0.35, top_p=0.85, repetition_penalty=1.2,
                                                 max_new_tokens=200)

    def get_prompt(self, query: list[dict[str, str]]) -> str:
        prefix = ""
        if query and query[0]["role"] == "SYSTEM":
            prefix, query = query[0]["content"], query[1:]
        parts = [prefix]
        for m in query:
            parts.append(f"<s>{m['content']}</s>" if m["role"] == "HUMAN" else f"</s>{m['content']}</s>")
        parts.append("</s>")
        return "".join(parts)

    def extra_settings(self) -> dict[str, Any]:
        eos = self.tokenizer.eos_token_id
        return {"eos_token_id": eos} if eos is not None else {}

    def process_response(self, response: str) -> str:
        return response.replace("</s>", "").replace("<s>", "").strip()


__all__ = ["FireflyBOT"]
