"""Token data in the widget's records (issue 21 item 5): entries, the DataFrame, the exports, batch runs."""

from __future__ import annotations

import json
import math

import pytest

from chatzoo_widget import ChatZooWidget
from chatzoo_widget.testing import ScriptedBOT

GREEDY = {"do_sample": False, "max_new_tokens": 8}


@pytest.fixture
def widget(tiny_bot):
    w = ChatZooWidget([{"name": "probs", "model": tiny_bot, "settings": {**GREEDY, "logprobs": True,
                                                                         "top_logprobs": 2}},
                       {"name": "plain", "model": tiny_bot, "settings": GREEDY},
                       {"name": "scripted", "model": ScriptedBOT("s"), "settings": {"logprobs": True}}])
    yield w
    w.close()


def test_entries_dataframe_and_json_export_carry_the_token_data(widget, tmp_path):
    widget.send("Hello there", wait=True)
    probs, plain, scripted = (widget.entries[name][-1] for name in ("probs", "plain", "scripted"))
    assert len(probs["tokens"]) == probs["stats"]["new_tokens"] == 8
    assert all(len(t["top_logprobs"]) == 2 for t in probs["tokens"])
    assert probs["stats"]["perplexity"] == pytest.approx(math.exp(-probs["stats"]["mean_logprob"]))
    assert "tokens" not in plain and plain["stats"]["perplexity"] is None
    assert "tokens" not in scripted and "no token probabilities" in scripted["logprobs_unavailable"]
    assert scripted["content"]  # the reply itself is there: unavailable is not an error

    df = widget.to_dataframe().set_index("column")
    assert df.loc["probs", "mean_logprob"] == pytest.approx(probs["stats"]["mean_logprob"])
    assert df.loc["probs", "perplexity"] == pytest.approx(probs["stats"]["perplexity"])
    assert df.loc["plain", "perplexity"] is None or math.isnan(df.loc["plain", "perplexity"])

    path = tmp_path / "run.json"
    widget.export(str(path))
    saved = json.loads(path.read_text(encoding="utf-8"))
    [column] = [c for c in saved["columns"] if c["name"] == "probs"]
    assert column["history"][-1]["tokens"] == probs["tokens"]
    again = ChatZooWidget.load(str(path), models=[ScriptedBOT(n) for n in ("probs", "plain", "scripted")])
    # the loader's checks accept the token records
    assert again.entries["probs"][-1]["tokens"] == probs["tokens"]
    again.close()


def test_batch_frames_have_mean_logprob_and_perplexity(widget):
    df = widget.run_batch(["Name three fruits."])
    row = df.set_index("column").loc["probs"]
    assert row["mean_logprob"] < 0 and row["perplexity"] == pytest.approx(math.exp(-row["mean_logprob"]))
