"""Thinking blocks: <think>...</think> (or a column's own tags) and a server's reasoning_content, kept apart from
the answer; the answer alone goes back to the model, the diff, the votes and the preference pairs."""

from __future__ import annotations

import json

import pytest

from chatzoo_widget.bots.remote import RemoteChatBOT
from chatzoo_widget.bots.thinking import ThinkingSplitter, check_tags, split_thinking
from chatzoo_widget.compare import VoteBook, preference_pairs, to_dataframe
from chatzoo_widget.frames import unpack
from chatzoo_widget.manager import ChatManager
from chatzoo_widget.testing import ScriptedBOT, wait_until
from test_server_support import FaultServer, chunk_json

REPLY = "<think>\nThe user wants a capital.\nFrance -> Paris.\n</think>\n\nParis is the capital."


def stream_parts(deltas, **kw):
    splitter = ThinkingSplitter(**kw)
    parts = [p for d in deltas for p in splitter.feed(d)] + splitter.finish()
    joined = {"reasoning": "", "answer": ""}
    for kind, text in parts:
        joined[kind] += text
    return joined, splitter.result()


@pytest.mark.parametrize("cut", range(1, len(REPLY)))
def test_a_tag_split_anywhere_across_two_deltas(cut):
    joined, split = stream_parts([REPLY[:cut], REPLY[cut:]])
    assert joined == {"reasoning": "The user wants a capital.\nFrance -> Paris.", "answer": "Paris is the capital."}
    assert split.reasoning == joined["reasoning"] and split.answer == joined["answer"] and not split.unfinished


def test_one_character_at_a_time_never_shows_half_a_tag():
    splitter = ThinkingSplitter()
    for ch in REPLY:
        for kind, text in splitter.feed(ch):
            assert "<" not in text and "think>" not in text, (kind, text)
    splitter.finish()
    assert splitter.answer == "Paris is the capital."


def test_unclosed_block_is_thinking_marked_unfinished():
    joined, split = stream_parts(["<think>I am still ", "thinking about"])
    assert joined == {"reasoning": "I am still thinking about", "answer": ""}
    assert split.unfinished


def test_only_a_leading_block_counts_and_plain_replies_pass_whole():
    assert split_thinking("Use the <think> tag like this: <think>x</think>").answer.startswith("Use the <think>")
    assert split_thinking("  plain reply").answer == "  plain reply"
    assert split_thinking("<th").answer == "<th"  # a reply that merely starts like a tag


def test_template_opened_block_and_a_close_without_open():
    assert stream_parts(["Reasoning here.</think>\n\nAnswer."], opened=True)[0] == {
        "reasoning": "Reasoning here.", "answer": "Answer."}
    split = split_thinking("Reasoning here.</think>\n\nAnswer.")  # DeepSeek-R1 behind a template we cannot see
    assert (split.reasoning, split.answer) == ("Reasoning here.", "Answer.")


def test_custom_tags_none_and_bad_tags():
    joined, _ = stream_parts(["<reasoning>why</reason", "ing>because"], tags=("<reasoning>", "</reasoning>"))
    assert joined == {"reasoning": "why", "answer": "because"}
    assert stream_parts([REPLY], tags=None)[0]["answer"] == REPLY
    for bad in ("<think>", ("<think>",), ("<t>", "<t>"), ("", "</t>"), (1, 2)):
        with pytest.raises(ValueError, match="think_tags"):
            check_tags(bad)


# ----- through the manager --------------------------------------------------------------------------------
def manager_with(*bots, **column_options):
    events = []
    m = ChatManager(on_event=events.append, flush_interval=0.005)
    for bot in bots:
        m.add({"name": bot.name, "model": bot, **column_options})
    return m, events


def test_history_keeps_answer_and_reasoning_and_the_model_gets_the_answer_back():
    bot = ScriptedBOT("r1", reply="<think> The user wants a capital. France -> Paris. </think> Paris is the capital.",
                      delay=0.001)
    m, events = manager_with(bot)
    m.send("capital?")
    m.wait()
    col = m.get("r1")
    entry = col.history[-1]
    assert entry["content"] == "Paris is the capital."
    assert entry["reasoning"] == "The user wants a capital. France -> Paris."
    assert "reasoning_unfinished" not in entry
    stats = entry["stats"]
    assert stats["reasoning_tokens"] == 10 and stats["new_tokens"] == 14  # the tags count: the model wrote them
    deltas = [e for e in unpack(events) if e["kind"] == "delta"]  # deltas come in frames
    thought = "".join(e["text"] for e in deltas if e.get("part") == "reasoning")
    answer = "".join(e["text"] for e in deltas if "part" not in e)
    assert thought == entry["reasoning"] and answer == entry["content"]
    end = next(e for e in events if e["kind"] == "turn_end")
    assert end["text"] == entry["content"] and end["reasoning"] == entry["reasoning"]

    m.send("and Spain?")
    m.wait()
    assert bot.prompts[-1][1] == {"role": "BOT", "content": "Paris is the capital."}  # the answer only


