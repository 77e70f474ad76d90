"""Smoke tests in Jupyter Notebook 7 (not only JupyterLab): render, send, stream, stop, settings.

Same driving as the JupyterLab tests (conftest: `jupyter_server` is overridden here); ScriptedBOT columns only.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from test_widget_browser import SETUP, bot_messages, column, columns, stats_of, type_prompt, wait_ready, widget, words

pytestmark = pytest.mark.browser


@pytest.fixture
def jupyter_server(notebook7_server):
    return notebook7_server


@pytest.mark.timeout(120, method="signal")
def test_notebook7_renders_sends_and_streams(open_notebook):
    script = " ".join(f"n{i}" for i in range(12))
    page = open_notebook([SETUP, "w = ChatZooWidget([ScriptedBOT('left', reply=%r, delay=0.1), "
                                 "ScriptedBOT('right', reply='short answer')])\nw" % script])
    assert "/notebooks/" in page.url  # Notebook 7's page, not JupyterLab's
    expect(columns(page)).to_have_count(2, timeout=10_000)
    left, right = column(page, "left"), column(page, "right")
    wait_ready(left, 15_000)
    wait_ready(right, 15_000)

    type_prompt(page, "hello notebook 7")
    expect(left.locator("[data-testid=reply-streaming]")).to_contain_text("n2", timeout=10_000)  # streaming
    expect(bot_messages(left)).to_have_text([script], timeout=20_000)
    expect(bot_messages(right)).to_have_text(["short answer"], timeout=20_000)
    expect(stats_of(left)).to_contain_text(re.compile(r"\b12\s*(new\s*)?tok"), timeout=5_000)


@pytest.mark.timeout(120, method="signal")
def test_notebook7_stop_and_settings(open_notebook):
    slow = " ".join(f"w{i}" for i in range(100))
    page = open_notebook([SETUP, "w = ChatZooWidget([ScriptedBOT('slow', reply=%r, delay=0.2)])\nw" % slow])
    col = column(page, "slow")
    wait_ready(col, 15_000)

    type_prompt(page, "talk for a while")
    expect(col.locator("[data-testid=reply-streaming]")).to_contain_text("w3", timeout=10_000)
    widget(page).locator("[data-testid=stop-all]").click()
    wait_ready(col, 8_000)
    assert 4 <= len(words(bot_messages(col).first.inner_text())) < 100

    col.locator("[data-testid=settings-toggle]").click()
    box = col.locator("[data-testid=setting][data-name=max_new_tokens] [data-testid=setting-value]")
    expect(box).to_be_visible(timeout=5_000)
    box.fill("3")
    box.press("Enter")
    expect(box).to_have_value("3", timeout=5_000)
    type_prompt(page, "again")
    expect(bot_messages(col)).to_have_count(2, timeout=20_000)
    expect(bot_messages(col).nth(1)).to_have_text("w0 w1 w2", timeout=20_000)
