"""chatzoo_widget.wire: the shapes the server writes and RemoteChatBOT reads, checked from both sides."""

from __future__ import annotations

import json

import pytest

from chatzoo_widget.bots.settings import GENERATION_SETTINGS
from chatzoo_widget.wire import (SettingsPayload, error_body, finish_reason, max_tokens_field, max_tokens_of,
                                 read_error)


def test_error_body_round_trips_through_read_error():
    body = error_body("model 'x' not found", param="model", code="model_not_found")
    assert body == {"error": {"message": "model 'x' not found", "type": "invalid_request_error", "param": "model",
                              "code": "model_not_found"}}
    assert read_error(json.dumps(body).encode()) == ("model 'x' not found", "model_not_found")


@pytest.mark.parametrize("raw, expected", [
    (b'{"detail": "Not Found"}', ("Not Found", None)),  # FastAPI's shape
    (b'{"error": "quota exceeded"}', ("quota exceeded", None)),
    (b"Internal Server Error", ("Internal Server Error", None)),
    (b"", ("(empty body)", None)),
])
def test_read_error_takes_what_other_servers_send(raw, expected):
    assert read_error(raw) == expected


def test_finish_reason_maps_both_ways():
    assert [finish_reason(r) for r in ("length", "stop", "cancelled", "error", None)] == ["length"] + ["stop"] * 4
    assert [finish_reason(r) for r in ("content_filter", "tool_calls", "eos")] == ["stop"] * 3


def test_max_tokens_fields():
    assert max_tokens_of({"max_tokens": 5, "max_completion_tokens": 7}) == ("max_completion_tokens", 7)
    assert max_tokens_of({"max_tokens": 5, "max_new_tokens": 9}) == ("max_tokens", 5)
    assert max_tokens_of({"max_new_tokens": 9}) == ("max_new_tokens", 9) and max_tokens_of({}) is None
    assert max_tokens_of(max_tokens_field(12)) == ("max_tokens", 12)


def test_settings_payload_round_trip_and_refusals():
    payload = SettingsPayload.of("zoo", "chat", GENERATION_SETTINGS, 4096)
    data = json.loads(payload.model_dump_json())
    assert data["object"] == "chatzoo.settings" and data["defaults"]["max_new_tokens"] == 256
    back = SettingsPayload.model_validate(data)
    assert back.settings_spec().names() == GENERATION_SETTINGS.names() and back.model == "zoo"
    with pytest.raises(ValueError):
        SettingsPayload.model_validate({"spec": []}).settings_spec()
    with pytest.raises(ValueError):
        SettingsPayload.model_validate({"object": "list", "data": []})  # not a settings payload
