"""The Cross-scores panel (issue 21 item 3) in a real browser: the toggle scores the latest replies under every local
model and shows the matrix (scorer x reply) and each reply's most disputed tokens; a column that cannot score says
why. JupyterLab + headless Chromium through conftest.py's fixtures; two tiny random models of different
architectures and tokenizers (Qwen2, Bloom) and a ScriptedBOT."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from test_compare_browser import kernel_json, tid, widget

pytestmark = pytest.mark.browser


def _column(name: str, folder, family: str) -> str:
    return (f"{{'name': {name!r}, 'model': {str(folder)!r}, 'type': {family!r}, "
            "'load_options': {'compile': False, 'dtype': 'float32'}, "
            "'settings': {'max_new_tokens': 8, 'do_sample': False}}")


@pytest.mark.timeout(180, method="signal")
def test_the_panel_shows_every_model_scoring_every_reply(open_notebook, tiny_models, tiny_firefly_dir):
    setup = ("import os\nos.environ['HF_HUB_OFFLINE'] = '1'\nfrom chatzoo_widget import ChatZooWidget\n"
             "from chatzoo_widget.testing import ScriptedBOT\n")
    page = open_notebook([setup, f"w = ChatZooWidget([{_column('qwen', tiny_models / 'chat', 'chat')}, "
                                 f"{_column('bloom', tiny_firefly_dir, 'firefly')}, "
                                 "ScriptedBOT('script', reply='A scripted reply.')])\nw"])
    root = widget(page)
    for status in tid(root, "column-status").all():
        expect(status).to_have_text("ready", timeout=60_000)
    toggle = tid(root, "cross-scores-toggle")
    toggle.click()  # nothing said yet: the reason shows in the panel, nothing is scored
    expect(tid(root, "cross-scores-notice")).to_contain_text("nothing to score yet")

    box = tid(root, "prompt")
    box.fill("Hello, how are you today?")
    box.press("Enter")
    expect(root.locator(".cz-history [data-testid=message][data-role=BOT]")).to_have_count(3, timeout=30_000)
    expect(root).to_have_attribute("data-busy", "false", timeout=30_000)

    toggle.click()
    panel = tid(root, "cross-scores")
    cells = tid(panel, "cross-scores-cell")
    expect(cells).to_have_count(6, timeout=60_000)  # 2 scoring models x 3 replies
    expect(tid(panel, "cross-scores-status")).to_contain_text("Turn 1")
    expect(tid(panel, "cross-scores-cannot")).to_contain_text("cannot score: ScriptedBOT has no local model")

    # the numbers are the kernel's: w.cross_scores() gives the same matrix
    matrix = kernel_json(page, "w.cross_scores().loc[['qwen', 'bloom']].to_dict()")
    for cell in cells.all():
        scorer, reply = cell.get_attribute("data-scorer"), cell.get_attribute("data-reply")
        assert cell.inner_text() == f"{matrix[reply][scorer]:.2f}"
        assert re.search(r"total -?\d+\.\d\d over \d+ tokens", cell.get_attribute("title"))
    retokenised = tid(panel, "cross-scores-cell").and_(page.locator("[data-scorer=bloom][data-reply=qwen]"))
    expect(retokenised).to_have_attribute("title", re.compile("re-tokenised by the scorer"))

    disputed = tid(panel, "cross-scores-disputed")
    expect(disputed).to_have_count(3)  # every reply scored by both models has its disputed tokens
    first = tid(disputed.first, "cross-scores-token").first
    assert re.fullmatch(r"qwen: -?\d+\.\d\d · bloom: -?\d+\.\d\d", first.get_attribute("title"))
