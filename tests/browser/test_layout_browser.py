"""Columns that fit a laptop screen (issue 17, item 3), in real JupyterLab with the file browser open.

At 1,400 px four columns sit side by side with no sideways scrolling; more columns, or a narrower window, wrap
into further rows of columns, each at least COLUMN_MIN wide. Every column shows its whole name and its model id
(they wrap, never cut), and its header controls (status, Stop, gear, ×) stay inside the column. The toolbar, the
prompt box and the arena's vote bar fit at 1,000 px. Screenshots go to the test's tmp path.
"""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page, expect

from test_compare_browser import KERNEL_EXEC_JS, SETUP, tid, widget

pytestmark = pytest.mark.browser

# The readable minimum column width (widget.css: --cz-column-min): about 28 characters of reply text a line.
COLUMN_MIN = 220
REPLY_MS = 15_000

# Long but realistic column names (a sweep's settings in the name) over hub model ids.
NAMES = [
    ("smollm2-135m-hot-temperature-1.3", "HuggingFaceTB/SmolLM2-135M-Instruct"),
    ("smollm2-135m-cold-temperature-0.2", "HuggingFaceTB/SmolLM2-135M-Instruct"),
    ("qwen2.5-0.5b-instruct-greedy", "Qwen/Qwen2.5-0.5B-Instruct"),
    ("gemma-3-270m-base-top-p-0.9", "google/gemma-3-270m"),
    ("firefly-2b6-top-k-40-repetition-1.1", "YeungNLP/firefly-2b6"),
    ("moss-moon-003-sft-int4", "fnlp/moss-moon-003-sft"),
    ("chatglm-6b-temperature-0.95", "THUDM/chatglm-6b"),
    ("godel-large-seq2seq-knowledge", "microsoft/GODEL-v1_1-large-seq2seq"),
]
REPLY = ("Paris is the capital of France. It sits on the Seine, in the north of the country, and has been the "
         "seat of the French government for most of the last thousand years.")


def widget_cell(count: int, arena: bool = False) -> str:
    bots = ", ".join(f"ScriptedBOT({m!r}, reply=REPLY)" for _, m in NAMES[:count])
    names = [n for n, _ in NAMES[:count]]
    return (f"REPLY = {REPLY!r}\nbots = [{bots}]\n"
            f"w = ChatZooWidget([{{'name': n, 'model': b}} for n, b in zip({names!r}, bots)], arena={arena}, seed=3)\nw")


def run_in_kernel(page: Page, code: str) -> None:
    result = page.evaluate(KERNEL_EXEC_JS, code)
    assert not result["err"], result["err"]


def open_at(page: Page, open_notebook, width: int, cells: list[str]) -> Page:
    """The notebook at `width` x 900 px (a laptop screen), run, with JupyterLab's file browser open beside it."""
    page.set_viewport_size({"width": width, "height": 900})
    open_notebook(cells)
    page.evaluate("() => window.jupyterapp.shell.activateById('filebrowser')")
    browser_width = page.evaluate("() => document.querySelector('#filebrowser').getBoundingClientRect().width")
    assert browser_width >= 200, f"the file browser should be open beside the notebook, is {browser_width} px wide"
    return page


# What a user sees, read from the DOM: sideways scrolling of the widget and every ancestor that can scroll,
# each column's box and rows, its name and model line (clipped or not), and its header controls' boxes.
LAYOUT_JS = """(root) => {
  const box = (el) => { const r = el.getBoundingClientRect(); return {left: r.left, right: r.right, top: r.top,
    bottom: r.bottom, width: r.width, height: r.height}; };
  const clip = (el) => ({text: el.textContent, visible: el.offsetParent !== null && el.getClientRects().length > 0,
    scrollWidth: el.scrollWidth, clientWidth: el.clientWidth, scrollHeight: el.scrollHeight,
    clientHeight: el.clientHeight, box: box(el)});
  const scrollers = [];
  for (let el = root; el; el = el.parentElement) {
    const s = getComputedStyle(el);
    if (el === root || ['auto', 'scroll'].includes(s.overflowX) || el === document.scrollingElement)
      scrollers.push({name: el.className.toString().slice(0, 80) || el.tagName, scrollWidth: el.scrollWidth,
                      clientWidth: el.clientWidth});
  }
  const grid = root.querySelector('.cz-columns');
  scrollers.push({name: 'cz-columns', scrollWidth: grid.scrollWidth, clientWidth: grid.clientWidth});
  const q = (col, id) => col.querySelector(`[data-testid=${id}]`);
  const columns = Array.from(root.querySelectorAll('[data-testid=column]')).map((col) => ({
    box: box(col), status: col.dataset.status,
    name: clip(q(col, 'column-name')), model: clip(q(col, 'column-model')),
    title: box(col.querySelector('.cz-column-title')),
    controls: ['column-status', 'column-stop', 'settings-toggle', 'column-remove', 'column-revealed']
      .map((id) => ({id, el: q(col, id)})).filter(({el}) => el && !el.hidden)
      .map(({id, el}) => ({id, ...clip(el)})),
  }));
  return {root: box(root), scrollers, columns};
}"""


