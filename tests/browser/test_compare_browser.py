"""Compare and judge (issue #5) in a real browser: arena mode, votes and thumbs, the diff view, batch progress.

JupyterLab + headless Chromium through the fixtures of conftest.py; model-free ScriptedBOT columns only.
Selectors follow the DOM contract in js/README.md (data-testid names).
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
REPLY_MS = 15_000

# Runs `code` in the notebook's kernel (beside the notebook's own cells) and returns what it printed.
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


def columns(page: Page) -> Locator:
    return tid(widget(page), "column")


def column(page: Page, name: str) -> Locator:
    exact = re.compile(rf"^\s*{re.escape(name)}\s*$")
    return columns(page).filter(has=page.locator("[data-testid=column-name]", has_text=exact))


def bot_messages(col: Locator) -> Locator:
    return col.locator("[data-testid=message][data-role=BOT]")


def type_prompt(page: Page, text: str) -> None:
    box = tid(widget(page), "prompt")
    box.fill(text)
    box.press("Enter")


def kernel_json(page: Page, expr: str):
    """The JSON value of `expr`, evaluated in the notebook's kernel."""
    result = page.evaluate(KERNEL_EXEC_JS, f"import json as _json; print(_json.dumps({expr}))")
    assert not result["err"], result["err"]
    return json.loads(result["out"])


# ----- tests ------------------------------------------------------------------------------------------

@pytest.mark.timeout(60, method="signal")
def test_arena_hides_names_until_the_vote(open_notebook):
    page = open_notebook([SETUP, "w = ChatZooWidget([ScriptedBOT('alpha', reply='alpha says hi'), "
                                 "ScriptedBOT('beta', reply='beta says hello')], arena=True, seed=1)\nw"])
    root = widget(page)
    expect(columns(page)).to_have_count(2, timeout=10_000)
    names = tid(root, "column-name")
    expect(names).to_have_text(["Model A", "Model B"])
    header_text = " ".join(root.locator(".cz-column-header").all_inner_texts())
    assert "alpha" not in header_text and "beta" not in header_text, header_text
    for i in range(2):
        expect(tid(columns(page).nth(i), "settings-toggle")).to_be_hidden()
    expect(tid(root, "column-revealed").first).to_be_hidden()
    expect(tid(root, "arena-badge")).to_have_attribute("data-state", "blind")

    type_prompt(page, "say hi")
    choices = tid(root, "vote-choice")
    expect(choices).to_have_count(4, timeout=REPLY_MS)  # Model A, Model B, tie, bad
    expect(choices).to_have_text(["Model A", "Model B", "Tie", "All bad"])
    for i in range(2):
        expect(bot_messages(columns(page).nth(i))).to_have_count(1)
    # a reply that names its own model is scrubbed while blind too
    assert bot_messages(column(page, "Model A")).first.inner_text().strip() in ("Model A says hi", "Model A says hello")
    root.locator("[data-testid=vote-choice][data-choice='Model A']").click()

    # Python reveals the names: real names in the columns, a revealed badge, settings back
    expect(tid(root, "arena-badge")).to_have_attribute("data-state", "revealed", timeout=10_000)
    assert sorted(names.all_inner_texts()) == ["alpha", "beta"]
    expect(tid(root, "column-revealed")).to_have_count(2)
    for i in range(2):
        expect(tid(columns(page).nth(i), "column-revealed")).to_be_visible()
        expect(tid(columns(page).nth(i), "settings-toggle")).to_be_visible()
    badge_a = "[data-testid=column-revealed][title='Shown as Model A before the vote']"
    shown_as_a = columns(page).filter(has=page.locator(badge_a))
    winner = tid(shown_as_a, "column-name").inner_text().strip()
    expect(bot_messages(shown_as_a)).to_have_text([f"{winner} says {'hi' if winner == 'alpha' else 'hello'}"])
    expect(root.locator(f"[data-testid=vote-choice][data-choice={winner}]")).to_have_attribute("data-active", "true")
    assert kernel_json(page, "[v['choice'] for v in w.votes]") == [winner]


