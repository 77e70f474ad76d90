"""ChatZoo Widget in a real browser: JupyterLab + headless Chromium, driven as a user would.

Selectors follow the DOM contract in js/README.md (data-testid names). Every notebook's first cell sets
HF_HUB_OFFLINE=1; models are tiny random folders (tiny_models fixture) or the model-free ScriptedBOT.
"""

from __future__ import annotations

import json
import re

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

LOAD_S = 60_000  # ms: a tiny model loads (torch + transformers import) well within this
REPLY_S = 30_000


# ----- helpers ----------------------------------------------------------------------------------------

def widget(page: Page) -> Locator:
    return page.locator(f".jp-OutputArea-output {WIDGET}").first


def columns(page: Page) -> Locator:
    return widget(page).locator("[data-testid=column]")


def column(page: Page, name: str) -> Locator:
    """The column whose name is exactly `name`."""
    exact = re.compile(rf"^\s*{re.escape(name)}\s*$")
    return columns(page).filter(has=page.locator("[data-testid=column-name]", has_text=exact))


def bot_messages(col: Locator) -> Locator:
    return col.locator("[data-testid=message][data-role=BOT]")


def human_messages(col: Locator) -> Locator:
    return col.locator("[data-testid=message][data-role=HUMAN]")


def wait_ready(col: Locator, timeout: int = LOAD_S) -> None:
    expect(col).to_have_attribute("data-status", "ready", timeout=timeout)


def type_prompt(page: Page, text: str) -> None:
    box = widget(page).locator("[data-testid=prompt]")
    box.fill(text)
    box.press("Enter")


def words(text: str) -> list[str]:
    return text.split()


def stats_of(col: Locator) -> Locator:
    return col.locator("[data-testid=stats]")


def stats_tokens(col: Locator) -> int:
    """New-token count on the column's last stats line (the number before "tok...")."""
    text = stats_of(col).last.inner_text()
    m = re.search(r"(\d+)\s*(?:new\s*)?tok", text)
    assert m, f"no token count on the stats line: {text!r}"
    return int(m.group(1))


# ----- tests ------------------------------------------------------------------------------------------

@pytest.mark.timeout(120, method="signal")
def test_two_tiny_model_columns_answer_a_typed_prompt(open_notebook, tiny_models):
    chat = str(tiny_models / "chat")
    page = open_notebook([
        SETUP,
        f"w = ChatZooWidget([{chat!r}, {{'name': 'tiny-two', 'model': {chat!r}, "
        "'settings': {'max_new_tokens': 8}}], settings={'max_new_tokens': 8})\nw",
    ])
    expect(columns(page)).to_have_count(2, timeout=10_000)
    for i in range(2):
        wait_ready(columns(page).nth(i))

    type_prompt(page, "Hello tiny models")

    for i in range(2):
        col = columns(page).nth(i)
        expect(human_messages(col)).to_have_text(["Hello tiny models"], timeout=REPLY_S)
        expect(bot_messages(col)).to_have_count(1, timeout=REPLY_S)
        wait_ready(col, REPLY_S)
        expect(bot_messages(col)).not_to_have_text([re.compile(r"^\s*$")])  # text arrived
        expect(stats_of(col)).to_contain_text(re.compile(r"\d+\s*(new\s*)?tok"), timeout=5_000)
        assert 1 <= stats_tokens(col) <= 8
    expect(widget(page).locator("[data-testid=column-error]")).to_have_count(0)


@pytest.mark.timeout(90, method="signal")
def test_stop_all_ends_a_streaming_reply_early(open_notebook):
    script = " ".join(f"w{i}" for i in range(100))  # 100 words at 0.2 s: about 20 s unless stopped
    page = open_notebook([SETUP, f"w = ChatZooWidget([ScriptedBOT('slow', reply={script!r}, delay=0.2)])\nw"])
    col = column(page, "slow")
    wait_ready(col, 15_000)

    type_prompt(page, "talk for a while")
    expect(col.locator("[data-testid=reply-streaming]")).to_contain_text("w3", timeout=10_000)
    expect(col).to_have_attribute("data-status", "generating")
    widget(page).locator("[data-testid=stop-all]").click()

    wait_ready(col, 8_000)  # far sooner than the ~17 s the script still had
    expect(bot_messages(col)).to_have_count(1, timeout=5_000)
    expect(col.locator("[data-testid=reply-streaming]")).to_have_count(0, timeout=5_000)
    reply = words(bot_messages(col).first.inner_text())
    assert reply[:4] == ["w0", "w1", "w2", "w3"], reply
    assert 4 <= len(reply) < 100, f"stop did not cut the reply: {len(reply)} words"
    # and it stays stopped: no more words arrive
    page.wait_for_timeout(1_000)
    assert words(bot_messages(col).first.inner_text()) == reply


