"""A long prompt in a real browser: the column says it is reading the prompt (count and progress) until its first
token, and both Stops end the reply during that phase. JupyterLab + headless Chromium, see conftest.py."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from chatzoo_widget.testing.tiny_models import SENTENCES

pytestmark = pytest.mark.browser

WIDGET = "[data-testid=chatzoo]"
LONG_PROMPT = " ".join(SENTENCES[:7] * 8)  # about 1,500 tokens of the tiny tokenizer
READING = re.compile(r"^Reading the prompt: 1,\d{3} tokens \((\d+)%\)$")


def widget(page: Page) -> Locator:
    return page.locator(f".jp-OutputArea-output {WIDGET}").first


def send_long_prompt(page: Page) -> None:
    box = widget(page).locator("[data-testid=prompt]")
    box.fill(LONG_PROMPT)
    box.press("Enter")


def expect_reading_then_stop(col: Locator, stop: Locator, replies: int) -> None:
    line = col.locator("[data-testid=column-prefill]")
    expect(line).to_have_text(READING, timeout=30_000)
    first = line.inner_text()
    expect(line).not_to_have_text(first, timeout=30_000)  # the progress moves
    stop.click()
    expect(col).to_have_attribute("data-status", "ready", timeout=30_000)
    expect(line).to_have_count(0)
    bots = col.locator("[data-testid=message][data-role=BOT]")
    expect(bots).to_have_count(replies, timeout=10_000)
    expect(bots.last).to_have_text(re.compile(r"^\s*$"))  # ended before its first token
    expect(col.locator("[data-testid=stats]").last).to_contain_text(re.compile(r"0 tokens.*cancelled"))


@pytest.mark.timeout(240, method="signal")
def test_a_long_prompt_shows_the_reading_line_and_either_stop_ends_it(open_notebook, tiny_models):
    chat = str(tiny_models / "chat")
    page = open_notebook([
        "import os\nos.environ['HF_HUB_OFFLINE'] = '1'\nimport time\n"
        "from chatzoo_widget import ChatZooWidget\nfrom chatzoo_widget.registry import load_bot",
        # 8 prompt tokens per forward pass, each made 0.1 s slow: about 20 s to read the long prompt
        f"bot = load_bot({chat!r}, type='chat', name='slow-reader', prefill_chunk=8)\n"
        "bot.model.register_forward_pre_hook(lambda module, args, kwargs: time.sleep(0.1), with_kwargs=True)\n"
        "w = ChatZooWidget([bot], settings={'max_new_tokens': 4})\nw",
    ])
    col = widget(page).locator("[data-testid=column]").first
    expect(col).to_have_attribute("data-status", "ready", timeout=60_000)

    send_long_prompt(page)
    expect_reading_then_stop(col, col.locator("[data-testid=column-stop]"), replies=1)

    send_long_prompt(page)  # the same, stopped by the Stop of every column
    expect_reading_then_stop(col, widget(page).locator("[data-testid=stop-all]"), replies=2)
    expect(widget(page).locator("[data-testid=column-error]")).to_have_count(0)
