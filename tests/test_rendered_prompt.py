"""The rendered prompt: every reply records the exact text its model received and its token count, in the
history entry, the table and the exports; a remote column records the messages it sent. While an arena is blind
the prompts stay in the kernel (their format would give the models away)."""

from __future__ import annotations

import json

import pytest

from chatzoo_widget import ChatZooWidget
from chatzoo_widget.compare import to_dataframe
from chatzoo_widget.manager import ChatManager
from chatzoo_widget.registry import load_bot
from chatzoo_widget.testing import ScriptedBOT, command

Q = [{"role": "HUMAN", "content": "q1"}, {"role": "BOT", "content": "a1"}, {"role": "HUMAN", "content": "q2"}]
GODEL_INSTRUCTION = "Instruction: given a dialog context, you need to response empathically."


def rendered(bot, query=Q, **settings):
    stream = bot.stream(query, max_new_tokens=2, do_sample=False, **settings)
    stream.consume()
    return stream.stats


def test_a_chat_model_receives_exactly_its_chat_template(tiny_bot):
    stats = rendered(tiny_bot, system_prompt="Be brief.")
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "q1"},
                {"role": "assistant", "content": "a1"}, {"role": "user", "content": "q2"}]
    expected = tiny_bot.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert stats.rendered_prompt == expected
    assert stats.prompt_tokens == len(tiny_bot.tokenizer(expected, add_special_tokens=False)["input_ids"])
    assert "rendered_prompt" not in stats.to_dict()  # statistics stay small; the entry holds the prompt


@pytest.fixture(scope="module")
def family_bots(tiny_moss_dir, tiny_godel_dir):
    return {"moss": load_bot(tiny_moss_dir, type="moss"), "godel": load_bot(tiny_godel_dir, type="godel")}


def test_moss_prompt_follows_its_rule(family_bots):
    stats = rendered(family_bots["moss"], system_prompt="")
    assert stats.rendered_prompt == "<|Human|>: q1<eoh>\n<|MOSS|>: a1<eoa>\n<|Human|>: q2<eoh>\n<|MOSS|>:"


def test_godel_prompt_follows_its_rule_with_the_eos_its_tokenizer_adds(family_bots):
    bot = family_bots["godel"]
    stats = rendered(bot, knowledge="Paris is in France.")
    rule = f"{GODEL_INSTRUCTION} [CONTEXT] q1 EOS a1 EOS q2 [KNOWLEDGE] Paris is in France."
    assert stats.rendered_prompt == rule + bot.tokenizer.eos_token  # T5 appends </s>: it is part of what was sent
    ids = bot.tokenizer(rule)["input_ids"]
    assert stats.prompt_tokens == len(ids)


def test_dropped_turns_are_not_in_the_rendered_prompt(tiny_chat_dir):
    bot = load_bot(tiny_chat_dir, type="chat", name="short")
    long = [{"role": "HUMAN", "content": "old " * 40}, {"role": "BOT", "content": "reply " * 40},
            {"role": "HUMAN", "content": "newest question"}]
    bot.prompt_budget = lambda max_new_tokens: 40  # a small context: the long first exchange cannot fit
    stats = rendered(bot, long)
    assert stats.dropped_turns == 2
    assert stats.rendered_prompt == bot.tokenizer.apply_chat_template(
        [{"role": "user", "content": "newest question"}], add_generation_prompt=True, tokenize=False)


def test_history_entry_table_and_exports_hold_the_prompt(tmp_path):
    m = ChatManager()
    m.add({"name": "s", "model": ScriptedBOT("s")}, settings={"system_prompt": "Sys."})
    m.send("hello")
    m.wait()
    entry = m.get("s").history[-1]
    assert json.loads(entry["rendered_prompt"]) == [{"role": "SYSTEM", "content": "Sys."},
                                                    {"role": "HUMAN", "content": "hello"}]
    assert entry["prompt_tokens"] == entry["stats"]["prompt_tokens"] == 2
    df = to_dataframe(m)
    assert df.iloc[0].rendered_prompt == entry["rendered_prompt"]

    from chatzoo_widget.compare import export

    line = json.loads(export(tmp_path / "r.jsonl", m).read_text().splitlines()[0])
    assert line["rendered_prompt"] == entry["rendered_prompt"]
    doc = json.loads(export(tmp_path / "r.json", m).read_text())
    assert doc["columns"][0]["history"][-1]["rendered_prompt"] == entry["rendered_prompt"]
    assert "rendered_prompt" in export(tmp_path / "r.csv", m).read_text().splitlines()[0]


def test_arena_keeps_rendered_prompts_in_the_kernel_until_the_vote():
    w = ChatZooWidget([ScriptedBOT("alpha"), ScriptedBOT("beta")], arena=True, seed=1)
    try:
        w.send("hi", wait=True)
        w._sync()
        # what the column models sync (a reply's rendered prompt is fetched on demand, `entry_detail`)
        shown = [e for c in w.columns for e in c.get_state()["history"]["entries"] if e["role"] == "BOT"]
        assert shown and all(e["prompt_hidden"] and "rendered_prompt" not in e for e in shown)
        hidden = command(w, "entry_detail", column=w.columns[0]["id"], turn=0)["result"]
        assert hidden["rendered_prompt"] is None and hidden["prompt_hidden"]
        assert all(e.get("rendered_prompt") for e in w.entries["alpha"] if e["role"] == "BOT")  # Python sees it
        w.vote("Model A")
        shown = [e for c in w.columns for e in c.get_state()["history"]["entries"] if e["role"] == "BOT"]
        assert all(e["has_prompt"] and not e.get("prompt_hidden") for e in shown)
        revealed = command(w, "entry_detail", column=w.columns[0]["id"], turn=0)["result"]
        assert revealed["rendered_prompt"] and not revealed.get("prompt_hidden")
    finally:
        w.close()
