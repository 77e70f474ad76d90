"""Defects seen in use (issue 10), each checked in JupyterLab: sweep labels on the leaderboard chart and column
headers, the vote bar after a batch run, library warnings from worker threads landing in cells."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from test_compare_browser import SETUP, columns, kernel_json, tid, type_prompt, widget

pytestmark = pytest.mark.browser

REPLY_MS = 15_000

# True when no code cell's output contains `needle` (stream, error, display data...).
NO_OUTPUT_HAS_JS = """(needle) => {
  const w = window.jupyterapp.shell.currentWidget;
  return Array.from(w.content.model.cells).filter(c => c.type === 'code')
    .every(c => !JSON.stringify(c.outputs.toJSON()).includes(needle));
}"""


@pytest.mark.timeout(90, method="signal")
def test_sweep_labels_differ_on_the_chart_and_full_names_show_on_hover(open_notebook):
    page = open_notebook([SETUP, (
        "bot = ScriptedBOT('smollm2-135m-instruct-q4', reply='same words')\n"
        "w = ChatZooWidget(ChatZooWidget.sweep(bot, 'temperature', [0.2, 0.8, 1.4]))\nw")])
    root = widget(page)
    expect(columns(page)).to_have_count(3, timeout=10_000)
    names = [f"smollm2-135m-instruct-q4 temperature={t}" for t in ("0.2", "0.8", "1.4")]
    headers = tid(root, "column-name")
    for i, name in enumerate(names):  # the header may cut the name; hovering shows all of it
        assert headers.nth(i).get_attribute("title").split("\n")[0] == name
    type_prompt(page, "hello")
    expect(tid(root, "vote-choice")).to_have_count(5, timeout=REPLY_MS)
    root.locator("[data-testid=vote-choice][data-choice='tie']").click()
    labels = tid(root, "leaderboard-label")
    expect(labels).to_have_count(3, timeout=10_000)
    shown = labels.all_inner_texts()
    assert len(set(shown)) == 3, shown
    assert sorted(shown) == ["…temperature=0.2", "…temperature=0.8", "…temperature=1.4"], shown
    assert sorted(labels.nth(i).get_attribute("title") for i in range(3)) == sorted(names)
    for i in range(3):  # what shows is not cut: the part that differs is visible
        assert labels.nth(i).evaluate("el => el.scrollWidth <= el.clientWidth + 1"), shown[i]


@pytest.mark.timeout(90, method="signal")
def test_vote_bar_offers_the_vote_again_after_a_batch_run(open_notebook):
    page = open_notebook([
        SETUP,
        "w = ChatZooWidget([ScriptedBOT('alpha', reply='alpha says hi'), ScriptedBOT('beta', reply='beta too')])\nw",
        "w.send('hello', wait=True)",
        "df = w.run_batch(['one', 'two'])",
    ])
    root = widget(page)
    expect(tid(root, "vote-choice")).to_have_text(["alpha", "beta", "Tie", "All bad"], timeout=REPLY_MS)
    expect(tid(root, "vote-bar")).to_have_attribute("data-can-vote", "true")
    expect(tid(root, "vote-bar")).not_to_contain_text("batch")
    assert kernel_json(page, "w.vote_state['can_vote']") is True


@pytest.mark.timeout(90, method="signal")
def test_library_warnings_from_worker_threads_stay_out_of_cells(open_notebook):
    page = open_notebook([
        SETUP,
        "import logging, warnings\n"
        "class NoisyBOT(ScriptedBOT):\n"
        "    def stream_generate(self, request):  # runs in a worker thread, as bitsandbytes' import does\n"
        "        logging.getLogger('bitsandbytes.backends.cpu.ops').warning(\n"
        "            'Failed to load CPU gemm_4bit_forward from kernels-community: %s', 'no kernels')\n"
        "        warnings.warn('noisy-library-warning')\n"
        "        yield from super().stream_generate(request)\n"
        "w = ChatZooWidget([NoisyBOT('noisy', reply='one two three', first_delay=0.3)])\nw",
        "w.send('go')",
        "import time; time.sleep(1.5); print('slept')",  # the warnings fire while this cell runs
        "w.send('again', wait=True); print('done')",
    ])
    root = widget(page)
    expect(tid(root, "message").filter(has_text="one two three")).to_have_count(2, timeout=REPLY_MS)
    assert page.evaluate(NO_OUTPUT_HAS_JS, "slept") is False  # the check sees cell outputs
    for needle in ("gemm_4bit_forward", "noisy-library-warning"):
        assert page.evaluate(NO_OUTPUT_HAS_JS, needle), f"{needle!r} landed in a cell"
    seen = kernel_json(page, "__import__('chatzoo_widget.quiet', fromlist=['x']).seen()")
    assert sum("gemm_4bit_forward" in s for s in seen) == 1, seen  # logged once
