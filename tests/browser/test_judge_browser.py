"""LLM judges in a real browser: the Judge control, the verdicts with their rationales, agreement with a vote, the
leaderboard's source switch, and judging while blind (labels only). Model-free scripted bots and judges.

JupyterLab + headless Chromium through the fixtures of conftest.py; selectors follow js/README.md's DOM contract.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from test_compare_browser import REPLY_MS, bot_messages, column, columns, kernel_json, tid, type_prompt, widget

pytestmark = pytest.mark.browser

SETUP = """\
import os, re
os.environ["HF_HUB_OFFLINE"] = "1"
from chatzoo_widget import ChatZooWidget, register_model
from chatzoo_widget.testing import ScriptedBOT

ANSWER = re.compile(r"\\[The Start of Assistant ([AB])'s Answer\\]\\n(.*?)\\n\\[The End", re.S)

def prefer_marker(query):
    found = [k for k, text in ANSWER.findall(query[-1]["content"]) if "MARKER" in text]
    return f"Only one answer says MARKER. [[{found[0]}]]" if len(found) == 1 else "They are alike. [[C]]"

class MarkerJudge(ScriptedBOT):
    def __init__(self, path, name=None, **options):
        super().__init__(name or "marker-judge", reply=prefer_marker)

register_model("marker-judge", MarkerJudge, aliases={"marker-judge": "scripted"})
"""


@pytest.mark.timeout(90, method="signal")
def test_judge_control_verdicts_agreement_and_source_switch(open_notebook):
    page = open_notebook([SETUP, "w = ChatZooWidget([ScriptedBOT('alpha', reply='alpha plain'), "
                                 "ScriptedBOT('beta', reply='beta MARKER'), ScriptedBOT('gamma', reply='gamma plain')])\nw"])
    root = widget(page)
    expect(tid(root, "judge-verdicts")).to_be_hidden()
    type_prompt(page, "which is best?")
    for name in ("alpha", "beta", "gamma"):
        expect(bot_messages(column(page, name))).to_have_count(1, timeout=REPLY_MS)

    tid(root, "judge-run").click()  # nothing typed: a local notice, nothing sent
    expect(tid(root, "judge-notice")).to_contain_text("Pick a column")
    tid(root, "judge-input").fill("marker-judge")  # an alias, as a column would take it
    tid(root, "judge-run").click()
    rows = tid(root, "judge-verdict")
    expect(rows).to_have_count(3, timeout=REPLY_MS)
    expect(tid(root, "judge-progress")).to_have_attribute("data-state", "done")
    expect(tid(root, "judge-progress")).to_contain_text("3 / 3 pairs")
    expect(tid(root, "judge-result")).to_have_text(["beta wins (both orders agree)", "Tie",
                                                     "beta wins (both orders agree)"])
    expect(rows.nth(0)).to_have_attribute("data-verdict", "b")
    rationale = tid(rows.nth(0), "judge-rationale")
    expect(rationale.locator(".cz-judge-text").first).to_be_hidden()  # collapsed
    rationale.locator("summary").click()
    expect(rationale.locator(".cz-judge-text").first).to_have_text("Only one answer says MARKER. [[B]]")
    expect(rationale).to_contain_text("Order B/A: Assistant A = beta, Assistant B = alpha · verdict [[A]]")

    # the leaderboard from the judge's verdicts, and the switch between sources
    switch = tid(root, "leaderboard-source")
    expect(switch).to_be_visible()
    expect(switch).to_have_attribute("data-source", "judge")
    expect(tid(root, "leaderboard-row").first).to_have_attribute("data-contestant", "beta")
    root.locator("[data-testid=vote-choice][data-choice=alpha]").click()  # the person disagrees
    expect(switch).to_have_attribute("data-source", "votes", timeout=10_000)
    expect(tid(root, "leaderboard-row").first).to_have_attribute("data-contestant", "alpha")
    switch.locator("[data-source=judge]").click()
    expect(switch).to_have_attribute("data-source", "judge", timeout=10_000)
    expect(tid(root, "leaderboard-row").first).to_have_attribute("data-contestant", "beta")
    switch.locator("[data-source=both]").click()
    expect(switch.locator("[data-source=both]")).to_have_attribute("aria-pressed", "true", timeout=10_000)

    # agreement, once both a vote and verdicts exist
    agreement = tid(root, "judge-agreement")
    expect(agreement).to_be_visible()
    expect(agreement).to_have_attribute("data-n", "2")  # alpha beats beta and gamma; the judge says otherwise
    expect(tid(root, "judge-agreement-text")).to_contain_text("2 pairs judged by you and the judge")
    result = kernel_json(page, "{k: v for k, v in w.agreement().items() if k != 'confusion'}")
    assert result["n"] == 2 and result["position_bias"] == 0.0
    assert kernel_json(page, "[j['verdict'] for j in w.judgments]") == ["beta", "tie", "beta"]


@pytest.mark.timeout(90, method="signal")
def test_judging_while_blind_shows_labels_only_and_stop_works(open_notebook):
    page = open_notebook([
        SETUP,
        "w = ChatZooWidget([ScriptedBOT('secret-alpha', reply='MARKER here'), "
        "ScriptedBOT('secret-beta', reply='nothing here')], arena=True, seed=3)\nw",
    ])
    root = widget(page)
    expect(columns(page)).to_have_count(2, timeout=10_000)
    type_prompt(page, "hi")
    for i in range(2):
        expect(bot_messages(columns(page).nth(i))).to_have_count(1, timeout=REPLY_MS)
    tid(root, "judge-input").fill("marker-judge")
    tid(root, "judge-input").press("Enter")
    verdict = tid(root, "judge-verdict")
    expect(verdict).to_have_count(1, timeout=REPLY_MS)
    winner = column(page, "Model A") if "MARKER" in bot_messages(column(page, "Model A")).first.inner_text() \
        else column(page, "Model B")
    label = tid(winner, "column-name").inner_text().strip()
    expect(tid(root, "judge-result")).to_have_text(f"{label} wins (both orders agree)")
    expect(tid(root, "arena-badge")).to_have_attribute("data-state", "blind")  # judging revealed nothing
    tid(verdict, "judge-rationale").locator("summary").click()
    assert "secret" not in root.inner_text() and "secret" not in root.inner_html()  # (the cell's code names them)
    expect(tid(root, "leaderboard")).to_be_hidden()  # the blind turn's verdicts would name the models

    # Stop ends a slow judge
    kernel_json(page, "bool(register_model('slow-judge', lambda path, **o: ScriptedBOT('slow', "
                      "reply='w ' * 300 + '[[A]]', delay=0.02), aliases={'slow-judge': 'x'}))")
    tid(root, "judge-input").fill("slow-judge")
    tid(root, "judge-run").click()
    expect(tid(root, "judge-progress")).to_have_attribute("data-state", "running", timeout=10_000)
    tid(root, "judge-stop").click()
    expect(tid(root, "judge-progress")).to_have_attribute("data-state", "stopped", timeout=10_000)
    assert kernel_json(page, "len(w.judgments)") == 1