@pytest.mark.timeout(90, method="signal")
def test_column_stop_stops_only_that_column(open_notebook):
    slow = " ".join(f"s{i}" for i in range(100))
    steady = " ".join(f"k{i}" for i in range(12))
    page = open_notebook([SETUP, "w = ChatZooWidget([ScriptedBOT('slow', reply=%r, delay=0.2), "
                                 "ScriptedBOT('steady', reply=%r, delay=0.15)])\nw" % (slow, steady)])
    slow_col, steady_col = column(page, "slow"), column(page, "steady")
    wait_ready(slow_col, 15_000)
    wait_ready(steady_col, 15_000)

    type_prompt(page, "go")
    expect(slow_col.locator("[data-testid=reply-streaming]")).to_contain_text("s2", timeout=10_000)
    slow_col.locator("[data-testid=column-stop]").click()

    wait_ready(slow_col, 8_000)
    expect(bot_messages(steady_col)).to_have_text([steady], timeout=REPLY_S)  # the other column went on
    assert len(words(bot_messages(slow_col).first.inner_text())) < 100


@pytest.mark.timeout(120, method="signal")
def test_max_new_tokens_set_in_the_settings_panel_limits_the_reply(open_notebook, tiny_models):
    chat = str(tiny_models / "chat")
    script = "alpha beta gamma delta epsilon zeta eta theta"
    page = open_notebook([
        SETUP,
        f"w = ChatZooWidget([ScriptedBOT('scripted', reply={script!r}), {{'name': 'tiny', 'model': {chat!r}, "
        "'settings': {'max_new_tokens': 20}}])\nw",
    ])
    for name in ("scripted", "tiny"):
        col = column(page, name)
        wait_ready(col)
        col.locator("[data-testid=settings-toggle]").click()
        row = col.locator("[data-testid=setting][data-name=max_new_tokens]")
        box = row.locator("[data-testid=setting-value]")
        expect(box).to_be_visible(timeout=5_000)
        box.fill("3")
        box.press("Enter")
        expect(box).to_have_value("3", timeout=5_000)
        slider = row.locator("input[type=range]")
        if slider.count():
            expect(slider).to_have_value("3", timeout=5_000)
    # the kernel handles messages in order: the settings change lands before the prompt
    type_prompt(page, "count to ten")

    scripted, tiny = column(page, "scripted"), column(page, "tiny")
    expect(bot_messages(scripted)).to_have_text(["alpha beta gamma"], timeout=REPLY_S)  # ScriptedBOT: word = token
    expect(stats_of(scripted)).to_contain_text(re.compile(r"\b3\s*(new\s*)?tok"), timeout=5_000)
    expect(bot_messages(tiny)).to_have_count(1, timeout=REPLY_S)
    wait_ready(tiny, REPLY_S)
    # the tiny model is greedy and never starts with EOS: it fills the budget exactly
    expect(stats_of(tiny)).to_contain_text(re.compile(r"\b3\s*tok"), timeout=5_000)
    expect(stats_of(tiny)).to_contain_text("length")
    expect(widget(page).locator("[data-testid=notice]")).to_have_text(re.compile(r"^\s*$"))


