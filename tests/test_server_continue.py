"""Our server honours vLLM's `continue_final_message` / `add_generation_prompt` (a final assistant message continued,
the answer holding the continuation only) and `prompt_logprobs` (issue 21: remote branching and cross-scores)."""

from __future__ import annotations

import json

import httpx
import pytest

from chatzoo_widget.testing import ScriptedBOT
from test_server_openapi import CHUNK, COMPLETION, ERROR, assert_valid
from test_server_support import LiveServer, sse_data

USER = {"role": "user", "content": "Tell me about zebras."}
Q = [{"role": "HUMAN", "content": USER["content"]}]
CONTINUE = {"continue_final_message": True, "add_generation_prompt": False}


@pytest.fixture(scope="module")
def bot(tiny_chat_dir):
    from chatzoo_widget.registry import load_bot

    b = load_bot(tiny_chat_dir, type="chat", name="continue-served", compile=False)
    yield b
    b.close()


@pytest.fixture(scope="module")
def srv(bot):
    with LiveServer(bot, model_name="tiny") as s:
        yield s


def post(srv, body):
    return httpx.post(srv.base + "/chat/completions", json=body, timeout=60)


def first_reply(srv, n=10):
    r = post(srv, {"messages": [USER], "temperature": 0, "max_tokens": n, "logprobs": True})
    assert r.status_code == 200, r.text
    choice = r.json()["choices"][0]
    return choice["message"]["content"], [t["token"] for t in choice["logprobs"]["content"]]


def test_a_final_assistant_message_is_continued_and_the_answer_holds_the_continuation_only(srv, bot):
    whole, tokens = first_reply(srv)
    start = "".join(tokens[:4])
    r = post(srv, {"messages": [USER, {"role": "assistant", "content": start}], "temperature": 0, "max_tokens": 6,
                   "logprobs": True, **CONTINUE})
    assert r.status_code == 200, r.text
    body = r.json()
    assert_valid(body, COMPLETION)
    choice = body["choices"][0]
    assert choice["message"]["content"] == whole[len(start):]  # greedy: the first reply's own continuation
    assert [t["token"] for t in choice["logprobs"]["content"]] == tokens[4:]  # the tokens after the start only
    assert body["usage"]["completion_tokens"] == 6  # max_tokens counts what follows the start, as vLLM's does
    plain = post(srv, {"messages": [USER], "temperature": 0, "max_tokens": 1}).json()["usage"]["prompt_tokens"]
    assert body["usage"]["prompt_tokens"] == plain + bot.count_tokens(start)  # the start is prompt, as vLLM counts

    # the same through the local bot fed the start: what a branch on a local column writes
    local = bot.stream(Q, prefix=start, do_sample=False, max_new_tokens=10)
    assert local.consume() == whole


def test_streamed_continuation_equals_the_whole_one(srv):
    _, tokens = first_reply(srv)
    start = "".join(tokens[:3])
    body = {"messages": [USER, {"role": "assistant", "content": start}], "temperature": 0, "max_tokens": 5, **CONTINUE}
    whole = post(srv, body).json()["choices"][0]["message"]["content"]
    with httpx.stream("POST", srv.base + "/chat/completions", json={**body, "stream": True}, timeout=60) as r:
        assert r.status_code == 200
        events = [json.loads(e) for e in sse_data(list(r.iter_lines())) if e != "[DONE]"]
    for event in events:
        assert_valid(event, CHUNK)
    assert "".join(c["delta"].get("content") or "" for e in events for c in e["choices"]) == whole


def test_a_stop_string_inside_the_start_does_not_end_the_answer(srv):
    """As vLLM's: stop strings are looked for in what the model adds, not in the start it continues."""
    whole, tokens = first_reply(srv, n=12)
    start = "".join(tokens[:6])
    stop = start.strip()[-2:]
    body = {"messages": [USER, {"role": "assistant", "content": start}], "temperature": 0, "max_tokens": 6, **CONTINUE}
    free = post(srv, body).json()["choices"][0]["message"]["content"]
    assert free == whole[len(start):]
    cut = post(srv, {**body, "stop": [stop]}).json()["choices"][0]
    assert cut["message"]["content"] == (free[: free.index(stop)] if stop in free else free) and free


def test_an_empty_final_assistant_message_is_an_ordinary_answer(srv):
    whole, _ = first_reply(srv)
    r = post(srv, {"messages": [USER, {"role": "assistant", "content": ""}], "temperature": 0, "max_tokens": 10,
                   **CONTINUE})
    assert r.json()["choices"][0]["message"]["content"] == whole


