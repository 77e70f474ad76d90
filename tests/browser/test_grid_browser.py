"""The results grid (issue 19 item 4) in a real browser: JupyterLab + headless Chromium through conftest.py's
fixtures, ScriptedBOT columns. Filters change the rows shown, two clicked cells open their word diff, rows appear
while the run goes on, 1,000 rows x 4 columns scroll at under 100 ms a frame, blind mode shows labels only, and
w.check's badges show under the replies. Selectors are the data-testid names of js/README.md."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Locator, Page, expect

from test_compare_browser import KERNEL_EXEC_JS, WIDGET, tid, widget

pytestmark = pytest.mark.browser

# Row i asks "Question i?"; its answer is "yes" for odd i. `right` answers right except every fifth row, `copy`
# answers as `right` does, `yes-man` always says yes (right on odd rows only).
SETUP = """\
import os, re
os.environ["HF_HUB_OFFLINE"] = "1"
from chatzoo_widget import ChatZooWidget
from chatzoo_widget.testing import ScriptedBOT

def number(query):
    return int(re.search(r"(\\d+)", query[-1]["content"]).group(1))

def right(query):
    n = number(query)
    return "maybe" if n % 5 == 0 else ("yes" if n % 2 else "no")

def rows(n):
    return [{"id": f"q{i}", "question": f"Question {i}?", "answer": "yes" if i % 2 else "no"} for i in range(n)]