@pytest.mark.timeout(60, method="signal")
def test_vote_thumbs_leaderboard_and_download(open_notebook):
    page = open_notebook([SETUP, "w = ChatZooWidget([ScriptedBOT('alpha', reply='alpha says hi'), "
                                 "ScriptedBOT('beta', reply='beta says hello')])\nw"])
    root = widget(page)
    expect(tid(root, "vote-bar")).to_be_hidden()
    expect(tid(root, "leaderboard")).to_be_hidden()
    type_prompt(page, "hello")
    expect(tid(root, "vote-choice")).to_have_text(["alpha", "beta", "Tie", "All bad"], timeout=REPLY_MS)

    beta_button = root.locator("[data-testid=vote-choice][data-choice=beta]")
    beta_button.click()
    expect(beta_button).to_have_attribute("data-active", "true", timeout=10_000)
    expect(root.locator("[data-testid=vote-choice][data-active=true]")).to_have_count(1)
    rows = tid(root, "leaderboard-row")
    expect(rows).to_have_count(2, timeout=10_000)
    expect(rows.first).to_have_attribute("data-contestant", "beta")
    expect(tid(root, "leaderboard-bar")).to_have_count(2)
    expect(tid(root, "leaderboard-method")).to_contain_text("Elo K=4")

    # change the vote: the highlight follows, still one vote for this turn
    root.locator("[data-testid=vote-choice][data-choice=tie]").click()
    expect(root.locator("[data-testid=vote-choice][data-choice=tie]")).to_have_attribute("data-active", "true",
                                                                                          timeout=10_000)
    expect(beta_button).to_have_attribute("data-active", "false")
    assert kernel_json(page, "[v['choice'] for v in w.votes]") == ["tie"]

    # thumbs on alpha's reply: up, then up again takes it back
    up = tid(column(page, "alpha"), "thumb-up")
    expect(up).to_have_count(1)
    up.click()
    expect(up).to_have_attribute("data-active", "true", timeout=10_000)
    assert kernel_json(page, "[(t['column'], t['value']) for t in w._book.thumbs]") == [["alpha", 1]]
    up.click()
    expect(up).to_have_attribute("data-active", "false", timeout=10_000)
    assert kernel_json(page, "w._book.thumbs") == []

    # download: the browser saves the comparison JSON (a blob URL, nothing fetched)
    with page.expect_download(timeout=10_000) as info:
        tid(root, "download").click()
    download = info.value
    assert download.suggested_filename == "chatzoo-comparison.json"
    document = json.loads(open(download.path(), encoding="utf-8").read())
    assert document["format"] == "chatzoo-widget/comparison"
    assert [v["choice"] for v in document["votes"]] == ["tie"]


@pytest.mark.timeout(60, method="signal")
def test_diff_marks_the_one_different_word(open_notebook):
    page = open_notebook([SETUP, "w = ChatZooWidget([ScriptedBOT('left', reply='the quick brown fox jumps high'), "
                                 "ScriptedBOT('right', reply='the quick red fox jumps high')])\nw"])
    root = widget(page)
    type_prompt(page, "describe the fox")
    for name in ("left", "right"):
        expect(bot_messages(column(page, name))).to_have_count(1, timeout=REPLY_MS)
    expect(tid(root, "diff-view")).to_be_hidden()
    tid(root, "diff-toggle").click()
    tid(root, "diff-left").select_option(label="right")
    tid(root, "diff-right").select_option(label="left")
    tid(root, "diff-left").select_option(label="left")
    tid(root, "diff-right").select_option(label="right")
    view = tid(root, "diff-view")
    expect(view).to_be_visible()
    expect(tid(view, "diff-delete")).to_have_text(["brown"])
    expect(tid(view, "diff-insert")).to_have_text(["red"])
    expect(tid(view, "diff-pane-left")).to_contain_text("the quick brown fox jumps high")
    expect(tid(view, "diff-pane-right")).to_contain_text("the quick red fox jumps high")
    tid(root, "diff-toggle").click()
    expect(view).to_be_hidden()


@pytest.mark.timeout(60, method="signal")
def test_batch_progress_advances_and_stops(open_notebook):
    slow = " ".join(f"w{i}" for i in range(6))  # 6 words at 0.1 s: about 0.6 s a turn
    # scripts run at once, their turns one after another: 4 scripts of 20 turns take about 12 s
    page = open_notebook([
        SETUP,
        f"w = ChatZooWidget([ScriptedBOT('slow', reply={slow!r}, delay=0.1)])\nw",
        "run = w.run_batch([[f'prompt {i}.{t}' for t in range(20)] for i in range(4)], wait=False)",
    ])
    root = widget(page)
    bar = tid(root, "batch-progress")
    expect(bar).to_be_visible(timeout=10_000)
    expect(bar).to_have_attribute("data-total", "80")
    expect(bar).to_have_attribute("data-state", "running")
    first = int(bar.get_attribute("data-done"))
    expect(bar).not_to_have_attribute("data-done", str(first), timeout=10_000)  # it advances
    assert int(bar.get_attribute("data-done")) > first
    tid(root, "batch-stop").click()
    expect(bar).to_have_attribute("data-state", "stopped", timeout=10_000)
    expect(tid(root, "batch-stop")).to_be_hidden()
    expect(tid(root, "batch-text")).to_contain_text("stopped")
    done = int(bar.get_attribute("data-done"))
    assert done < 80, done
    progress = kernel_json(page, "w.batch_progress")
    assert progress["stopped"] is True and progress["running"] is False and progress["done"] == done
