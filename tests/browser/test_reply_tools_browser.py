"""Reply tools (issue 12) in a real browser: the Prompt toggle, the Thinking block, Continue with this reply and
the edit pencil. JupyterLab + headless Chromium through conftest.py's fixtures; a tiny chat model for a real chat
template, model-free ScriptedBOT columns elsewhere. Selectors are the data-testid names of js/README.md."""

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
REPLY_MS = 20_000

KERNEL_EXEC_JS = """async (code) => {
  const k = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  const future = k.requestExecute({ code, store_history: false, silent: false });
  let out = "", err = "";
  future.onIOPub = (msg) => {
    const t = msg.header.msg_type;
    if (t === "stream") out += msg.content.text;
    else if (t === "error") err += msg.content.ename + ": " + msg.content.evalue;
  };
  await future.done;
  return { out, err };
}"""


def widget(page: Page) -> Locator:
    return page.locator(f".jp-OutputArea-output {WIDGET}").first


def tid(scope: Locator, testid: str) -> Locator:
    return scope.locator(f"[data-testid={testid}]")


def column(page: Page, name: str) -> Locator:
    exact = re.compile(rf"^\s*{re.escape(name)}\s*$")
    return tid(widget(page), "column").filter(has=page.locator("[data-testid=column-name]", has_text=exact))


def history_bots(col: Locator) -> Locator:
    return col.locator(".cz-history [data-testid=message][data-role=BOT]")


def type_prompt(page: Page, text: str) -> None:
    box = tid(widget(page), "prompt")
    box.fill(text)
    box.press("Enter")


def kernel_json(page: Page, expr: str):
    result = page.evaluate(KERNEL_EXEC_JS, f"import json as _json; print(_json.dumps({expr}))")
    assert not result["err"], result["err"]
    return json.loads(result["out"])


@pytest.mark.timeout(120, method="signal")
def test_prompt_toggle_shows_the_exact_chat_template_in_monospace(open_notebook, tiny_models):
    page = open_notebook([SETUP, f"w = ChatZooWidget([{{'name': 'tiny', 'model': {str(tiny_models / 'chat')!r}, "
                                 "'type': 'chat', 'settings': {'max_new_tokens': 4, 'do_sample': False}}], "
                                 "system_prompt='Be brief.')\nw"])
    col = column(page, "tiny")
    expect(tid(col, "column-status")).to_have_text("ready", timeout=60_000)
    type_prompt(page, "What is a zebra?")
    expect(history_bots(col)).to_have_count(1, timeout=REPLY_MS)
    toggle = tid(col, "prompt-toggle")
    expected = kernel_json(page, "w.entries['tiny'][-1]['rendered_prompt']")
    tokens = kernel_json(page, "w.entries['tiny'][-1]['prompt_tokens']")
    assert "<|im_start|>system\nBe brief.<|im_end|>" in expected and "What is a zebra?" in expected
    expect(toggle).to_have_text(f"Prompt · {tokens} tokens")
    prompt = tid(col, "rendered-prompt")
    expect(prompt).to_be_hidden()  # collapsed until asked for
    toggle.click()
    expect(prompt).to_be_visible()
    expect(prompt).not_to_have_text("Loading…")  # the rendered prompt is fetched when the block first opens
    assert prompt.evaluate("el => el.textContent") == expected
    assert "monospace" in prompt.evaluate("el => getComputedStyle(el).fontFamily").lower() or \
        prompt.evaluate("el => el.tagName") == "PRE"
    expect(prompt.locator(".cz-special-token").first).to_have_text("<|im_start|>")
    toggle.click()
    expect(prompt).to_be_hidden()


