"""The "chatglm" family (THUDM/chatglm-6b).

    [Round 0]\n问：q1\n答：a1\n[Round 1]\n问：q2\n答：

The round number counts HUMAN turns. Replies are stripped and ASCII punctuation next to a CJK character becomes
full width, as ChatGLM's own `process_response` does.

A ChatGLM-6B checkpoint (THUDM/chatglm-6b, or any folder with its config) runs on ChatZoo's own implementation
(`chatzoo_widget.models.chatglm6b`), without the repository's code; `trust_remote_code=True` runs that code instead,
as asked. ChatGLM2/3 and GLM-4 checkpoints are refused with an error naming what they are. A checkpoint of a
built-in architecture loads through the Auto classes and gets the same prompt rules. GLM attends both ways over
the prompt and has 2D positions, so its requests are not batched with others (`batchable = False`).
"""

from __future__ import annotations

import re
from typing import Any

from ..bots.settings import GENERATION_SETTINGS, SettingsSpec
from ..bots.transformers import RemoteCodeError, TransformersChatBOT
from ..models.chatglm6b import glm_generation, unsupported_glm_message
from ..models.loading import NativeLoader, checkpoint_file, plan_device_map

_PUNCT = [(",", "，"), ("!", "！"), (":", "："), (";", "；"), ("?", "？")]
_CJK = "\u4e00-\u9fff"


def full_width_punctuation(text: str) -> str:
    for ascii_p, wide in _PUNCT:
        p = re.escape(ascii_p)
        text = re.sub(rf"([{_CJK}]){p}", rf"\1{wide}", text)
        text = re.sub(rf"{p}([{_CJK}])", rf"{wide}\1", text)
    return text


class ChatGLMBOT(TransformersChatBOT):
    family = "chatglm"
    # punctuation right at the end may still turn full width when a CJK character follows
    stream_holdback = "".join(p for p, _ in _PUNCT)
    #: the scheduler runs GLM requests one at a time through `generate` (bidirectional prompt, 2D positions)
    batchable = False

    @property
    def native(self) -> bool:
        """True when this checkpoint is ChatGLM-6B, run on ChatZoo's implementation."""
        return glm_generation(self._config_dict) == "chatglm-6b" and not self.trust_remote_code

    def _check_remote_code(self) -> None:
        kind = glm_generation(self._config_dict)
        if kind == "chatglm-6b" and not self.trust_remote_code:
            from ..models.chatglm6b import ChatGLM6BConfig

            ChatGLM6BConfig.from_dict(dict(self._config_dict)).check_supported()
            return
        if kind is not None and kind != "chatglm-6b" and not self.trust_remote_code:
            raise ValueError(unsupported_glm_message(self.model_name_or_path, self._config_dict))
        super()._check_remote_code()

    @property
    def model_cls(self) -> Any:
        if self.native:
            from ..models.chatglm6b import ChatGLM6BConfig, ChatGLM6BForCausalLM

            return NativeLoader(ChatGLM6BForCausalLM, ChatGLM6BConfig.from_dict(dict(self._config_dict)))
        return super().model_cls

    @property
    def no_split_module_classes(self) -> list[str]:
        return ["ChatGLM6BBlock"] if self.native else super().no_split_module_classes

    def plan_device_map(self, model_cls: Any, device_map: Any) -> Any:
        if isinstance(model_cls, NativeLoader):
            return plan_device_map(self, model_cls, device_map)
        return super().plan_device_map(model_cls, device_map)

    def load_tokenizer(self) -> None:
        if self.tokenizer is None and self.native and not self.tokenizer_path:
            from pathlib import Path

            from ..models.chatglm6b_tokenizer import VOCAB_FILE, ChatGLM6BTokenizer

            checkpoint_file(self.model_name_or_path, "tokenizer_config.json", required=False)
            vocab = checkpoint_file(self.model_name_or_path, VOCAB_FILE)
            self.tokenizer = ChatGLM6BTokenizer.from_folder(Path(vocab).parent)
        super().load_tokenizer()

    def load_model(self) -> None:
        try:
            super().load_model()
        except RemoteCodeError as exc:
            hint = "ChatZoo runs ChatGLM-6B natively: load it without trust_remote_code=True" if \
                glm_generation(self._config_dict) == "chatglm-6b" else unsupported_glm_message(
                    self.model_name_or_path, self._config_dict)
            raise RemoteCodeError(f"{exc}. {hint}") from exc

    def settings_spec(self) -> SettingsSpec:
        return GENERATION_SETTINGS.with_defaults(temperature=0.95, top_p=0.7)

    def get_prompt(self, query: list[dict[str, str]]) -> str:
        prefix = ""
        if query and query[0]["role"] == "SYSTEM":
            prefix, query = query[0]["content"] + "\n", query[1:]
        rounds: list[list[str]] = []  # [question, answer]
        for m in query:
            if m["role"] == "HUMAN":
                rounds.append([m["content"], ""])
            else:
                if not rounds:
                    rounds.append(["", ""])
                rounds[-1][1] = f"{rounds[-1][1]}\n{m['content']}" if rounds[-1][1] else m["content"]
        out = []
        for i, (q, a) in enumerate(rounds):
            last = i == len(rounds) - 1
            out.append(f"[Round {i}]\n问：{q}\n答：" + ("" if last else f"{a}\n"))
        return prefix + "".join(out)

    def process_response(self, response: str) -> str:
        response = response.strip().replace("[[训练时间]]", "2023年")
        return full_width_punctuation(response)


__all__ = ["ChatGLMBOT", "full_width_punctuation"]
