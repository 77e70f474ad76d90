"""Cross-model scoring (issue 21 item 3): each local model scores every column's reply by teacher forcing."""

from __future__ import annotations

import math
import time

import pandas as pd
import pytest
import torch

from chatzoo_widget import ChatZooWidget, commands
from chatzoo_widget.compare import cross_scores as cross
from chatzoo_widget.compare.remote_scoring import NO_PROMPT_LOGPROBS
from chatzoo_widget.testing import ScriptedBOT

GREEDY = {"do_sample": False, "max_new_tokens": 12, "repetition_penalty": 1.0}
PROMPT = "Hello, how are you today?"
# float32: batched and alone then agree to rounding (bfloat16 rounds differently per batch shape); eager: the
# scoring is what is tested, not the compiled decode step
EAGER = {"compile": False, "dtype": "float32"}


def _column(name, folder, family, **settings):
    return {"name": name, "model": str(folder), "type": family, "load_options": EAGER,
            "settings": {**GREEDY, **settings}}


@pytest.fixture
def widget(tiny_chat_dir, tiny_firefly_dir):
    """Qwen2 twice (one model, two columns) and Bloom: two architectures, two tokenizers."""
    w = ChatZooWidget([_column("qwen", tiny_chat_dir, "chat", logprobs=True),
                       _column("qwen-warm", tiny_chat_dir, "chat", temperature=0.5),
                       _column("bloom", tiny_firefly_dir, "firefly")])
    for column in w.manager.columns.values():
        column.load.result()
    w.send(PROMPT, wait=True)
    yield w
    w.close()


def _bot(w, name):
    return w.manager.get(name).bot


