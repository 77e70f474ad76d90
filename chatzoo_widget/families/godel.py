"""The "godel" family (microsoft/GODEL-v1_1-base-seq2seq, -large-seq2seq: T5 seq2seq).

    Instruction: given a dialog context, you need to response empathically. [CONTEXT] q1 EOS a1 EOS q2

plus ` [KNOWLEDGE] text` when the `knowledge` setting is not empty. The instruction is the `system_prompt`
setting. `<pad>` and `</s>` are removed from replies.
"""

from __future__ import annotations

from dataclasses import replace

from ..bots.settings import GENERATION_SETTINGS, SYSTEM_PROMPT, Setting, SettingsSpec
from ..bots.transformers import TransformersChatBOT

INSTRUCTION = "Instruction: given a dialog context, you need to response empathically."
KNOWLEDGE = Setting(
    "knowledge", "str", "", description="Facts for GODEL to ground its reply in ([KNOWLEDGE])", target="prompt",
    multiline=True,
)


class GodelBOT(TransformersChatBOT):
    family = "godel"
    is_seq2seq = True
    stream_holdback_strings = ("<pad>", "</s>")

    def settings_spec(self) -> SettingsSpec:
        instruction = replace(SYSTEM_PROMPT, default=INSTRUCTION, description="GODEL's instruction")
        return GENERATION_SETTINGS.with_settings(instruction, KNOWLEDGE).with_defaults(
            max_new_tokens=128, top_p=0.9, temperature=1.0
        )

    def get_prompt(self, query: list[dict[str, str]], system_prompt: str = INSTRUCTION, knowledge: str = "") -> str:
        if query and query[0]["role"] == "SYSTEM":
            system_prompt, query = query[0]["content"], query[1:]
        dialog = " EOS ".join(m["content"] for m in query)
        prompt = f"{system_prompt} [CONTEXT] {dialog}"
        if knowledge.strip():
            prompt += f" [KNOWLEDGE] {knowledge}"
        return prompt

    def process_response(self, response: str) -> str:
        return response.replace("<pad>", "").replace("</s>", "").strip()


__all__ = ["GodelBOT", "INSTRUCTION", "KNOWLEDGE"]
