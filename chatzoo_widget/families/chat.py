"""The "chat" family: the prompt is the tokenizer's own chat template (HUMAN -> user, BOT -> assistant)."""

from __future__ import annotations

from typing import Any

from ..bots.base import openai_messages
from ..bots.settings import GENERATION_SETTINGS, SYSTEM_PROMPT, SettingsSpec
from ..bots.transformers import TransformersChatBOT



class ChatTemplateBOT(TransformersChatBOT):
    """A model whose tokenizer has a chat template. The `system_prompt` setting (or a leading SYSTEM message in
    the query) becomes the system message."""

    family = "chat"
    # The rendered template already holds BOS and friends; tokenizing it again must not add a second BOS.
    add_special_tokens = False

    def settings_spec(self) -> SettingsSpec:
        return GENERATION_SETTINGS.with_settings(SYSTEM_PROMPT)

    def load_tokenizer(self) -> None:
        super().load_tokenizer()
        if not getattr(self.tokenizer, "chat_template", None):
            src = self.tokenizer_path or self.model_name_or_path
            raise ValueError(
                f"the tokenizer of {src!r} has no chat template, and no family prompt rule was chosen for it: pass "
                f"type=\"base\" for a base model (a plain User:/Assistant: transcript), or type= one of the other "
                f"families (moss, chatglm, firefly, godel, or one added with register_model), or "
                f"tokenizer_path= a tokenizer that has a chat template"
            )

    def messages(self, query: list[dict[str, str]], system_prompt: str = "") -> list[dict[str, str]]:
        return openai_messages(query, system_prompt)

    def get_prompt(self, query: list[dict[str, str]], system_prompt: str = "") -> str:
        messages = self.messages(query, system_prompt)
        try:
            return self.render(messages)
        except Exception as exc:  # some templates refuse a system role: fold it into the first user turn
            if not messages or messages[0]["role"] != "system" or "system" not in str(exc).lower():
                raise
            system, rest = messages[0]["content"], messages[1:]
            rest[0] = {"role": rest[0]["role"], "content": f"{system}\n\n{rest[0]['content']}"}
            return self.render(rest)

    def render(self, messages: list[dict[str, str]]) -> str:
        return self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


__all__: list[Any] = ["ChatTemplateBOT"]
