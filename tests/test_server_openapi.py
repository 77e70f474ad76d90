"""Every response the server gives validates against OpenAI's own OpenAPI description, so typed clients in any
language (which decode into structs generated from it) read our answers: the models list and a model card, whole
completions, every stream chunk, the usage chunk, and every error, as a body or as a mid-stream event.

The schemas come from tests/fixtures/openai_schemas.json, a verbatim extract of openai/openai-openapi (see
tests/fixtures/make_openai_schemas.py); the last test checks it against the full description when that is present.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from chatzoo_widget.testing import ScriptedBOT, wait_until
from test_server_support import LiveServer, long_prompt, sse_data

HERE = Path(__file__).resolve().parent
EXTRACT = HERE / "fixtures" / "openai_schemas.json"
FULL_SPEC = HERE.parents[1] / "shared" / "reference" / "openai-openapi.json"
SCHEMA_REF = "#/components/schemas/"
USER = lambda text: {"role": "user", "content": text}  # noqa: E731

MODELS = "get /models 200 application/json"
MODEL = "get /models/{model} 200 application/json"
COMPLETION = "post /chat/completions 200 application/json"
CHUNK = "post /chat/completions 200 text/event-stream"
TOO_MANY = "post /chat/completions 429 application/json"
ERROR = "error"


# ----- the schemas, as JSON Schema -------------------------------------------------------------------
def as_json_schema(node: Any) -> Any:
    """An OpenAPI 3.1 schema as plain JSON Schema 2020-12.

    3.1 schemas already are JSON Schema, but this description still carries OpenAPI 3.0's `nullable: true` in
    places (on objects, enums and `$ref`s), which a JSON Schema validator ignores. 3.0 meant "null is allowed as
    well", so each such schema becomes `anyOf: [the schema, {"type": "null"}]`; adding "null" to `type` would not
    do, since an `enum` or a `$ref` next to it would still refuse null. Nothing else changes.
    """
    if isinstance(node, list):
        return [as_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    # `nullable` as a keyword has a bool value; a property *named* "nullable" would hold a schema and stays.
    schema = {key: as_json_schema(value) for key, value in node.items()
              if not (key == "nullable" and isinstance(value, bool))}
    return {"anyOf": [schema, {"type": "null"}]} if node.get("nullable") is True else schema


@cache
def extract() -> dict:
    return json.loads(EXTRACT.read_text(encoding="utf-8"))


@cache
def validator(name: str) -> Draft202012Validator:
    """A validator for components/schemas/NAME; `$ref`s resolve inside the same components/schemas."""
    schemas = as_json_schema(extract()["schemas"])
    schema = {"$ref": SCHEMA_REF + name, "components": {"schemas": schemas}}
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def schema_for(answer: str) -> str:
    data = extract()
    return data["error_schema"] if answer == ERROR else data["responses"][answer]


def problems(body: Any, answer: str) -> list[str]:
    errors = validator(schema_for(answer)).iter_errors(body)
    return [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in errors]


def assert_valid(body: Any, answer: str) -> None:
    found = problems(body, answer)
    assert not found, f"{answer} ({schema_for(answer)}) does not validate:\n" + "\n".join(found) + \
        f"\nbody: {json.dumps(body)[:600]}"


def test_every_ref_resolves_inside_the_extract():
    schemas = extract()["schemas"]
    text = json.dumps(schemas)
    for ref in {part.split('"')[0] for part in text.split('"$ref": "')[1:]}:
        assert ref.startswith(SCHEMA_REF) and ref[len(SCHEMA_REF):] in schemas, ref


def test_the_validator_is_strict_where_the_schema_is_and_lets_nullable_be_null():
    ok = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
          "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi", "refusal": None},
                       "logprobs": None, "finish_reason": "stop"}]}
    assert problems(ok, COMPLETION) == []
    no_refusal = json.loads(json.dumps(ok))
    del no_refusal["choices"][0]["message"]["refusal"]
    assert any("'refusal' is a required property" in p for p in problems(no_refusal, COMPLETION))
    bad_finish = json.loads(json.dumps(ok))
    bad_finish["choices"][0]["finish_reason"] = "cancelled"
    assert problems(bad_finish, COMPLETION)
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m", "usage": None,
             "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": None}]}
    assert problems(chunk, CHUNK) == []  # logprobs, finish_reason and usage are 3.0-style nullable here
    assert problems({**chunk, "usage": {"prompt_tokens": 1}}, CHUNK)  # but a usage object must be whole
    assert problems({"error": {"message": "x", "type": "t", "param": None}}, ERROR)  # code is required


# ----- what the server answers -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def srv():
    with LiveServer(ScriptedBOT(name="scripted")) as s:
        yield s


def post(srv: LiveServer, body: Any, **kw: Any) -> httpx.Response:
    return httpx.post(srv.base + "/chat/completions", json=body, timeout=20, **kw)


def stream_events(srv: LiveServer, body: dict) -> list[str]:
    with httpx.stream("POST", srv.base + "/chat/completions", json={**body, "stream": True}, timeout=20) as r:
        assert r.status_code == 200, r.read()
        return sse_data(list(r.iter_lines()))


def test_models_list_and_model_card(srv):
    models = httpx.get(srv.base + "/models")
    assert models.status_code == 200
    assert_valid(models.json(), MODELS)
    card = httpx.get(srv.base + "/models/scripted")
    assert card.status_code == 200
    assert_valid(card.json(), MODEL)


def test_a_whole_completion_carries_refusal_null(srv):
    for body, finish in (({"messages": [USER("hello zoo")]}, "stop"),
                         ({"messages": [USER("one two three")], "max_tokens": 2}, "length"),
                         ({"messages": [USER(long_prompt(20))], "stop": "w3"}, "stop")):
        r = post(srv, body)
        assert r.status_code == 200, r.text
        answer = r.json()
        assert_valid(answer, COMPLETION)
        (choice,) = answer["choices"]
        assert choice["message"]["refusal"] is None and choice["finish_reason"] == finish
        assert choice["logprobs"] is None


@pytest.mark.parametrize("include_usage", [True, False])
def test_every_stream_chunk_and_the_usage_chunk(srv, include_usage):
    body = {"messages": [USER("stream me please")], "stream_options": {"include_usage": include_usage}}
    events = stream_events(srv, body)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    for chunk in chunks:
        assert_valid(chunk, CHUNK)
    if include_usage:
        assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0
        assert all(c["usage"] is None for c in chunks[:-1])
    else:
        assert all("usage" not in c for c in chunks)
    assert chunks[-1 - include_usage]["choices"][0]["finish_reason"] == "stop"


def test_a_tiny_model_answers_in_the_same_shapes(tiny_bot):
    with LiveServer(tiny_bot) as s:
        request = {"messages": [USER("Hello, how are you today?")], "max_tokens": 6, "temperature": 0}
        answer = post(s, request).json()
        assert_valid(answer, COMPLETION)
        assert answer["choices"][0]["message"]["refusal"] is None
        events = stream_events(s, {**request, "stream_options": {"include_usage": True}})
        for event in events[:-1]:
            assert_valid(json.loads(event), CHUNK)
        assert json.loads(events[-2])["usage"]["completion_tokens"] >= 1


# ----- errors ----------------------------------------------------------------------------------------
def assert_error(r: httpx.Response, status: int, answer: str = ERROR) -> dict:
    assert r.status_code == status, r.text
    assert_valid(r.json(), answer)
    return r.json()["error"]


def test_request_errors(srv):
    assert assert_error(post(srv, {"messages": [USER("x")], "temperature": 5}), 400)["param"] == "temperature"
    assert_error(post(srv, {"messages": []}), 400)
    assert_error(httpx.post(srv.base + "/chat/completions", content=b"{nope"), 400)
    assert assert_error(post(srv, {"model": "gpt-4o", "messages": [USER("x")]}), 404)["code"] == "model_not_found"
    assert_error(httpx.get(srv.base + "/models/gpt-4o"), 404)
    assert_error(httpx.get(srv.url + "/nowhere"), 404)
    assert_error(httpx.get(srv.base + "/chat/completions"), 405)


def test_missing_or_wrong_api_key():
    with LiveServer(ScriptedBOT(name="scripted"), api_key="k-1") as s:
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            assert_error(post(s, {"messages": [USER("x")]}, headers=headers), 401)
            assert_error(httpx.get(s.base + "/models", headers=headers), 401)


def test_body_too_large():
    with LiveServer(ScriptedBOT(name="scripted"), max_body_bytes=500) as s:
        assert_error(post(s, {"messages": [USER("x" * 1000)]}), 413)

        def chunked():  # no Content-Length: refused while reading
            yield json.dumps({"messages": [USER("x" * 1000)]}).encode()

        assert_error(httpx.post(s.base + "/chat/completions", content=chunked()), 413)


def test_queue_full():
    bot = ScriptedBOT(name="slow", first_delay=30)  # holds its slot until its stream is closed
    with LiveServer(bot, max_batch=1, max_queue=0) as s:
        with httpx.stream("POST", s.base + "/chat/completions", timeout=20,
                          json={"messages": [USER("first")], "stream": True}) as held:
            lines = held.iter_lines()  # kept: a dropped line iterator closes the stream
            next(lines)  # admitted: the role chunk is out
            assert wait_until(lambda: httpx.get(s.url + "/health").json()["running"] == 1)
            for body in ({"messages": [USER("second")]}, {"messages": [USER("second")], "stream": True}):
                r = post(s, body)
                assert_error(r, 429, TOO_MANY)
                assert int(r.headers["retry-after"]) >= 1  # the description's TooManyRequests header: integer >= 1


def test_generation_failure_whole_and_mid_stream():
    with LiveServer(ScriptedBOT(name="flaky", fail_after=2)) as s:
        assert assert_error(post(s, {"messages": [USER("a b c d")]}), 500)["code"] == "generation_failed"
        events = stream_events(s, {"messages": [USER("a b c d")], "stream_options": {"include_usage": True}})
        assert "[DONE]" not in events
        *chunks, last = [json.loads(e) for e in events]
        assert len(chunks) >= 2  # the role chunk and some content came before the failure
        for chunk in chunks:
            assert_valid(chunk, CHUNK)
        assert_valid(last, ERROR)
        assert last["error"]["code"] == "generation_failed"


def test_a_bot_refusing_mid_stream_sends_an_error_event():
    class Picky(ScriptedBOT):
        def stream(self, query, stop_event=None, **settings):
            raise ValueError("this bot does not answer that")

    with LiveServer(Picky(name="picky")) as s:
        assert_error(post(s, {"messages": [USER("x")]}), 400)
        last = json.loads(stream_events(s, {"messages": [USER("x")]})[-1])
        assert_valid(last, ERROR)
        assert last["error"]["type"] == "invalid_request_error"


# ----- the extract is the description ----------------------------------------------------------------
@pytest.mark.skipif(not FULL_SPEC.is_file(), reason=f"{FULL_SPEC} is not here (a clean clone): the extract stands")
def test_the_extract_equals_the_full_description():
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_openai_schemas", HERE / "fixtures" / "make_openai_schemas.py")
    maker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(maker)
    assert maker.extract(json.loads(FULL_SPEC.read_text(encoding="utf-8"))) == extract()