def test_prompt_logprobs_score_every_prompt_token_as_a_forward_pass_does(srv, bot):
    import torch

    whole, _ = first_reply(srv)
    r = post(srv, {"messages": [USER, {"role": "assistant", "content": whole}], "max_tokens": 1, "temperature": 0,
                   "prompt_logprobs": 2, **CONTINUE})
    assert r.status_code == 200, r.text
    body = r.json()
    assert_valid(body, COMPLETION)  # the extension is an extra field: typed clients still read the answer
    scored = body["prompt_logprobs"]
    prompt = bot.get_input(bot.build_prompt(Q, {}))["input_ids"].reshape(-1).tolist()
    ids = prompt + bot.tokenizer(whole, add_special_tokens=False)["input_ids"]
    assert len(scored) == len(ids) and scored[0] is None
    with torch.inference_mode():
        expected = torch.log_softmax(bot.model(input_ids=torch.tensor([ids])).logits[0, :-1].float(), -1)
    for j, position in enumerate(scored[1:]):
        own, *alternatives = position.items()
        assert int(own[0]) == ids[j + 1]  # the prompt's own token first
        assert own[1]["logprob"] == pytest.approx(expected[j, ids[j + 1]].item(), abs=1e-4)
        assert own[1]["rank"] == int((expected[j] > expected[j, ids[j + 1]]).sum()) + 1
        best = expected[j].topk(2).indices.tolist()
        assert {int(k) for k in position} == {ids[j + 1], *best}
    tail = "".join(next(iter(p.values()))["decoded_token"] for p in scored[-len(ids) + len(prompt):])
    assert tail == whole  # the reply is the prompt's last tokens, spelled by their decoded text

    plain = post(srv, {"messages": [USER], "max_tokens": 2})
    assert "prompt_logprobs" not in plain.json()  # only when asked


@pytest.mark.parametrize("body, message, param", [
    ({"messages": [USER], "continue_final_message": True},
     "Cannot set both `continue_final_message` and `add_generation_prompt` to True.", "continue_final_message"),
    ({"messages": [USER], **CONTINUE},
     "continue_final_message is set but the final message is a 'user' message; end the messages with the "
     "'assistant' message to continue", "messages"),
    ({"messages": [USER], "add_generation_prompt": False},
     "add_generation_prompt: false is supported only with continue_final_message: true (the final assistant "
     "message continued): this server's models answer in an assistant turn", "add_generation_prompt"),
    ({"messages": [USER, {"role": "assistant", "content": "Hi"}]},
     "the last message must be a 'user' message to answer (to continue a final 'assistant' message, send "
     "continue_final_message: true, add_generation_prompt: false)", "messages"),
    ({"messages": [USER], "continue_final_message": "yes", "add_generation_prompt": False},
     "continue_final_message must be true or false, got 'yes'", "continue_final_message"),
    ({"messages": [USER], "prompt_logprobs": 1, "stream": True},
     "`prompt_logprobs` are not available when `stream=True`.", "prompt_logprobs"),
    ({"messages": [USER], "prompt_logprobs": 21},
     "Requested prompt logprobs of 21, which is greater than max allowed: 20", "prompt_logprobs"),
    ({"messages": [USER], "prompt_logprobs": -1}, "`prompt_logprobs` must be a positive value.", "prompt_logprobs"),
    ({"messages": [USER], "prompt_logprobs": "all"}, "`prompt_logprobs` must be an integer.", "prompt_logprobs"),
])
def test_bad_continuations_get_a_400_naming_what_is_wrong(srv, body, message, param):
    r = post(srv, body)
    assert r.status_code == 400
    assert_valid(r.json(), ERROR)
    assert r.json()["error"]["message"] == message and r.json()["error"]["param"] == param


def test_a_model_that_cannot_continue_or_score_says_so():
    with LiveServer(ScriptedBOT("scripted", reply="one two"), model_name="zoo") as srv:
        r = post(srv, {"messages": [USER, {"role": "assistant", "content": "Hi"}], **CONTINUE})
        assert r.status_code == 400
        assert r.json()["error"]["message"] == "model 'zoo' cannot continue an assistant message " \
                                               "(continue_final_message)"
        r = post(srv, {"messages": [USER], "prompt_logprobs": 0})
        assert r.status_code == 400
        assert r.json()["error"]["message"] == "prompt_logprobs: model 'scripted' (ScriptedBOT) has no local model " \
                                               "to score a prompt with"