@pytest.mark.timeout(120, method="signal")
def test_add_column_with_the_plus_form(open_notebook, tiny_models):
    chat = str(tiny_models / "chat")
    page = open_notebook([SETUP, "w = ChatZooWidget([ScriptedBOT('first')], settings={'max_new_tokens': 6})\nw"])
    wait_ready(column(page, "first"), 15_000)
    expect(columns(page)).to_have_count(1)

    root = widget(page)
    root.locator("[data-testid=add-toggle]").click()
    root.locator("[data-testid=add-name]").fill("added-tiny")
    root.locator("[data-testid=add-model]").fill(chat)
    root.locator("[data-testid=add-submit]").click()

    expect(columns(page)).to_have_count(2, timeout=10_000)
    added = column(page, "added-tiny")
    expect(added).to_have_count(1, timeout=10_000)
    wait_ready(added)
    expect(added.locator("[data-testid=column-error]")).to_have_count(0)

    type_prompt(page, "hi both")
    expect(bot_messages(column(page, "first"))).to_have_text(["Reply 1 to: hi both"], timeout=REPLY_S)
    expect(human_messages(added)).to_have_text(["hi both"], timeout=REPLY_S)
    expect(bot_messages(added)).to_have_count(1, timeout=REPLY_S)
    wait_ready(added, REPLY_S)
    expect(stats_of(added)).to_contain_text(re.compile(r"\d+\s*(new\s*)?tok"), timeout=5_000)


@pytest.mark.timeout(90, method="signal")
def test_bad_model_error_stays_in_its_own_column(open_notebook):
    page = open_notebook([SETUP, "w = ChatZooWidget([{'name': 'broken', 'model': '/no/such/model'}, "
                                 "ScriptedBOT('good')])\nw"])
    broken, good = column(page, "broken"), column(page, "good")
    expect(broken).to_have_attribute("data-status", "error", timeout=LOAD_S)
    err = broken.locator("[data-testid=column-error]")
    expect(err).to_be_visible(timeout=5_000)
    expect(err).to_contain_text(re.compile(r"\S"))
    expect(err).to_contain_text("/no/such/model")  # the message names what failed to load
    wait_ready(good, 15_000)

    type_prompt(page, "anyone there?")
    expect(bot_messages(good)).to_have_text(["Reply 1 to: anyone there?"], timeout=REPLY_S)
    expect(good.locator("[data-testid=column-error]")).to_have_count(0)
    expect(bot_messages(broken)).to_have_count(0)
    expect(broken).to_have_attribute("data-status", "error")


XSS_REPLY = '<img src=x onerror="window.__pwned=1"> <script>window.__pwned=2</script> done'


@pytest.mark.timeout(90, method="signal")
def test_html_in_replies_names_and_prompts_is_inert(open_notebook):
    page = open_notebook([
        SETUP,
        f"w = ChatZooWidget([ScriptedBOT('xss', reply={XSS_REPLY!r}, delay=0.05), "
        "{'name': '<img src=y onerror=\"window.__pwned=3\">', 'model': ScriptedBOT('echo')}])\nw",
    ])
    xss = column(page, "xss")
    wait_ready(xss, 15_000)
    expect(columns(page)).to_have_count(2)
    for i in range(2):
        wait_ready(columns(page).nth(i), 15_000)
    # the HTML column name shows as text
    expect(columns(page).nth(1).locator("[data-testid=column-name]")).to_contain_text("<img src=y")

    type_prompt(page, '<img src=z onerror="window.__pwned=4"> hi')  # the echo bot repeats the prompt

    expect(bot_messages(xss)).to_have_count(1, timeout=REPLY_S)
    expect(bot_messages(xss)).to_contain_text(["done"])
    echo = columns(page).nth(1)
    expect(bot_messages(echo)).to_contain_text(["hi"], timeout=REPLY_S)
    for i in range(2):
        wait_ready(columns(page).nth(i), REPLY_S)

    page.wait_for_timeout(500)  # give an <img onerror> (if one slipped through) time to fire
    assert page.evaluate("() => window.__pwned") is None
    root = widget(page)
    expect(root.locator("script")).to_have_count(0)
    expect(root.locator("[onerror]")).to_have_count(0)
    expect(root.locator("iframe, object, embed")).to_have_count(0)
    # the user's prompt is shown as typed, never as markup
    expect(human_messages(xss)).to_contain_text(['<img src=z onerror="window.__pwned=4"> hi'])
    # the script text is either shown literally or dropped, never run
    text = bot_messages(xss).first.inner_text()
    assert text.strip().endswith("done"), text
    assert "window.__pwned=2" in text or "script" not in text.lower(), text


