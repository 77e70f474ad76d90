"""The OpenAI chat-completions shapes that ChatZoo's server writes and its RemoteChatBOT reads.

One module, so that both sides agree by construction: the error body, the finish_reason mapping, the end-of-stream
marker, the max_tokens fields, and ChatZoo's own settings payload (`GET /v1/chatzoo/settings`).
"""

from __future__ import annotations

import json
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict

from .bots.settings import SettingsSpec

#: The data of the last event of a streamed reply.
DONE = "[DONE]"
#: Where a ChatZoo server publishes its model's typed settings, under the /v1 prefix.
SETTINGS_PATH = "/chatzoo/settings"
SETTINGS_OBJECT = "chatzoo.settings"

FinishReason = Literal["stop", "length"]


# ----- errors --------------------------------------------------------------------------------------
class ErrorInfo(BaseModel):
    message: str
    type: str = "invalid_request_error"
    param: str | None = None
    code: str | None = None


class ErrorBody(BaseModel):
    """Every error a ChatZoo server answers, as a response body or as a stream event."""

    error: ErrorInfo


def error_body(message: str, type: str = "invalid_request_error", param: str | None = None,
               code: str | None = None) -> dict[str, Any]:
    return ErrorBody(error=ErrorInfo(message=message, type=type, param=param, code=code)).model_dump()


def read_error(body: bytes | str) -> tuple[str, str | None]:
    """(message, code) from the error body of any OpenAI-compatible server: OpenAI's shape, FastAPI's
    `{"detail": ...}`, a bare string, or plain text (shortened)."""
    try:
        data = json.loads(body)
    except ValueError:
        text = (body.decode("utf-8", "replace") if isinstance(body, bytes) else body).strip()
        return (text[:300] + ("..." if len(text) > 300 else "")) or "(empty body)", None
    if isinstance(data, Mapping):
        err = data.get("error", data)
        if isinstance(err, Mapping):
            msg = err.get("message") or err.get("detail") or json.dumps(err)[:300]
            return str(msg), (str(err["code"]) if err.get("code") is not None else None)
        if isinstance(err, str):
            return err, None
        if "detail" in data:
            return str(data["detail"])[:300], None
    return json.dumps(data)[:300], None


# ----- replies -------------------------------------------------------------------------------------
def finish_reason(reason: str | None) -> FinishReason:
    """The same mapping both ways (ChatZoo's ReplyStats <-> OpenAI's finish_reason): "length" when the token
    limit ended the reply; anything else (end of reply, stop string, a stop, content_filter, ...) is "stop"."""
    return "length" if reason == "length" else "stop"


#: Request fields that carry the reply's token limit, in the order a server reads them: OpenAI's current name, its
#: older one, and ChatZoo's own setting name.
MAX_TOKENS_FIELDS = ("max_completion_tokens", "max_tokens", "max_new_tokens")


def max_tokens_of(body: Mapping[str, Any]) -> tuple[str, Any] | None:
    """(field, value) of the first token limit given in a request body, or None."""
    for name in MAX_TOKENS_FIELDS:
        if body.get(name) is not None:
            return name, body[name]
    return None


def max_tokens_field(max_new_tokens: int) -> dict[str, int]:
    """ChatZoo's max_new_tokens as a request field; `max_tokens` is the one every engine understands."""
    return {"max_tokens": max_new_tokens}


# ----- ChatZoo's settings payload -----------------------------------------------------------------
class SettingsPayload(BaseModel):
    """`GET /v1/chatzoo/settings`: the served model's typed settings, so a remote column offers the same sliders."""

    model_config = ConfigDict(extra="ignore")

    object: str = SETTINGS_OBJECT
    model: str | None = None
    family: str = ""
    spec: list[dict[str, Any]]
    defaults: dict[str, Any] = {}
    max_tokens_cap: int | None = None

    @classmethod
    def of(cls, model: str, family: str, spec: SettingsSpec, max_tokens_cap: int) -> "SettingsPayload":
        return cls(model=model, family=family, spec=spec.to_json(), defaults=spec.defaults(),
                   max_tokens_cap=max_tokens_cap)

    def settings_spec(self) -> SettingsSpec:
        """The spec it carries; ValueError when it is empty or malformed."""
        try:
            spec = SettingsSpec.from_json(self.spec)
        except (TypeError, KeyError) as exc:
            raise ValueError(f"malformed settings spec: {exc}") from None
        if not spec.names():
            raise ValueError("empty settings spec")
        return spec