def test_a_column_can_keep_its_reasoning_and_change_its_tags():
    bot = ScriptedBOT("k", reply="<t> hmm </t> ok")
    m, _ = manager_with(bot, keep_reasoning=True, think_tags=["<t>", "</t>"])
    m.send("a")
    m.wait()
    assert m.get("k").history[-1]["content"] == "ok"
    m.send("b")
    m.wait()
    assert bot.prompts[-1][1]["content"] == "<t>\nhmm\n</t>\n\nok"
    m.set_thinking("k", think_tags=None)
    m.send("c")
    m.wait()
    assert m.get("k").history[-1]["content"] == "<t> hmm </t> ok"
    with pytest.raises(ValueError, match="think_tags"):
        m.add({"model": ScriptedBOT("bad"), "think_tags": "<think>"})
    with pytest.raises(ValueError, match="keep_reasoning"):
        m.set_thinking("k", keep_reasoning="yes")


def test_stopped_while_thinking_is_unfinished_and_nothing_is_lost():
    bot = ScriptedBOT("slow", reply="<think> " + "step " * 200 + "</think> done", delay=0.01)
    m, _ = manager_with(bot)
    m.send("go")
    assert wait_until(lambda: "step" in (m.get("slow").turn.reasoning if m.get("slow").turn else ""))
    m.stop()
    m.wait()
    entry = m.get("slow").history[-1]
    assert entry["content"] == "" and entry["reasoning"].startswith("step")
    assert entry["reasoning_unfinished"] is True and entry["stats"]["finish_reason"] == "cancelled"


def test_votes_tables_and_preference_pairs_use_the_answer():
    m, _ = manager_with(ScriptedBOT("a", reply="<think> secret plan </think> Answer A"),
                        ScriptedBOT("b", reply="Answer B"))
    book = VoteBook(m)
    m.send("q")
    m.wait()
    vote = book.vote("a")
    assert [c["reply"] for c in vote["columns"]] == ["Answer A", "Answer B"]
    assert vote["columns"][0]["reasoning"] == "secret plan"
    rows = preference_pairs(book)
    assert rows[0]["chosen"] == [{"role": "assistant", "content": "Answer A"}]
    df = to_dataframe(m, book)
    a = df[df.column == "a"].iloc[0]
    assert a.reply == "Answer A" and a.reasoning == "secret plan" and a.reasoning_tokens == 4


# ----- a remote server's reasoning_content ------------------------------------------------------------------
def reasoning_chunk(text, key="reasoning_content"):
    body = json.loads(chunk_json())
    body["choices"][0]["delta"] = {key: text}
    return json.dumps(body)


async def reasoning_server(conn):
    await conn.start_sse()
    for piece in ("Let me ", "think."):
        await conn.send(f"data: {reasoning_chunk(piece)}\n\n")
    await conn.send(f"data: {reasoning_chunk(' More.', key='reasoning')}\n\n")  # Ollama's name for it
    for piece in ("The ", "answer."):
        await conn.send(f"data: {chunk_json(piece)}\n\n")
    usage = {"prompt_tokens": 5, "completion_tokens": 9, "completion_tokens_details": {"reasoning_tokens": 6}}
    await conn.send(f"data: {chunk_json(finish='stop', usage=usage)}\n\ndata: [DONE]\n\n")
    await conn.end()


def test_remote_reasoning_content_is_thinking_and_the_prompt_is_the_messages_sent():
    with FaultServer({"think": reasoning_server}) as server:
        bot = RemoteChatBOT(server.base("think"), model="r1")
        stream = bot.stream([{"role": "HUMAN", "content": "hi"}], system_prompt="Be brief.")
        deltas = list(stream)
        assert stream.text == "The answer." and stream.reasoning == "Let me think. More."
        assert "".join(deltas) == "Let me think. More.The answer."
        assert stream.stats.reasoning_tokens == 6 and stream.stats.new_tokens == 9
        assert json.loads(stream.stats.rendered_prompt) == [{"role": "system", "content": "Be brief."},
                                                            {"role": "user", "content": "hi"}]

        m, events = manager_with(RemoteChatBOT(server.base("think"), model="r1", name="remote"))
        m.send("hi")
        m.wait()
        entry = m.get("remote").history[-1]
        assert entry["content"] == "The answer." and entry["reasoning"] == "Let me think. More."
        assert entry["stats"]["reasoning_tokens"] == 6
        assert json.loads(entry["rendered_prompt"]) == [{"role": "user", "content": "hi"}]
        assert any(e.get("part") == "reasoning" for e in unpack(events) if e["kind"] == "delta")
