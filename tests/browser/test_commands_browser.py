"""Commands with answers in a real browser: one widget shown in two cells (two views of one model).

Each browser action is a command whose answer carries the id its view made: an error shows in the view that
acted and nowhere else, a refused prompt stays in its box, and one click on Download saves one file however many
views are open. JupyterLab + headless Chromium through conftest.py; model-free ScriptedBOT columns only.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Locator, Page, expect

pytestmark = pytest.mark.browser

WIDGET = "[data-testid=chatzoo]"
SETUP = """\
import os
os.environ["HF_HUB_OFFLINE"] = "1"
from chatzoo_widget import ChatZooWidget
from chatzoo_widget.testing import ScriptedBOT
"""


def views(page: Page) -> tuple[Locator, Locator]:
    shown = page.locator(f".jp-OutputArea-output {WIDGET}")
    expect(shown).to_have_count(2)
    return shown.nth(0), shown.nth(1)


def tid(scope: Locator, testid: str) -> Locator:
    return scope.locator(f"[data-testid={testid}]")


@pytest.mark.timeout(90, method="signal")
def test_a_failing_command_shows_its_error_in_the_view_that_sent_it(open_notebook):
    page = open_notebook([SETUP, "w = ChatZooWidget([ScriptedBOT('alpha', reply='alpha answers')])\nw", "w"])
    left, right = views(page)
    expect(tid(left, "column-status")).to_have_text("ready")
    # Regenerate before any prompt: Python refuses, and says so in this view's notice line only
    tid(left, "regenerate").click()
    expect(tid(left, "notice")).to_contain_text("regenerate")
    expect(tid(right, "notice")).to_be_hidden()  # the answer reached this view too, and was not its own
    # asked for from the other view, the refusal shows there too
    tid(right, "regenerate").click()
    expect(tid(right, "notice")).to_contain_text("regenerate")


@pytest.mark.timeout(90, method="signal")
def test_a_refused_prompt_stays_in_the_box_with_the_reason(open_notebook):
    page = open_notebook([SETUP, "w = ChatZooWidget([])\nw", "w"])
    left, right = views(page)
    box = tid(left, "prompt")
    box.fill("Is anyone there?")
    box.press("Enter")
    # no column can answer: Python refuses; the prompt is kept for when a model is added
    expect(tid(left, "prompt-notice")).to_contain_text("no column can answer")
    expect(box).to_have_value("Is anyone there?")
    expect(tid(right, "prompt-notice")).to_be_hidden()
    expect(tid(left, "notice")).to_be_hidden()  # shown by the prompt box, not in the toolbar's line


@pytest.mark.timeout(90, method="signal")
def test_an_accepted_prompt_clears_only_its_own_box(open_notebook):
    page = open_notebook([SETUP, "w = ChatZooWidget([ScriptedBOT('alpha', reply='alpha answers')])\nw", "w"])
    left, right = views(page)
    expect(tid(left, "column-status")).to_have_text("ready")
    tid(right, "prompt").fill("half-typed on the right")
    tid(left, "prompt").fill("hello")
    tid(left, "prompt").press("Enter")
    expect(tid(left, "prompt")).to_have_value("")
    expect(tid(right, "message").filter(has_text="alpha answers")).to_have_count(1)  # both views show the reply
    expect(tid(right, "prompt")).to_have_value("half-typed on the right")


@pytest.mark.timeout(90, method="signal")
def test_one_click_on_download_saves_one_file_with_two_views_open(open_notebook):
    page = open_notebook([SETUP, "w = ChatZooWidget([ScriptedBOT('alpha', reply='alpha answers')])\nw", "w"])
    left, right = views(page)
    downloads = []
    page.on("download", lambda d: downloads.append((d.suggested_filename, d)))
    with page.expect_download() as first:
        tid(left, "download").click()
    assert first.value.suggested_filename == "chatzoo-comparison.json"
    # A second click, in the other view: its answer comes after any copy of the first one could have,
    # so once it is saved every download the two clicks caused has happened.
    with page.expect_download():
        tid(right, "download").click()
    assert [name for name, _ in downloads] == ["chatzoo-comparison.json"] * 2
    document = first.value.path().read_text()
    assert '"format": "chatzoo-widget/comparison"' in document and "alpha" in document
