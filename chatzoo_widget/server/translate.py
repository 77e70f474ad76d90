"""A validated OpenAI request -> what `bot.stream` takes: a ChatZoo query and typed settings.

Checked against the served model's SettingsSpec, so a bad value is a 400 naming the setting and its range, and a
request never reaches the model with a setting it does not know.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ..bots.base import OPENAI_ROLES, ROLES
from ..bots.settings import MAX_TOP_LOGPROBS, SettingsSpec
from ..wire import max_tokens_of
from .continuation import Continuation, read_continuation
from .protocol import UNSUPPORTED_FIELDS, APIError, ChatCompletionRequest, ChatMessage

ROLE_MAP = {OPENAI_ROLES[r]: r for r in ROLES}  # user -> HUMAN, assistant -> BOT
SYSTEM_ROLES = ("system", "developer")
#: OpenAI fields that map onto a bot setting of the same name.
OPENAI_SETTING_FIELDS = ("temperature", "top_p", "seed")


@dataclass
class Translated:
    query: list[dict[str, str]]  # HUMAN/BOT turns, ending with HUMAN
    settings: dict[str, Any]  # bot.stream(**settings), typed
    stops: list[str]
    ignored: list[str]  # fields neither OpenAI's nor the model's: never passed on, reported in a header
    logprobs: bool = False  # the answer carries `logprobs`
    continuation: Continuation = Continuation()  # vLLM's continue_final_message and prompt_logprobs


def _content_text(msg: ChatMessage, i: int) -> str:
    if isinstance(msg.content, str):
        return msg.content
    texts = []
    for part in msg.content:
        if part.type != "text" or part.text is None:
            raise APIError(400, f"messages[{i}].content has a {part.type!r} part; this server takes text only",
                           param=f"messages[{i}].content")
        texts.append(part.text)
    return "".join(texts)


def convert_messages(messages: list[ChatMessage]) -> tuple[list[dict[str, str]], str | None]:
    """OpenAI messages -> (ChatZoo query of HUMAN/BOT turns, system prompt or None)."""
    query: list[dict[str, str]] = []
    system: list[str] = []
    for i, msg in enumerate(messages):
        text = _content_text(msg, i)
        if msg.role in SYSTEM_ROLES:
            if query:
                raise APIError(400, f"messages[{i}] is a {msg.role} message after the conversation started; put "
                                    "system messages first", param=f"messages[{i}].role")
            system.append(text)
        elif msg.role in ROLE_MAP:
            query.append({"role": ROLE_MAP[msg.role], "content": text})
        else:
            raise APIError(400, f"messages[{i}] has role {msg.role!r}; this server takes 'system', 'user' and "
                                "'assistant'", param=f"messages[{i}].role")
    if not query or query[-1]["role"] != "HUMAN":
        raise APIError(400, "the last message must be a 'user' message to answer (to continue a final 'assistant' "
                            "message, send continue_final_message: true, add_generation_prompt: false)",
                       param="messages")
    return query, ("\n\n".join(system) if system else None)


def _refuse_unsupported(req: ChatCompletionRequest) -> None:
    if req.n is not None and req.n != 1:
        raise APIError(400, f"n must be 1 (one reply per request), got {req.n!r}", param="n")
    for name in UNSUPPORTED_FIELDS:
        if getattr(req, name) not in (None, [], {}):
            raise APIError(400, f"{name!r} is not supported by this server", param=name, code="unsupported_parameter")
    fmt = req.response_format
    if fmt is not None and not (isinstance(fmt, dict) and fmt.get("type") == "text"):
        raise APIError(400, "response_format other than {'type': 'text'} is not supported", param="response_format",
                       code="unsupported_parameter")


def _logprobs(req: ChatCompletionRequest) -> tuple[bool, int]:
    """(logprobs asked, top_logprobs) checked as OpenAI checks them, with its wording."""
    if req.logprobs is not None and not isinstance(req.logprobs, bool):
        raise APIError(400, f"Invalid type for 'logprobs': expected a boolean, but got {_json_type(req.logprobs)} "
                            "instead.", param="logprobs", code="invalid_type")
    top = req.top_logprobs
    if top is None:
        return bool(req.logprobs), 0
    if isinstance(top, bool) or not isinstance(top, int):
        raise APIError(400, f"Invalid type for 'top_logprobs': expected an integer, but got {_json_type(top)} "
                            "instead.", param="top_logprobs", code="invalid_type")
    if top < 0:
        raise APIError(400, f"Invalid 'top_logprobs': integer below minimum value. Expected a value >= 0, but got "
                            f"{top} instead.", param="top_logprobs", code="integer_below_min_value")
    if top > MAX_TOP_LOGPROBS:
        raise APIError(400, f"Invalid 'top_logprobs': integer above maximum value. Expected a value <= "
                            f"{MAX_TOP_LOGPROBS}, but got {top} instead.", param="top_logprobs",
                       code="integer_above_max_value")
    if not req.logprobs:
        raise APIError(400, "The 'top_logprobs' parameter is only allowed when 'logprobs' is enabled.",
                       param="top_logprobs")
    return True, top


def _json_type(value: Any) -> str:
    names = {str: "a string", float: "a decimal", int: "an integer", list: "an array", dict: "an object"}
    return next((n for t, n in names.items() if isinstance(value, t)), type(value).__name__)


class RequestTranslator:
    """Turns requests into bot.stream arguments for one served model."""

    def __init__(self, spec: SettingsSpec, model_name: str, max_tokens_cap: int):
        if max_tokens_cap < 1:
            raise ValueError(f"max_tokens_cap must be >= 1, got {max_tokens_cap}")
        self.spec = spec
        self.model_name = model_name
        self.max_tokens_cap = max_tokens_cap

    def served_spec(self) -> SettingsSpec:
        """The bot's spec as this server enforces it: max_new_tokens limited by the cap."""
        spec = self.spec
        if "max_new_tokens" in spec:
            s = spec["max_new_tokens"]
            top = min(s.max if s.max is not None else self.max_tokens_cap, self.max_tokens_cap)
            spec = spec.with_settings(replace(s, max=top, default=min(s.default, top)))
        return spec

    def _setting(self, name: str, value: Any, param: str) -> Any:
        if name not in self.spec:
            raise APIError(400, f"{param!r} is not supported by model {self.model_name!r}: it has no setting "
                                f"{name!r} (its settings: {', '.join(self.spec.names())})", param=param,
                           code="unsupported_parameter")
        try:
            return self.spec[name].validate(value)
        except ValueError as exc:
            raise APIError(400, str(exc), param=param, code="invalid_value") from None

    def _max_new_tokens(self, req: ChatCompletionRequest) -> dict[str, Any]:
        """Refused above the cap, never clamped: a client asking for more should know it gets less."""
        given = max_tokens_of({"max_completion_tokens": req.max_completion_tokens, "max_tokens": req.max_tokens,
                               "max_new_tokens": req.max_new_tokens})
        if given is None:
            if "max_new_tokens" in self.spec and self.spec["max_new_tokens"].default > self.max_tokens_cap:
                return {"max_new_tokens": self.max_tokens_cap}
            return {}
        param, value = given
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise APIError(400, f"{param} must be a positive integer, got {value!r}", param=param, code="invalid_value")
        if value > self.max_tokens_cap:
            raise APIError(400, f"{param} is {value}, above this server's cap of {self.max_tokens_cap} "
                                f"(--max-tokens-cap); ask for at most {self.max_tokens_cap}", param=param,
                           code="max_tokens_too_large")
        return {"max_new_tokens": self._setting("max_new_tokens", value, param)}

    def translate(self, req: ChatCompletionRequest) -> Translated:
        if req.model is not None and req.model != self.model_name:
            raise APIError(404, f"model {req.model!r} not found; this server serves {self.model_name!r} "
                                "(GET /v1/models)", param="model", code="model_not_found")
        messages, continuation = read_continuation(req, _content_text)
        query, system = convert_messages(messages)
        _refuse_unsupported(req)
        settings = self._max_new_tokens(req)
        logprobs, top = _logprobs(req)
        if logprobs:
            settings["logprobs"] = self._setting("logprobs", True, "logprobs")
            settings["top_logprobs"] = self._setting("top_logprobs", top, "top_logprobs")
        for name in OPENAI_SETTING_FIELDS:
            if getattr(req, name) is not None:
                settings[name] = self._setting(name, getattr(req, name), name)
        extras = req.model_extra or {}
        # ChatZoo's own settings, by name (top_k, repetition_penalty, num_beams, ...)
        for name, value in extras.items():
            if name not in self.spec or value is None:
                continue
            if name == "system_prompt" and system is not None:
                raise APIError(400, "give the system prompt either as a system message or as 'system_prompt', "
                                    "not both", param="system_prompt")
            settings[name] = self._setting(name, value, name)
        if system is not None:
            if "system_prompt" not in self.spec:
                raise APIError(400, f"model {self.model_name!r} takes no system prompt (its settings have no "
                                    "'system_prompt'); leave out the system message", param="messages",
                               code="unsupported_parameter")
            settings["system_prompt"] = self._setting("system_prompt", system, "messages")
        ignored = sorted(k for k in extras if k not in self.spec)
        return Translated(query, settings, req.stops, ignored, logprobs, continuation)