def layout(page: Page) -> dict:
    return widget(page).evaluate(LAYOUT_JS)


def rows_of(columns: list[dict]) -> list[list[dict]]:
    rows: dict[int, list[dict]] = {}
    for col in columns:
        rows.setdefault(round(col["box"]["top"]), []).append(col)
    return [rows[top] for top in sorted(rows)]


def inside(inner: dict, outer: dict) -> bool:
    return inner["left"] >= outer["left"] - 0.5 and inner["right"] <= outer["right"] + 0.5


def overlap(a: dict, b: dict) -> bool:
    return a["left"] < b["right"] - 0.5 and b["left"] < a["right"] - 0.5 and \
        a["top"] < b["bottom"] - 0.5 and b["top"] < a["bottom"] - 0.5


def assert_fits(report: dict, names: list[tuple[str, str]]) -> None:
    """No sideways scrolling; each column wide enough, inside the widget, its name and model id whole and shown,
    its controls inside the column and clear of the name."""
    for s in report["scrollers"]:
        assert s["scrollWidth"] <= s["clientWidth"], f"scrolls sideways: {s}"
    cols = report["columns"]
    assert [c["name"]["text"] for c in cols] == [n for n, _ in names]
    for col, (name, model) in zip(cols, names):
        where = f"column {name!r}"
        assert col["box"]["width"] >= COLUMN_MIN - 0.5, f"{where} is {col['box']['width']:.0f} px, under {COLUMN_MIN}"
        assert inside(col["box"], report["root"]), f"{where} sticks out of the widget: {col['box']}"
        for part, text in (("name", name), ("model", model)):
            el = col[part]
            assert el["visible"], f"{where}: the {part} is hidden"
            assert text in el["text"], f"{where}: the {part} line {el['text']!r} lacks {text!r}"
            assert el["scrollWidth"] <= el["clientWidth"] and el["scrollHeight"] <= el["clientHeight"], \
                f"{where}: the {part} is clipped: {el}"
            assert inside(el["box"], col["box"]), f"{where}: the {part} runs out of the column"
        shown = {c["id"] for c in col["controls"]}
        assert {"column-status", "column-stop", "settings-toggle", "column-remove"} <= shown, f"{where}: {shown}"
        for control in col["controls"]:
            assert control["visible"] and inside(control["box"], col["box"]), f"{where}: {control['id']} is cut"
            assert control["scrollWidth"] <= control["clientWidth"], f"{where}: {control['id']} text is clipped"
            if control["id"] != "column-revealed":  # the badge sits in the title row by design
                assert not overlap(control["box"], col["title"]), f"{where}: {control['id']} covers the name"


def assert_in_widget(page: Page, testids: list[str]) -> None:
    """Each control is shown whole inside the widget (not pushed out to the right, not clipped)."""
    root = widget(page)
    frame = root.bounding_box()
    for testid in testids:
        for el in tid(root, testid).all():
            b = el.bounding_box()
            assert b and b["width"] > 0, f"{testid} is not shown"
            assert b["x"] >= frame["x"] - 0.5 and b["x"] + b["width"] <= frame["x"] + frame["width"] + 0.5, \
                f"{testid} sticks out of the widget: {b} vs {frame}"
            assert el.evaluate("el => el.scrollWidth <= el.clientWidth"), f"{testid} is clipped"


def shoot(page: Page, path) -> None:
    """A screenshot of the widget (as far as it is in the viewport) and of the whole JupyterLab window."""
    widget(page).scroll_into_view_if_needed()
    page.screenshot(path=str(path))
    print(f"\nscreenshot: {path}")


# ----- tests ------------------------------------------------------------------------------------------

