"""Request, response and error shapes of the server's OpenAI-compatible API (pydantic models).

Like vLLM's `entrypoints/openai/protocol.py`: shapes only. Values whose limits depend on the served model (the
sampling settings, the token cap) are typed loosely here and checked by serving.py against the model's
SettingsSpec, so a bad value gets one message naming the setting and its range.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, field_validator

from ..wire import ErrorBody, ErrorInfo, FinishReason, error_body

__all__ = ["APIError", "ErrorBody", "ErrorInfo", "error_body", "ChatMessage", "TextPart", "StreamOptions",
           "ChatCompletionRequest", "Usage", "TopLogprob", "TokenLogprob", "ChoiceLogprobs", "AssistantMessage",
           "Choice", "PromptLogprob", "ChatCompletionResponse", "Delta",
           "ChunkChoice", "ChatCompletionChunk", "ModelCard", "ModelList", "Health", "from_validation_error",
           "UNSUPPORTED_FIELDS", "MAX_STOP_STRINGS"]


class APIError(Exception):
    """An error answered to the client in OpenAI's shape (see `wire.ErrorBody`)."""

    def __init__(self, status: int, message: str, type: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.type, self.param, self.code)


def from_validation_error(exc: ValidationError) -> APIError:
    """A 400 naming the first field pydantic refused, as `messages[0].content`."""
    first = exc.errors(include_url=False)[0]
    param = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"]).lstrip(".") or None
    message = first["msg"]
    if first["type"] == "value_error":  # our own validators: their message says it all
        message = str(first.get("ctx", {}).get("error", message))
    elif "input" in first and not isinstance(first["input"], (dict, list)):
        message += f", got {first['input']!r}"
    return APIError(400, f"{param}: {message}" if param else message, param=param, code="invalid_value")


# ----- requests ------------------------------------------------------------------------------------
class TextPart(BaseModel):
    """One part of a message's content; only text parts are answered (serving refuses the others by name)."""

    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")  # name, tool_call_id, ...: not used
    role: str
    content: str | list[TextPart]

    @field_validator("content", mode="before")
    @classmethod
    def _text_or_parts(cls, value: Any) -> Any:
        # Checked here rather than by the union, so that a bad value gets one message, not one per member.
        parts_ok = isinstance(value, list) and all(
            isinstance(p, dict) and isinstance(p.get("type"), str) and isinstance(p.get("text", ""), (str, type(None)))
            for p in value)
        if not (isinstance(value, str) or parts_ok):
            raise ValueError("must be a string or a list of text parts ({'type': 'text', 'text': ...})")
        return value


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


MAX_STOP_STRINGS = 4
#: Request fields that ask for something this server cannot do: refused, so that nobody silently gets something else.
UNSUPPORTED_FIELDS = ("tools", "tool_choice", "functions", "function_call", "audio", "prediction", "logit_bias")


class ChatCompletionRequest(BaseModel):
    """`POST /v1/chat/completions`. Fields it does not declare land in `model_extra`: the served model's own
    settings by name (top_k, repetition_penalty, ...), or else ignored and reported in a response header."""

    model_config = ConfigDict(extra="allow")

    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    stream: StrictBool = False
    stream_options: StreamOptions | None = None
    n: int | None = None
    stop: str | list[str] | None = None
    # token limits (see wire.MAX_TOKENS_FIELDS) and sampling settings: checked against the model's spec
    max_tokens: Any = None
    max_completion_tokens: Any = None
    max_new_tokens: Any = None
    temperature: Any = None
    top_p: Any = None
    seed: Any = None
    # refused unless empty or "text"
    tools: Any = None
    tool_choice: Any = None
    functions: Any = None
    function_call: Any = None
    audio: Any = None
    prediction: Any = None
    logit_bias: Any = None
    response_format: Any = None
    logprobs: Any = None
    top_logprobs: Any = None
    # vLLM's extensions (translate.py checks them): continue the final assistant message, score the prompt
    add_generation_prompt: Any = None
    continue_final_message: Any = None
    prompt_logprobs: Any = None

    @field_validator("stop", mode="before")
    @classmethod
    def _stop_strings(cls, value: Any) -> Any:
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, list) and all(isinstance(s, str) for s in value) and len(value) <= MAX_STOP_STRINGS:
            return value
        raise ValueError(f"must be a string or a list of at most {MAX_STOP_STRINGS} strings")

    @property
    def stops(self) -> list[str]:
        return [self.stop] if isinstance(self.stop, str) else list(self.stop or [])

    @property
    def include_usage(self) -> bool:
        return self.stream and bool(self.stream_options and self.stream_options.include_usage)


# ----- responses -----------------------------------------------------------------------------------
class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    @classmethod
    def of(cls, prompt_tokens: int, completion_tokens: int) -> "Usage":
        return cls(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                   total_tokens=prompt_tokens + completion_tokens)


def completion_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex


def now() -> int:
    return int(time.time())


class AssistantMessage(BaseModel):
    """A whole reply. `refusal` is always null here, but OpenAI's schema requires the field (typed clients decode
    into structs that expect it), as it does `logprobs` in each choice."""

    role: Literal["assistant"] = "assistant"
    content: str
    refusal: None = None


class TopLogprob(BaseModel):
    token: str
    logprob: float
    bytes: list[int] | None


class TokenLogprob(TopLogprob):
    """OpenAI's ChatCompletionTokenLogprob: one generated token, its log-probability and the likeliest tokens."""

    top_logprobs: list[TopLogprob]


class ChoiceLogprobs(BaseModel):
    """A choice's `logprobs` when the client asked for them (`refusal` is always null here)."""

    content: list[TokenLogprob] | None
    refusal: None = None


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    logprobs: ChoiceLogprobs | None = None
    finish_reason: FinishReason


class PromptLogprob(BaseModel):
    """vLLM's Logprob: one prompt token's (or one of its alternatives') log-probability, rank and text."""

    logprob: float
    rank: int
    decoded_token: str


def _absent_if_none(value: Any) -> bool:
    return value is None


class ChatCompletionResponse(BaseModel):
    """A whole reply. `prompt_logprobs` (vLLM's extension, only when asked): per prompt token, null for the first,
    then `{token id: PromptLogprob}`, the prompt's own token first, then the `prompt_logprobs` likeliest."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    prompt_logprobs: list[dict[str, PromptLogprob] | None] | None = Field(None, exclude_if=_absent_if_none)


class Delta(BaseModel):
    """A streamed piece of the reply: the role first, then content; the last chunk's delta is empty."""

    role: Literal["assistant"] | None = Field(None, exclude_if=_absent_if_none)
    content: str | None = Field(None, exclude_if=_absent_if_none)


class ChunkChoice(BaseModel):
    index: int = 0
    delta: Delta
    logprobs: ChoiceLogprobs | None = None
    finish_reason: FinishReason | None = None


class ChatCompletionChunk(BaseModel):
    """One streamed event. `usage` is null on every chunk but the last when the client asked for usage, and
    absent otherwise (dump with `exclude={"usage"}`), as OpenAI does."""

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "chatzoo"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    model: str
    generating: bool  # at least one request is generating
    running: int  # requests generating now (at most max_batch)
    waiting: int  # admitted requests waiting for a slot (at most max_queue)
    max_batch: int
    max_queue: int
