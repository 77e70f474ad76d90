"""The "chatglm" family (THUDM/chatglm-6b).

    [Round 0]\n问：q1\n答：a1\n[Round 1]\n问：q2\n答：

The round number counts HUMAN turns. Replies are stripped and ASCII punctuation next to a CJK character becomes
full width, as ChatGLM's own `process_response` does. ChatGLM-6B ships remote code (AutoModel) only.
"""

from __future__ import annotations

import re

from ..bots.settings import GENERATION_SETTINGS, SettingsSpec
from ..bots.transformers import TransformersChatBOT

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