@pytest.mark.timeout(90, method="signal")
def test_thinking_block_streams_collapsed_above_the_answer(open_notebook):
    reply = "<think> weighing " + "the options carefully " * 6 + "</think> Paris is the capital."
    page = open_notebook([SETUP, f"w = ChatZooWidget([ScriptedBOT('thinker', reply={reply!r}, delay=0.12, "
                                 "first_delay=0.3)])\nw"])
    col = column(page, "thinker")
    type_prompt(page, "Capital of France?")
    block = tid(col, "thinking")
    expect(block).to_be_visible(timeout=REPLY_MS)
    expect(tid(col, "thinking-title")).to_have_text("Thinking…")  # live, while the model thinks
    expect(tid(col, "thinking-text")).to_be_hidden()  # collapsed
    tid(col, "thinking-toggle").click()  # opened mid-stream: stays open while it grows
    expect(tid(col, "thinking-text")).to_contain_text("the options carefully", timeout=REPLY_MS)
    expect(history_bots(col)).to_have_text(["Paris is the capital."], timeout=REPLY_MS)
    expect(tid(col, "thinking-title")).to_have_text(re.compile(r"^Thought · \d+ tokens$"))
    expect(tid(col, "thinking-text")).to_be_visible()
    thought = tid(col, "thinking-text").inner_text()
    assert thought.startswith("weighing the options") and "<think>" not in thought
    # the block sits above the answer, and the answer's own element holds the answer alone
    assert col.locator(".cz-history .cz-reply > :first-child").get_attribute("data-testid") == "thinking"
    assert kernel_json(page, "w.history['thinker'][-1]['content']") == "Paris is the capital."
    assert "thinking" in tid(col, "stats").inner_text()


@pytest.mark.timeout(90, method="signal")
def test_continue_button_after_a_vote_continues_every_column(open_notebook):
    page = open_notebook([SETUP, "w = ChatZooWidget([ScriptedBOT('alpha', reply='alpha likes apples'), "
                                 "ScriptedBOT('beta', reply='beta likes bananas')])\nw"])
    root = widget(page)
    type_prompt(page, "Favourite fruit?")
    expect(tid(root, "vote-choice")).to_have_count(4, timeout=REPLY_MS)
    expect(tid(root, "continue-with").locator("visible=true")).to_have_count(0)  # not before a vote
    root.locator("[data-testid=vote-choice][data-choice=beta]").click()
    beta = column(page, "beta")
    button = tid(beta, "continue-with")
    expect(button).to_be_visible(timeout=10_000)
    expect(button).to_have_text("Continue with this reply")
    button.click()
    alpha = column(page, "alpha")
    expect(history_bots(alpha)).to_have_text(["beta likes bananas"], timeout=10_000)
    expect(tid(alpha, "continued-note")).to_have_text("Continued with beta's reply")
    tid(alpha, "alternative-toggle").click()
    expect(tid(alpha, "alternative-text")).to_have_text("alpha likes apples")
    expect(tid(root, "continue-with")).to_have_count(0)
    assert kernel_json(page, "[h[-1]['content'] for h in w.history.values()]") == ["beta likes bananas"] * 2
    type_prompt(page, "Why?")
    expect(history_bots(alpha)).to_have_count(2, timeout=REPLY_MS)
    seen = kernel_json(page, "w.manager.get('alpha').load.result().prompts[-1][1]['content']")
    assert seen == "beta likes bananas"  # alpha's model went on from beta's reply


@pytest.mark.timeout(90, method="signal")
def test_edit_pencil_resends_the_last_prompt_in_place(open_notebook):
    page = open_notebook([SETUP, "w = ChatZooWidget([ScriptedBOT('alpha'), ScriptedBOT('beta')])\nw"])
    alpha, beta = column(page, "alpha"), column(page, "beta")
    type_prompt(page, "Hello")
    expect(history_bots(alpha)).to_have_text(["Reply 1 to: Hello"], timeout=REPLY_MS)
    type_prompt(page, "Waht is 2+2?")
    expect(history_bots(beta)).to_have_count(2, timeout=REPLY_MS)
    expect(tid(alpha, "edit-prompt")).to_have_count(1)  # on the last prompt only
    tid(alpha, "edit-prompt").click()
    editor = tid(alpha, "edit-input")
    expect(editor).to_have_value("Waht is 2+2?")
    editor.fill("What is 2+2?")
    editor.press("Enter")
    for col in (alpha, beta):
        expect(history_bots(col)).to_have_text(["Reply 1 to: Hello", "Reply 2 to: What is 2+2?"], timeout=REPLY_MS)
        humans = col.locator(".cz-history [data-testid=message][data-role=HUMAN]")
        expect(humans).to_have_text(["Hello", "What is 2+2?"])
    old = kernel_json(page, "w.entries['beta'][2]['edited'][0]['prompt']")
    assert old == "Waht is 2+2?"  # the old turn stays in the records
    # Escape leaves the prompt as it was
    tid(beta, "edit-prompt").click()
    tid(beta, "edit-input").press("Escape")
    expect(tid(beta, "edit-input")).to_have_count(0)
    expect(tid(beta, "last-prompt")).to_contain_text("What is 2+2?")