@pytest.mark.timeout(90, method="signal")
def test_prompt_sent_from_python_shows_as_if_typed(open_notebook):
    page = open_notebook([
        SETUP,
        "w = ChatZooWidget([ScriptedBOT('left'), ScriptedBOT('right', reply='right says hi')])\nw",
        "w.wait(30)\nw.send('hello from python')",
    ])
    left, right = column(page, "left"), column(page, "right")
    for col in (left, right):
        expect(human_messages(col)).to_have_text(["hello from python"], timeout=REPLY_S)
    expect(bot_messages(left)).to_have_text(["Reply 1 to: hello from python"], timeout=REPLY_S)
    expect(bot_messages(right)).to_have_text(["right says hi"], timeout=REPLY_S)
    wait_ready(left, REPLY_S)
    wait_ready(right, REPLY_S)

    # then the keyboard: Enter on an empty box sends nothing and says why; typing clears that notice
    box = widget(page).locator("[data-testid=prompt]")
    notice = widget(page).locator("[data-testid=prompt-notice]")  # beside the prompt box
    box.press("Enter")
    expect(notice).to_have_text("Type a prompt first", timeout=5_000)
    expect(human_messages(left)).to_have_count(1)
    box.type("typed prompt")
    expect(notice).to_have_text("")
    box.press("Enter")
    expect(box).to_have_value("", timeout=5_000)
    expect(human_messages(right)).to_have_text(["hello from python", "typed prompt"], timeout=REPLY_S)
    expect(bot_messages(left).nth(1)).to_have_text("Reply 2 to: typed prompt", timeout=REPLY_S)


@pytest.mark.timeout(90, method="signal")
def test_text_boxes_take_new_lines_inside_jupyterlab(open_notebook):
    """Shift+Enter in the prompt and Enter in the system prompt add a line (JupyterLab must not swallow them)."""
    page = open_notebook([SETUP, "w = ChatZooWidget([ScriptedBOT('echo')])\nw"])
    echo = column(page, "echo")
    wait_ready(echo, 15_000)

    system = widget(page).locator("[data-testid=system-prompt]")
    system.click()
    system.type("be brief")
    system.press("Enter")
    system.type("be kind")
    expect(system).to_have_value("be brief\nbe kind")

    box = widget(page).locator("[data-testid=prompt]")
    box.click()
    box.type("first line")
    box.press("Shift+Enter")
    box.type("second line")
    expect(box).to_have_value("first line\nsecond line")
    expect(human_messages(echo)).to_have_count(0)
    box.press("Enter")
    expect(human_messages(echo)).to_have_count(1, timeout=REPLY_S)
    expect(human_messages(echo)).to_contain_text(["first line"])
    expect(human_messages(echo)).to_contain_text(["second line"])

NOTEBOOK_OUTPUTS_JS = """() => Array.from(window.jupyterapp.shell.currentWidget.content.model.cells)
  .map(c => c.type === 'code' ? c.outputs.toJSON() : [])"""


@pytest.mark.timeout(120, method="signal")
def test_loading_models_writes_nothing_but_the_widget_into_the_notebook(open_notebook, tiny_models):
    """Models load in worker threads: progress and warnings belong in the column, not in cell outputs (a
    thread's output lands in whichever cell is current)."""
    chat = str(tiny_models / "chat")
    page = open_notebook([SETUP, f"w = ChatZooWidget([{chat!r}], settings={{'max_new_tokens': 4}})\nw"])
    col = columns(page).first
    wait_ready(col)
    type_prompt(page, "hello")
    expect(bot_messages(col)).to_have_count(1, timeout=REPLY_S)
    wait_ready(col, REPLY_S)

    outputs = page.evaluate(NOTEBOOK_OUTPUTS_JS)
    # the widget's own outputs: its view, and its static snapshot (chatzoo_widget/report/snapshot.py)
    stray = [(i, o) for i, cell in enumerate(outputs) for o in cell
             if not (o.get("output_type") in ("execute_result", "display_data")
                     and ("application/vnd.jupyter.widget-view+json" in o.get("data", {})
                          or "chatzoo-snapshot" in "".join(o.get("data", {}).get("text/html", ""))))]
    assert not stray, "output other than the widget landed in the notebook:\n" + "\n".join(
        f"cell {i}: {o.get('output_type')} {json.dumps(o.get('data') or o.get('text'))[:300]}" for i, o in stray)