CHECKS = [{"type": "icontains", "value": "{{answer}}"}]
"""
THREE = ("w = ChatZooWidget([ScriptedBOT('right', reply=right), ScriptedBOT('copy', reply=right), "
         "ScriptedBOT('yes-man', reply='yes')])\nw")


# Scroll the grid a screenful or so per frame and time every frame with requestAnimationFrame.
SCROLL_FRAMES_JS = """async ({ selector, frames, step }) => {
  const scroller = document.querySelector(selector);
  const gaps = [];
  let last = await new Promise((r) => requestAnimationFrame(r));
  const drawn = [];
  for (let i = 0; i < frames; i++) {
    scroller.scrollTop += step;
    const now = await new Promise((r) => requestAnimationFrame(r));
    gaps.push(now - last);
    last = now;
    drawn.push(scroller.querySelectorAll("[data-testid=grid-row]").length);
  }
  const ids = Array.from(scroller.querySelectorAll("[data-testid=grid-row]"), (r) => r.dataset.id);
  return { gaps, drawn, ids, top: scroller.scrollTop };
}"""


def kernel(page: Page, code: str) -> str:
    result = page.evaluate(KERNEL_EXEC_JS, code)
    assert not result["err"], result["err"]
    return result["out"]


def choose_filter(grid: Locator, value: str, column: str | None = None, baseline: str | None = None) -> None:
    tid(grid, "grid-filter").select_option(value)
    if baseline is not None:
        tid(grid, "grid-baseline").select_option(baseline)
    if column is not None:
        tid(grid, "grid-column").select_option(column)


@pytest.mark.timeout(120, method="signal")
def test_filters_change_the_rows_shown(open_notebook):
    page = open_notebook([SETUP, THREE, "df = w.run_batch(rows(20), template='{question}', checks=CHECKS)"])
    grid = tid(widget(page), "results-grid")
    expect(grid).to_have_attribute("data-rows", "20", timeout=30_000)
    expect(grid).to_have_attribute("data-running", "false", timeout=30_000)
    expect(tid(grid, "grid-colname")).to_have_text(["right", "copy", "yes-man"])
    expect(grid).to_have_attribute("data-shown", "20")
    # failures: every even row (yes-man) and rows 5 and 15 (right and copy say maybe)
    choose_filter(grid, "failures")
    expect(grid).to_have_attribute("data-shown", "12")
    for row in tid(grid, "grid-row").all():
        assert row.locator("[data-outcome=fail]").count() > 0
    # the columns disagree where yes-man and right differ: even rows but 0 and 10 (both fail), and 5 and 15
    choose_filter(grid, "disagree")
    expect(grid).to_have_attribute("data-shown", "10")
    ids = {r.get_attribute("data-id") for r in tid(grid, "grid-row").all()}
    assert ids <= {f"q{i}" for i in (2, 4, 5, 6, 8, 12, 14, 15, 16, 18)} and "q2" in ids, ids
    # a column against a baseline: copy never differs from right; yes-man does on those 10 rows
    choose_filter(grid, "differs", column="copy", baseline="right")
    expect(grid).to_have_attribute("data-shown", "0")
    expect(tid(grid, "grid-row")).to_have_count(0)
    choose_filter(grid, "differs", column="yes-man", baseline="right")
    expect(grid).to_have_attribute("data-shown", "10")
    choose_filter(grid, "all")
    expect(grid).to_have_attribute("data-shown", "20")
    # the summary above the grid: the methods named, a verdict per pair
    summary = tid(grid, "grid-summary")
    expect(summary).to_have_attribute("data-final", "true", timeout=30_000)
    expect(tid(summary, "summary-method").first).to_contain_text("Wilson")
    pair = summary.locator("[data-testid=summary-pair-row][data-measure=pass][data-a=right][data-b=copy]")
    expect(tid(pair, "summary-test")).to_contain_text("McNemar exact")
    expect(tid(pair, "summary-verdict")).to_have_text("no detectable difference")


@pytest.mark.timeout(120, method="signal")
def test_two_clicked_cells_open_their_word_diff(open_notebook):
    page = open_notebook([SETUP, THREE, "df = w.run_batch(rows(3), template='{question}', checks=CHECKS)"])
    grid = tid(widget(page), "results-grid")
    expect(grid).to_have_attribute("data-rows", "3", timeout=30_000)
    row = grid.locator("[data-testid=grid-row][data-id=q2]")
    right_cell = row.locator("[data-column=right]")
    yes_cell = row.locator("[data-column=yes-man]")
    expect(yes_cell).to_have_attribute("data-outcome", "fail", timeout=15_000)
    right_cell.click()
    expect(tid(grid, "grid-full")).to_have_text("no", timeout=15_000)  # the whole reply
    expect(tid(grid, "grid-reasons")).to_contain_text("icontains", timeout=15_000)
    yes_cell.click()
    diff = tid(grid, "grid-diff")
    expect(diff).to_be_visible(timeout=15_000)
    expect(tid(tid(diff, "grid-diff-left"), "diff-delete")).to_have_text(["no"], timeout=15_000)
    expect(tid(tid(diff, "grid-diff-right"), "diff-insert")).to_have_text(["yes"], timeout=15_000)
    expect(right_cell).to_have_class(re.compile("cz-selected"), timeout=15_000)


@pytest.mark.timeout(120, method="signal")
def test_rows_appear_while_the_run_is_still_going(open_notebook):
    # Row i's reply has i + 1 words at 0.1 s each: the rows finish one after another over about 3 s.
    slow = ("w = ChatZooWidget([ScriptedBOT('slow', reply=lambda q: ' '.join(['yes'] * (number(q) + 1)), "
            "delay=0.1)])\nw")
    page = open_notebook([SETUP, slow,
                          "run = w.run_batch(rows(30), template='{question}', checks=CHECKS, wait=False)"])
    grid = tid(widget(page), "results-grid")
    expect(grid).to_be_visible(timeout=20_000)
    expect(grid).not_to_have_attribute("data-rows", "0", timeout=20_000)
    shown_while_running = int(grid.get_attribute("data-rows"))
    assert tid(widget(page), "batch-progress").get_attribute("data-state") == "running"
    assert 0 < shown_while_running < 30, shown_while_running
    expect(tid(grid, "grid-count")).to_contain_text("running")
    expect(grid).to_have_attribute("data-rows", "30", timeout=30_000)
    expect(grid).to_have_attribute("data-running", "false", timeout=10_000)
    assert json.loads(kernel(page, "print(__import__('json').dumps(run.progress['running']))")) is False


@pytest.mark.timeout(240, method="signal")
def test_a_thousand_rows_by_four_columns_scroll_at_under_100_ms_a_frame(open_notebook):
    four = ("w = ChatZooWidget([ScriptedBOT(n, reply=right) for n in ('a', 'b', 'c', 'd')])\nw")
    page = open_notebook([SETUP, four, "df = w.run_batch(rows(1000), template='{question}', checks=CHECKS)"],
                         timeout=180)
    grid = tid(widget(page), "results-grid")
    expect(grid).to_have_attribute("data-rows", "1000", timeout=60_000)
    expect(tid(grid, "grid-summary")).to_have_attribute("data-final", "true", timeout=60_000)  # nothing else coming
    scroller = f".jp-OutputArea-output {WIDGET} [data-testid=grid-scroll]"
    page.locator(scroller).scroll_into_view_if_needed()
    # Up to five passes of 120 frames down the grid (24,000 px, about 375 rows): on this shared 2-core machine
    # other jobs can starve the browser for a while (frames of 750 ms seen at load 16, whatever the page does);
    # the grid passes when one whole pass stays under 100 ms a frame.
    for _ in range(5):
        page.evaluate("(s) => { document.querySelector(s).scrollTop = 0; }", scroller)
        result = page.evaluate(SCROLL_FRAMES_JS, {"selector": scroller, "frames": 120, "step": 200})
        gaps = result["gaps"]
        if max(gaps) < 100:
            break
    print(f"grid scroll, 1,000 rows x 4 columns: {len(gaps)} frames, median {sorted(gaps)[len(gaps) // 2]:.1f} ms, "
          f"slowest {max(gaps):.1f} ms, at most {max(result['drawn'])} rows in the DOM; {[round(g) for g in gaps]}")
    assert max(result["drawn"]) < 40, result["drawn"]  # only the rows in view are in the DOM
    assert result["top"] > 20_000 and any(int(i[1:]) > 300 for i in result["ids"]), result
    assert max(gaps) < 100, f"slowest frame {max(gaps):.1f} ms; frames: {[round(g) for g in gaps]}"


@pytest.mark.timeout(120, method="signal")
def test_blind_mode_shows_labels_only(open_notebook):
    blind = ("w = ChatZooWidget([ScriptedBOT('secret-alpha', reply=right), ScriptedBOT('secret-beta', "
             "reply='yes')], arena=True, seed=4)\nw")
    page = open_notebook([SETUP, blind, "df = w.run_batch(rows(6), template='{question}', checks=CHECKS)"])
    grid = tid(widget(page), "results-grid")
    expect(grid).to_have_attribute("data-rows", "6", timeout=30_000)
    expect(tid(grid, "grid-summary")).to_have_attribute("data-final", "true", timeout=30_000)
    names = tid(grid, "grid-colname").all_text_contents()
    assert sorted(names) == ["Model A", "Model B"], names
    shown = [c.text_content() for c in tid(widget(page), "column-name").all()]
    assert names == shown  # in the order the columns are shown
    text = grid.inner_text() + json.dumps(page.evaluate(
        "(s) => Array.from(document.querySelectorAll(s), (e) => e.title)", f"{WIDGET} [title]"))
    assert "secret" not in text.lower(), text


@pytest.mark.timeout(120, method="signal")
def test_check_badges_show_under_each_reply(open_notebook):
    two = "w = ChatZooWidget([ScriptedBOT('paris', reply='It is Paris.'), ScriptedBOT('lyon', reply='Lyon.')])\nw"
    page = open_notebook([SETUP, two, "w.send('Capital of France?', wait=True)\n"
                                      "r = w.check([{'type': 'icontains', 'value': 'paris'}])"])
    root = widget(page)
    for name, verdict in (("paris", "pass"), ("lyon", "fail")):
        col = tid(root, "column").filter(has=page.get_by_text(name, exact=True))
        reply = col.locator(".cz-history [data-testid=message][data-role=BOT]")
        expect(reply).to_have_count(1, timeout=20_000)
        badges = col.locator(".cz-history [data-testid=check-badges]")
        expect(badges).to_have_count(1, timeout=20_000)
        expect(tid(badges, "check-badge")).to_have_text(verdict)
        expect(tid(badges, "check-chip")).to_contain_text("icontains")
        expect(tid(badges, "check-score")).to_have_text("score 1.00" if verdict == "pass" else "score 0.00")
    lyon_badge = tid(tid(root, "column").filter(has=page.get_by_text("lyon", exact=True)), "check-badge")
    assert "paris" in (lyon_badge.get_attribute("title") or "").lower()
    kernel(page, "w.regenerate(wait=True)")
    expect(root.locator("[data-testid=check-badges]")).to_have_count(0, timeout=20_000)  # about the old replies