def _alone(bot, query, text, settings=None):
    """log P of each token of `text` (tokenised alone) after the prompt, from one full forward pass of that row
    alone: the reference the batched scores must equal."""
    _, prompt_kwargs, _ = bot.merge_settings(settings or {})
    prompt = bot.get_input(bot.build_prompt(query, prompt_kwargs))["input_ids"][0].tolist()
    reply = bot.tokenizer(text, add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        logits = bot.model(input_ids=torch.tensor([prompt + reply])).logits[0].float()
    lp = torch.log_softmax(logits, dim=-1)
    return [lp[len(prompt) - 1 + j, t].item() for j, t in enumerate(reply)]


def test_the_matrix_is_the_log_softmax_of_each_reply_alone_under_each_model(widget):
    df = widget.cross_scores()
    assert list(df.index) == ["qwen", "bloom"]  # qwen-warm shares qwen's model: scored once
    assert list(df.columns) == ["qwen", "qwen-warm", "bloom"]
    record = df.attrs["record"]
    assert record["scorers"][0]["columns"] == ["qwen", "qwen-warm"]
    query = [{"role": "HUMAN", "content": PROMPT}]
    for scorer in ("qwen", "bloom"):
        for reply in df.columns:
            text = widget.history[reply][-1]["content"]
            ref = _alone(_bot(widget, scorer), query, text)
            assert df.attrs["tokens"].loc[scorer, reply] == len(ref)
            assert df.attrs["total"].loc[scorer, reply] == pytest.approx(sum(ref), abs=1e-3)
            assert df.loc[scorer, reply] == pytest.approx(sum(ref) / len(ref), abs=1e-4)
    # a model finds its own greedy reply likelier than the other model does
    assert df.loc["qwen", "qwen"] > df.loc["bloom", "qwen"]
    assert df.loc["bloom", "bloom"] > df.loc["qwen", "bloom"]


def test_batched_scores_equal_each_text_scored_alone(widget):
    scorers = cross.column_scorers(widget.manager)
    items = [cross.reply_of(c, 0) for c in widget.manager.columns.values()]
    items.append(cross.Text(query=[{"role": "HUMAN", "content": "What is your name?"}],
                            text="My name is Tiny, a small test model. " * 3))  # longer: padding in the batch
    for scorer in scorers:
        together = cross.score_texts_with(scorer, items)
        for item, scored in zip(items, together):
            [alone] = cross.score_texts_with(scorer, [item])
            assert scored.logprobs == pytest.approx(alone.logprobs, abs=1e-4)
            assert scored.spans == alone.spans


def test_tokenizer_mismatch_is_retokenised_and_says_so(widget):
    retokenised = widget.cross_scores().attrs["retokenised"]
    assert retokenised.loc["bloom", "qwen"] is True  # another tokenizer: the reply's text, re-tokenised
    assert retokenised.loc["qwen", "bloom"] is True
    assert retokenised.loc["qwen", "qwen"] is False  # its own ids, kept with logprobs on
    assert retokenised.loc["qwen", "qwen-warm"] is True  # same model, but no ids kept (logprobs off)


def test_a_column_scoring_its_own_greedy_reply_gets_the_logprobs_its_generation_recorded(tiny_chat_dir):
    from chatzoo_widget.registry import load_bot

    bot = load_bot(tiny_chat_dir, type="chat", name="own", compile=False, dtype="float32")
    # the tiny model's generation config suppresses tokens (a processor); teacher forcing reads the raw model
    bot.model.generation_config.suppress_tokens = None
    bot.model.generation_config.begin_suppress_tokens = None
    w = ChatZooWidget([{"name": "own", "model": bot, "settings": {**GREEDY, "logprobs": True, "top_logprobs": 1}}])
    try:
        w.send(PROMPT, wait=True)
        entry = w.entries["own"][-1]
        recorded = [t["logprob"] for t in entry["tokens"]]
        assert recorded and all(t["top_logprobs"][0]["id"] == t["id"] for t in entry["tokens"])  # greedy
        [scorer] = cross.column_scorers(w.manager)
        [scored] = cross.score_texts_with(scorer, [cross.reply_of(w.manager.get("own"), 0)])
        assert scored.retokenised is False
        assert scored.logprobs == pytest.approx(recorded, abs=1e-4)
        df = w.cross_scores()
        assert df.loc["own", "own"] == pytest.approx(entry["stats"]["mean_logprob"], abs=1e-4)
    finally:
        w.close()
        bot.close()


def test_disputed_tokens_are_character_spans_of_the_reply_with_every_scorers_logprob(widget):
    df = widget.cross_scores()
    for reply, spans in df.attrs["disputed"].items():
        text = widget.history[reply][-1]["content"]
        assert spans, reply
        spreads = [s["spread"] for s in spans]
        assert spreads == sorted(spreads, reverse=True)
        for span in spans:
            assert text[span["start"]:span["end"]] == span["text"]
            values = span["logprobs"]
            assert set(values) == {"qwen", "bloom"}
            assert span["spread"] == pytest.approx(max(values.values()) - min(values.values()))


def test_character_shares_keep_each_models_total():
    text = "abcdef"
    one = cross.Scored(spans=[(0, 2), (2, 6)], logprobs=[-1.0, -4.0], retokenised=True)
    two = cross.Scored(spans=[(0, 3), (3, 3), (3, 6)], logprobs=[-3.0, -0.5, -0.3], retokenised=True)
    assert sum(cross._char_logprobs(len(text), two)) == pytest.approx(two.total)
    [first, second] = cross.disputed_spans("r", text, [one, two], reference=0)  # the largest spread first
    assert (first["start"], first["end"], first["text"]) == (2, 6, "cdef")
    assert first["logprobs"] == pytest.approx([-4.0, -1.0 - 0.5 - 0.3])  # two: 1 of "abc"'s 3 chars, then the rest
    assert first["spread"] == pytest.approx(2.2)
    assert (second["text"], second["logprobs"]) == ("ab", pytest.approx([-1.0, -2.0]))


def test_columns_that_cannot_score_say_why_and_the_others_score(tiny_chat_dir):
    w = ChatZooWidget([_column("qwen", tiny_chat_dir, "chat"), ScriptedBOT("script", reply="I am a script.")])
    try:
        w.manager.get("qwen").load.result()
        w.send(PROMPT, wait=True)
        df = w.cross_scores()
        assert list(df.columns) == ["qwen", "script"]
        assert "cannot score" in df.attrs["cannot_score"]["script"]
        assert df.loc["qwen"].notna().all() and df.loc["script"].isna().all()
    finally:
        w.close()


def test_bad_input_is_refused_with_a_clear_error(widget):
    with pytest.raises(ValueError, match="turn 3 is out of range"):
        widget.cross_scores(turn=3)
    with pytest.raises(ValueError, match="turn=1"):
        widget.cross_scores(1)
    with pytest.raises(ValueError, match="no 'reference' column"):
        widget.score_texts(pd.DataFrame({"prompt": ["Hi"]}))
    empty = ChatZooWidget([ScriptedBOT("only")])
    try:
        with pytest.raises(ValueError, match="nothing to score yet"):
            empty.cross_scores()
    finally:
        empty.close()


def test_a_batch_frame_gains_per_row_scores_and_a_reference_column_its_likeliest_model(widget):
    results = widget.run_batch(["What is your name?", "The capital of France is"])
    scored = widget.cross_scores(results)
    for _, row in scored.iterrows():
        query = [{"role": "HUMAN", "content": row["prompt"]}]
        for scorer in ("qwen", "bloom"):
            ref = _alone(_bot(widget, scorer), query, row["reply"])
            assert row[f"logprob_{scorer}"] == pytest.approx(sum(ref) / len(ref), abs=1e-4)
            assert row[f"total_logprob_{scorer}"] == pytest.approx(sum(ref), abs=1e-3)
    results["reference"] = results["prompt"].map({"What is your name?": "My name is Tiny.",
                                                  "The capital of France is": "Paris."})
    ref_scored = widget.score_texts(results, column="reference")
    for _, row in ref_scored.iterrows():
        totals = {s: row[f"reference_total_logprob_{s}"] for s in ("qwen", "bloom")}
        assert row["reference_likeliest"] == max(totals, key=totals.get)
        ref = _alone(_bot(widget, "bloom"), [{"role": "HUMAN", "content": row["prompt"]}], row["reference"])
        assert totals["bloom"] == pytest.approx(sum(ref), abs=1e-3)


def test_the_command_answers_the_turn_and_the_record_follows_as_a_message(widget, sent):
    answer = commands.run(widget, {"kind": "command", "id": "c1", "name": "cross_scores", "args": {}})
    assert answer["ok"] and answer["result"] == {"turn": 0}
    deadline = time.monotonic() + 60
    while not any(m.get("kind") == "cross_scores" for m in sent) and time.monotonic() < deadline:
        time.sleep(0.05)
    [msg] = [m for m in sent if m.get("kind") == "cross_scores"]
    assert msg["error"] is None
    record = msg["record"]
    assert record["replies"] == ["qwen", "qwen-warm", "bloom"]
    assert [s["name"] for s in record["scorers"]] == ["qwen", "bloom"]
    assert all(math.isfinite(s["mean_logprob"]) for s in record["scores"])
    bad = commands.run(widget, {"kind": "command", "id": "c2", "name": "cross_scores", "args": {"turn": 5}})
    assert not bad["ok"] and "out of range" in bad["error"]


def test_the_command_is_refused_while_an_arena_is_blind(tiny_chat_dir):
    w = ChatZooWidget([_column("a", tiny_chat_dir, "chat"), _column("b", tiny_chat_dir, "chat")], arena=True)
    try:
        w.manager.get("a").load.result()
        w.send(PROMPT, wait=True)
        answer = commands.run(w, {"kind": "command", "id": "c", "name": "cross_scores", "args": {}})
        assert not answer["ok"] and "hidden until the vote" in answer["error"]
    finally:
        w.close()


def test_scoring_waits_for_a_step_boundary_and_does_not_disturb_a_reply_being_generated(widget):
    """A scoring pass while a column decodes: the reply is the same as without it (one thread runs the model)."""
    before = widget.history["qwen"][-1]["content"]
    widget.regenerate()
    scorer = cross.column_scorers(widget.manager)[0]
    item = cross.Text(query=[{"role": "HUMAN", "content": PROMPT}], text=before)
    scored = cross.score_texts_with(scorer, [item])[0]
    widget.wait()
    assert widget.history["qwen"][-1]["content"] == before  # greedy: the same reply, scoring or not
    assert scored.logprobs == pytest.approx(_alone(scorer.bot, item.query, before), abs=1e-4)


# ----- remote columns: vLLM's prompt_logprobs, and a server without it ------------------------------------------
class _FakeVLLM:
    """A server in vLLM's shape: chat completions that answer `prompt_logprobs` for the prompt its 'template'
    (<role>content, the last message continued) makes, cut into word tokens of log-probability -0.5 per character.
    With `prompt_logprobs=False` it answers as a server without them would (the field left out)."""

    def __init__(self, prompt_logprobs: bool = True):
        import http.server
        import json
        import re
        import threading

        fake = self
        self.bodies: list[dict] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _json(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path.endswith("/models"):
                    return self._json(200, {"object": "list", "data": [{"id": "fake-vllm", "object": "model"}]})
                self._json(404, {"error": {"message": "not found"}})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.bodies.append(body)
                prompt = "".join(f"<{m['role']}>{m['content']}" for m in body["messages"])
                tokens = re.findall(r"<[a-z]+>|\s*[^\s<]+|\s+", prompt)
                assert "".join(tokens) == prompt
                answer = {"id": "x", "object": "chat.completion", "created": 0, "model": "fake-vllm",
                          "choices": [{"index": 0, "message": {"role": "assistant", "content": "."},
                                       "finish_reason": "length"}]}
                if prompt_logprobs:
                    answer["prompt_logprobs"] = [None] + [
                        {str(i): {"logprob": -0.5 * len(t), "rank": 1, "decoded_token": t}}
                        for i, t in enumerate(tokens[1:])]
                self._json(200, answer)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def _conversation(w, replies):
    """Put a finished turn in every column's history (no generation): {column name: reply}."""
    histories = {}
    for name, reply in replies.items():
        column = w.manager.get(name)
        histories[column.id] = [{"role": "HUMAN", "content": PROMPT, "turn": 0},
                                {"role": "BOT", "content": reply, "turn": 0, "stats": {"finish_reason": "stop"}}]
    w.manager.set_histories(histories)


@pytest.mark.parametrize("speaks_vllm", [True, False])
def test_a_remote_column_scores_where_its_server_answers_prompt_logprobs(tiny_chat_dir, speaks_vllm):
    server = _FakeVLLM(prompt_logprobs=speaks_vllm)
    w = ChatZooWidget([_column("qwen", tiny_chat_dir, "chat"), {"name": "remote", "url": server.base}])
    try:
        assert w.wait(30)
        w.manager.get("qwen").load.result()
        _conversation(w, {"qwen": "I am fine, thanks.", "remote": "Hello there friend."})
        df = w.cross_scores()
        assert list(df.columns) == ["qwen", "remote"] and df.loc["qwen"].notna().all()
        if not speaks_vllm:
            assert df.attrs["cannot_score"]["remote"] == NO_PROMPT_LOGPROBS.format(url=server.base)
            assert df.loc["remote"].isna().all()
            return
        # the reply is the prompt's last tokens: "I", " am", " fine,", " thanks." at -0.5 per character
        assert df.attrs["tokens"].loc["remote", "qwen"] == 4
        assert df.attrs["total"].loc["remote", "qwen"] == pytest.approx(-0.5 * len("I am fine, thanks."))
        assert df.attrs["retokenised"].loc["remote", "qwen"] is True
        sent = next(b for b in server.bodies if b["messages"][-1]["content"] == "I am fine, thanks.")
        assert sent["messages"][-2:] == [{"role": "user", "content": PROMPT},
                                         {"role": "assistant", "content": "I am fine, thanks."}]
        assert sent["prompt_logprobs"] == 0 and sent["continue_final_message"] is True
        assert sent["add_generation_prompt"] is False
        disputed = df.attrs["disputed"]["qwen"]  # compared by characters with the local model's tokens
        assert disputed and all(set(d["logprobs"]) == {"qwen", "remote"} for d in disputed)
        assert all(d["logprobs"]["remote"] == pytest.approx(-0.5 * len(d["text"])) for d in disputed
                   if d["text"] in ("I", "am", "fine,", "thanks."))  # a whole word: its own token's log-prob
    finally:
        w.close()
        server.close()


def test_align_tail_finds_the_reply_in_the_prompts_last_tokens():
    from chatzoo_widget.compare.remote_scoring import align_tail

    tokens = [("<assistant>", -1.0), ("\n", -0.1), ("Hi", -2.0), (" there", -3.0)]
    assert align_tail(tokens, "Hi there") == ([(0, 2), (2, 8)], [-2.0, -3.0])
    assert align_tail(tokens, "  Hi there\n") == ([(2, 4), (4, 10)], [-2.0, -3.0])
    assert align_tail(tokens, "Bye") is None


def test_a_column_served_by_our_server_scores_as_the_same_model_does_locally(tiny_chat_dir):
    """Our server answers vLLM's prompt_logprobs: a column it serves scores every reply, as its model does locally."""
    from chatzoo_widget.registry import load_bot
    from test_server_support import LiveServer

    served = load_bot(tiny_chat_dir, type="chat", name="served", compile=False)
    with LiveServer(served, model_name="zoo-model") as srv:
        w = ChatZooWidget([_column("qwen", tiny_chat_dir, "chat"), {"name": "ours", "url": srv.base}])
        try:
            assert w.wait(30)
            w.manager.get("qwen").load.result()
            _conversation(w, {"qwen": "I am fine, thanks.", "ours": "Hello there friend."})
            df = w.cross_scores()
            assert "ours" not in df.attrs["cannot_score"]
            assert list(df.index) == ["qwen", "ours"] and df.notna().all().all()
            # the same model and prompt format: the served row equals the local one
            for attr in ("total", "tokens"):
                assert df.attrs[attr].loc["ours"].tolist() == pytest.approx(df.attrs[attr].loc["qwen"].tolist(),
                                                                           abs=1e-3)
            assert df.loc["ours"].tolist() == pytest.approx(df.loc["qwen"].tolist(), abs=1e-4)
            assert df.attrs["total"].loc["ours", "ours"] == pytest.approx(
                sum(_alone(served, [{"role": "HUMAN", "content": PROMPT}], "Hello there friend.")), abs=1e-3)
        finally:
            w.close()
            served.close()


def test_a_server_whose_model_cannot_score_says_so(tiny_chat_dir):
    from test_server_support import LiveServer, RecordingBOT

    with LiveServer(RecordingBOT(name="scripted"), model_name="zoo-model") as srv:
        w = ChatZooWidget([_column("qwen", tiny_chat_dir, "chat"), {"name": "ours", "url": srv.base}])
        try:
            assert w.wait(30)
            _conversation(w, {"qwen": "I am fine, thanks.", "ours": "Hello there friend."})
            df = w.cross_scores()
            why = df.attrs["cannot_score"]["ours"]  # a 400 with the server's reason
            assert why.startswith("cannot score: the server refused vLLM's prompt_logprobs")
            assert "cannot continue an assistant message" in why
            assert df.loc["qwen"].notna().all()  # its reply is still scored by the local model
        finally:
            w.close()