@pytest.mark.timeout(120, method="signal")
@pytest.mark.parametrize("count", [2, 4, 8])
@pytest.mark.parametrize("width", [1400, 1000])
def test_columns_fit_side_by_side_then_wrap(open_notebook, page, tmp_path, width, count):
    names = NAMES[:count]
    open_at(page, open_notebook, width, [SETUP, widget_cell(count), "w.send('What is the capital of France?', wait=True)"])
    root = widget(page)
    expect(tid(root, "message").filter(has_text="seat of the French government")).to_have_count(count, timeout=REPLY_MS)
    assert_in_widget(page, ["vote-bar", "vote-choice"])  # a vote button per column name
    # A second turn that is still being read: every header shows its widest status, "generating".
    run_in_kernel(page, "for b in bots: b.first_delay = 60\nw.send('And of Germany?')")
    expect(root.locator("[data-testid=column][data-status=generating]")).to_have_count(count, timeout=REPLY_MS)
    report = layout(page)
    shoot(page, tmp_path / f"columns-{width}px-{count}.png")
    assert_fits(report, names)

    rows = rows_of(report["columns"])
    per_row = len(rows[0])
    # The widget is 968 px wide at 1,400 (four columns of 232 px) and 568 px at 1,000 (two of 272 px).
    expected = min(count, 4 if width == 1400 else 2)
    assert per_row == expected, f"{per_row} columns side by side at {width} px, expected {expected}: " + \
        json.dumps([[c["name"]["text"] for c in r] for r in rows])
    assert all(len(r) <= per_row for r in rows) and sum(map(len, rows)) == count
    assert_in_widget(page, ["system-prompt", "add-toggle", "clear", "regenerate", "stop-all", "prompt", "send",
                            "download"])
    run_in_kernel(page, "w.stop()")


@pytest.mark.timeout(120, method="signal")
@pytest.mark.parametrize("width", [1400, 1000])
def test_toolbar_prompt_box_and_add_form_fit(open_notebook, page, tmp_path, width):
    open_at(page, open_notebook, width, [SETUP, widget_cell(4)])
    root = widget(page)
    expect(tid(root, "column")).to_have_count(4)
    tid(root, "add-toggle").click()
    expect(tid(root, "add-model")).to_be_visible()
    shoot(page, tmp_path / f"toolbar-{width}px.png")
    assert_in_widget(page, ["system-prompt", "add-toggle", "add-name", "add-model", "add-submit", "clear",
                            "regenerate", "stop-all", "prompt", "send"])
    prompt, frame = tid(root, "prompt").bounding_box(), root.bounding_box()
    assert prompt["width"] >= frame["width"] * 0.6, f"the prompt box is only {prompt['width']:.0f} px wide"
    assert_fits(layout(page), NAMES[:4])


@pytest.mark.timeout(120, method="signal")
@pytest.mark.parametrize("width", [1400, 1000])
def test_arena_labels_vote_bar_and_revealed_names_fit(open_notebook, page, tmp_path, width):
    open_at(page, open_notebook, width, [SETUP, widget_cell(4, arena=True), "w.send('Capital of France?', wait=True)"])
    root = widget(page)
    expect(tid(root, "vote-choice")).to_have_count(6, timeout=REPLY_MS)  # Model A-D, Tie, All bad
    labels = [f"Model {x}" for x in "ABCD"]
    expect(tid(root, "column-name")).to_have_text(labels)
    shoot(page, tmp_path / f"arena-blind-{width}px.png")
    report = layout(page)
    for s in report["scrollers"]:
        assert s["scrollWidth"] <= s["clientWidth"], f"scrolls sideways: {s}"
    assert_in_widget(page, ["arena-badge", "vote-bar", "vote-choice", "column-name", "column-status"])

    root.locator("[data-testid=vote-choice][data-choice='Model A']").click()
    expect(tid(root, "arena-badge")).to_have_attribute("data-state", "revealed", timeout=10_000)
    expect(tid(root, "column-revealed")).to_have_count(4)
    expect(root.locator("[data-testid=column-revealed]:visible")).to_have_count(4)
    report = layout(page)
    shoot(page, tmp_path / f"arena-revealed-{width}px.png")
    # Revealed: each column shows its real name, its arena label and model id, and the "revealed" badge.
    by_name = dict(NAMES)
    shown = [c["name"]["text"] for c in report["columns"]]
    assert sorted(shown) == sorted(n for n, _ in NAMES[:4]), shown
    assert_fits(report, [(n, by_name[n]) for n in shown])
    for col, label in zip(report["columns"], labels):
        assert col["model"]["text"].startswith(label), col["model"]["text"]
        assert any(c["id"] == "column-revealed" for c in col["controls"])
