"""The "base" family: models that were not instruction-tuned and have no chat template (google/gemma-3-270m).

The conversation is written out as a plain transcript, which a base model continues:

    <system prompt, if any>
    User: q1
    Assistant: a1
    User: q2
    Assistant:

A base model does not know when its turn is over, so it usually goes on to write the user's next line itself. The
reply ends at the first "\\nUser:" (`STOP_TEXT`), through the request's stop strings: the model stops there at once,
in a batch too, and while streaming a partial "\\nUs..." is held back until it is clear whether the stop text
follows.
"""

from __future__ import annotations

from typing import Any, Iterator

from ..bots.base import GenerationRequest
from ..bots.settings import GENERATION_SETTINGS, SYSTEM_PROMPT, SettingsSpec
from ..bots.text import partial_marker_length
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


class BaseModelBOT(TransformersChatBOT):
    """A base (not instruction-tuned) model, prompted with a plain transcript; works on any causal LM, with or
    without a chat template (`load_bot(path, type="base")`)."""

    family = "base"
    #: the reply ends before the first of these (the model has started the user's next turn)
    stop_texts: tuple[str, ...] = (STOP_TEXT,)

    def settings_spec(self) -> SettingsSpec:
        return GENERATION_SETTINGS.with_settings(SYSTEM_PROMPT)

    def get_prompt(self, query: list[dict[str, str]], system_prompt: str = "") -> str:
        return transcript(query, system_prompt)

    def stream_generate(self, request: GenerationRequest) -> Iterator[str]:
        # The stop texts join the caller's stop strings: the model stops there at once, in the batch or alone.
        request.stop = (*request.stop, *(s for s in self.stop_texts if s not in request.stop))
        return super().stream_generate(request)

    def process_response(self, response: str) -> str:
        """The answer stripped of surrounding whitespace, except that a stop text (or, at the end, the start of one)
        is kept with its newline: the stop strings cut it off, or hold it back while streaming."""
        found = [i for i in (response.find(s) for s in self.stop_texts) if i >= 0]
        at = min(found) if found else len(response) - partial_marker_length(response, self.stop_texts)
        if not response[at:].strip():  # nothing (or only whitespace) that could become a stop text
            return response.strip()
        return response[:at].strip() + response[at:]

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "family": FAMILY_LABEL}


__all__ = ["BaseModelBOT", "FAMILY_LABEL", "STOP_TEXT", "transcript"]
