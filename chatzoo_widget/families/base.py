"""The "base" family: models that were not instruction-tuned and have no chat template (google/gemma-3-270m).

The conversation is written out as a plain transcript, which a base model continues:

    <system prompt, if any>
    User: q1
    Assistant: a1
    User: q2
    Assistant:

A base model does not know when its turn is over, so it usually writes the user's next line itself. The reply ends
at the first "\\nUser:" (`STOP_TEXT`): generation stops there, the rest is cut off, and while streaming a partial
"\\nUs..." is held back until it is clear whether the stop text follows.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import StoppingCriteria, StoppingCriteriaList

from ..bots.settings import GENERATION_SETTINGS, SYSTEM_PROMPT, SettingsSpec
from ..bots.transformers import TransformersChatBOT

USER, ASSISTANT = "User", "Assistant"
#: where a base model's turn ends: it starts writing the user's next line
STOP_TEXT = f"\n{USER}:"
#: how the widget labels such a column (a bare "base" would read like the ChatBOT default family)
FAMILY_LABEL = "base model"


def transcript(query: list[dict[str, str]], system_prompt: str = "") -> str:
    """The plain "User: ...\\nAssistant: ..." transcript of a ChatZoo history, ending with "Assistant:"."""
    if query and query[0]["role"] == "SYSTEM":
        system_prompt, query = query[0]["content"], query[1:]
    lines = [system_prompt] if system_prompt else []
    lines += [f"{USER if m['role'] == 'HUMAN' else ASSISTANT}: {m['content']}" for m in query]
    lines.append(f"{ASSISTANT}:")
    return "\n".join(lines)


def cut_at_stop(text: str, stop: str = STOP_TEXT) -> str:
    """`text` up to the first `stop` (all of it when `stop` does not occur)."""
    at = text.find(stop)
    return text if at < 0 else text[:at]


class StopAtText(StoppingCriteria):
    """Ends a row once the text generated after the prompt contains one of `texts`.

    Only the last few new tokens are decoded at each step (the stop text is caught the step it completes), so the
    check costs little and never matches text inside the prompt.
    """

    def __init__(self, tokenizer: Any, texts: tuple[str, ...], prompt_length: int):
        self.tokenizer = tokenizer
        self.texts = texts
        self.prompt_length = prompt_length
        self.window = max(len(t) for t in texts) + 4  # tokens: each decodes to at least one character, mostly

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        start = max(self.prompt_length, input_ids.shape[-1] - self.window)
        tails = self.tokenizer.batch_decode(input_ids[:, start:], skip_special_tokens=True)
        done = [any(t in tail for t in self.texts) for tail in tails]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


class BaseModelBOT(TransformersChatBOT):
    """A base (not instruction-tuned) model, prompted with a plain transcript; works on any causal LM, with or
    without a chat template (`load_bot(path, type="base")`)."""

    family = "base"
    #: the reply ends at any of these (the model has started the user's next turn)
    stop_texts: tuple[str, ...] = (STOP_TEXT,)
    stream_holdback_strings = stop_texts

    def settings_spec(self) -> SettingsSpec:
        return GENERATION_SETTINGS.with_settings(SYSTEM_PROMPT)

    def get_prompt(self, query: list[dict[str, str]], system_prompt: str = "") -> str:
        return transcript(query, system_prompt)

    def generate(self, input_dict: dict[str, Any], gen_kwargs: dict[str, Any]) -> Any:
        # Stop at the stop text instead of writing both sides of the conversation up to max_new_tokens.
        kwargs = dict(gen_kwargs)
        stop = StopAtText(self.tokenizer, self.stop_texts, input_dict["input_ids"].shape[-1])
        kwargs["stopping_criteria"] = StoppingCriteriaList([*(kwargs.get("stopping_criteria") or []), stop])
        return self.model.generate(**input_dict, **kwargs)

    def process_response(self, response: str) -> str:
        for text in self.stop_texts:
            response = cut_at_stop(response, text)
        return response.strip()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "family": FAMILY_LABEL}


__all__ = ["BaseModelBOT", "FAMILY_LABEL", "STOP_TEXT", "StopAtText", "cut_at_stop", "transcript"]
