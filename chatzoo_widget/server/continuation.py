"""vLLM's extensions to chat completions that let a client continue a reply and score given text.

- `add_generation_prompt` (default true) and `continue_final_message` (default false): with
  `continue_final_message: true, add_generation_prompt: false` the last message must be the assistant's, and the
  prompt ends inside it (no end-of-turn token): the model goes on from that text. The answer holds the
  continuation only, as vLLM's does. This is how `RemoteChatBOT` branches a reply from an alternative token.
- `prompt_logprobs` (0-20, not streamed): the log-probability of every prompt token after the first, with its rank
  and the likeliest alternatives (`compare/remote_scoring.py` scores a reply with it, for cross-scores).

Checked here with vLLM's wording where vLLM has one. A prompt that ends after a finished turn with no assistant
turn opened (`add_generation_prompt: false` alone) is refused: a ChatZoo model always answers in an assistant turn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..bots.settings import MAX_TOP_LOGPROBS
from .protocol import APIError, ChatCompletionRequest, ChatMessage

BOTH_TRUE = "Cannot set both `continue_final_message` and `add_generation_prompt` to True."
NOT_STREAMED = "`prompt_logprobs` are not available when `stream=True`."


@dataclass(frozen=True)
class Continuation:
    """What a request asks beyond an ordinary answer."""

    prefix: str | None = None  # the final assistant message to continue (None: answer in a new assistant turn)
    prompt_logprobs: int | None = None  # score the prompt, with this many alternatives per token


def _flag(req: ChatCompletionRequest, name: str, default: bool) -> bool:
    value = getattr(req, name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise APIError(400, f"{name} must be true or false, got {value!r}", param=name, code="invalid_type")
    return value


def _prompt_logprobs(req: ChatCompletionRequest) -> int | None:
    value = req.prompt_logprobs
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise APIError(400, "`prompt_logprobs` must be an integer.", param="prompt_logprobs", code="invalid_type")
    if req.stream:
        raise APIError(400, NOT_STREAMED, param="prompt_logprobs")
    if value < 0:
        raise APIError(400, "`prompt_logprobs` must be a positive value.", param="prompt_logprobs",
                       code="invalid_value")
    if value > MAX_TOP_LOGPROBS:
        raise APIError(400, f"Requested prompt logprobs of {value}, which is greater than max allowed: "
                            f"{MAX_TOP_LOGPROBS}", param="prompt_logprobs", code="invalid_value")
    return value


def read_continuation(req: ChatCompletionRequest, text_of: Any) -> tuple[list[ChatMessage], Continuation]:
    """The messages that make the conversation (the final assistant message taken off when it is continued) and
    what else the request asks. `text_of(message, index)` is a message's text. APIError (400) on a bad request."""
    generation_prompt = _flag(req, "add_generation_prompt", True)
    continue_final = _flag(req, "continue_final_message", False)
    if continue_final and generation_prompt:
        raise APIError(400, BOTH_TRUE, param="continue_final_message")
    if not continue_final and not generation_prompt:
        raise APIError(400, "add_generation_prompt: false is supported only with continue_final_message: true (the "
                            "final assistant message continued): this server's models answer in an assistant turn",
                       param="add_generation_prompt", code="unsupported_parameter")
    scored = _prompt_logprobs(req)
    messages = list(req.messages)
    if not continue_final:
        return messages, Continuation(prompt_logprobs=scored)
    last = messages[-1]
    if last.role != "assistant":
        raise APIError(400, f"continue_final_message is set but the final message is a {last.role!r} message; "
                            "end the messages with the 'assistant' message to continue", param="messages")
    prefix = text_of(last, len(messages) - 1)
    # An empty start is an assistant turn just opened: the same prompt as an ordinary answer.
    return messages[:-1], Continuation(prefix=prefix or None, prompt_logprobs=scored)


class PrefixSkipper:
    """Drops the continued start from a reply's text deltas: a bot streams the reply from its given start, while
    the answer holds what the model added only. Deltas are held until the start has gone by."""

    def __init__(self, prefix: str | None):
        self.prefix = prefix or ""
        self._held = ""
        self._done = not self.prefix

    def feed(self, delta: str) -> str:
        if self._done:
            return delta
        self._held += delta
        if len(self._held) < len(self.prefix):
            return ""
        self._done = True
        held, self._held = self._held, ""
        # The bot decodes the start's tokens, which spell the start; a tokenizer that cleans up spaces on decoding
        # could spell it slightly differently, and then the same number of characters is dropped.
        return held[len(self.prefix):]


__all__ = ["Continuation", "PrefixSkipper", "read_continuation", "BOTH_TRUE", "NOT_STREAMED"]
