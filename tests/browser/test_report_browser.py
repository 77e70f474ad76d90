"""The standalone report opened from disk in Chromium, with every request but the file itself refused.

A reader sees every column, the page asks for nothing, no payload a model wrote runs (neither a dialog nor a
window flag), a 1 MB reply loads, the column filter works, and without JavaScript the page reads the same. The
widget's "Download report" button in JupyterLab saves the same report. A 1,000 x 4 batch's grid opens at once, its
filters (all, failures, columns disagree) show the right rows, and it reads without JavaScript too.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from chatzoo_widget import ChatZooWidget
from chatzoo_widget.testing import ScriptedBOT
from test_compare_browser import SETUP, bot_messages, column, tid, widget

XSS_REPLY = ('<img src=x onerror="window.__pwned=1"> <script>window.__pwned=2</script> '
             '[a](javascript:window.__pwned=5) <svg onload="alert(6)"></svg> '
             '![remote](http://example.invalid/pixel.png) done')
XSS_NAME = '<img src=y onerror="window.__pwned=3">'
XSS_PROMPT = '<img src=z onerror="window.__pwned=4"> hi'
BIG = ("A long line of **model output** with `code` and <i>tags</i>. " * 20 + "\n") * 900  # over 1 MB


@pytest.fixture
def report_file(tmp_path):
    w = ChatZooWidget([ScriptedBOT("xss", reply="<think>hidden *thoughts*</think>" + XSS_REPLY),
                       {"name": XSS_NAME, "model": ScriptedBOT("echo")}, ScriptedBOT("big", reply="placeholder")])
    w.send(XSS_PROMPT, wait=True)
    big_id = next(cid for cid, c in w.manager.columns.items() if c.name == "big")
    history = w.manager.snapshot()
    w.manager.set_histories({c["id"]: [dict(e) if e["role"] == "HUMAN" or c["id"] != big_id
                                       else {**e, "content": BIG} for e in c["history"]] for c in history})
    assert len(BIG) > 1_000_000
    path = w.export(tmp_path / "comparison.html")
    w.close()
    return path


def open_offline(browser, path, *, javascript: bool = True):
    """A page on `path` where every request other than file:// is aborted and recorded, as are dialogs."""
    context = browser.new_context(java_script_enabled=javascript, viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.requests, page.dialogs = [], []

    def route(r):
        page.requests.append(r.request.url)
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            r.abort()

    context.route("**/*", route)
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    page.goto(path.as_uri(), wait_until="load", timeout=60_000)
    return context, page


def test_report_opens_offline_shows_every_column_and_runs_nothing(browser, report_file):
    context, page = open_offline(browser, report_file)
    try:
        names = page.locator("[data-testid=column-name]")
        assert names.all_inner_texts() == ["xss", XSS_NAME, "big"]
        replies = page.locator("[data-testid=reply]")
        assert "<script>window.__pwned=2</script>" in replies.nth(0).inner_text()
        assert "[image: remote http://example.invalid/pixel.png]" in replies.nth(0).inner_text()
        assert page.locator("[data-testid=human-message]").first.inner_text() == XSS_PROMPT
        assert replies.nth(2).inner_text().count("<i>tags</i>") == 18_000, "the 1 MB reply is there whole"
        page.wait_for_timeout(300)  # an <img onerror> or <svg onload> that slipped through would have fired
        assert page.evaluate("() => window.__pwned") is None
        assert page.dialogs == []
        assert page.locator("[onerror], [onload], img, svg, iframe").count() == 0
        assert page.requests == [report_file.as_uri()], "the page asked for nothing but itself"

        thinking = page.locator("details.cz-thinking").first
        assert not thinking.evaluate("d => d.open") and not page.get_by_text("hidden thoughts").is_visible()
        page.get_by_test_id("expand-all").click()
        assert page.get_by_text("thoughts").first.is_visible()

        page.get_by_test_id("column-filter").fill("bi")
        assert page.locator("[data-testid=column]:visible [data-testid=column-name]").all_inner_texts() == ["big"]
        page.get_by_test_id("column-filter").fill("")
        assert page.locator("[data-testid=column]:visible").count() == 3
    finally:
        context.close()


def test_report_reads_without_javascript(browser, report_file):
    context, page = open_offline(browser, report_file, javascript=False)
    try:
        assert page.locator("[data-testid=column-name]").all_inner_texts() == ["xss", XSS_NAME, "big"]
        assert page.locator("[data-testid=reply-stats]").count() == 3
        assert not page.get_by_test_id("report-tools").is_visible(), "the script's tools only come with it"
        page.locator("details.cz-thinking > summary").first.click()  # folding is the browser's own
        assert page.get_by_text("thoughts").first.is_visible()
    finally:
        context.close()


@pytest.mark.timeout(120, method="signal")
def test_download_report_button_saves_the_report_in_jupyterlab(open_notebook, browser, tmp_path):
    page = open_notebook([SETUP, "w = ChatZooWidget([ScriptedBOT('alpha', reply='**alpha** answers'), "
                                 "ScriptedBOT('beta', reply='beta answers')])\nw",
                          "w.send('hello report', wait=True); w.wait(30)"])
    expect(bot_messages(column(page, "beta"))).to_have_text(["beta answers"], timeout=15_000)
    with page.expect_download(timeout=20_000) as info:
        tid(widget(page), "download-report").click()
    download = info.value
    assert download.suggested_filename == "chatzoo-comparison.html"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    context, report = open_offline(browser, saved)
    try:
        assert report.locator("[data-testid=column-name]").all_inner_texts() == ["alpha", "beta"]
        assert report.locator("[data-testid=reply] strong").first.inner_text() == "alpha"
        assert report.requests == [saved.as_uri()]
    finally:
        context.close()


@pytest.fixture(scope="module")
def batch_report(tmp_path_factory):
    """A 1,000-row x 4-column batch in a report: per row, columns pass or fail by the row's number, so each
    filter's rows are known: row i fails in column c when (i + c) % 5 == 0 and in every column when i % 7 == 0."""
    def bot(c):
        return ScriptedBOT(f"col{c}", reply=lambda q, c=c: (
            "wrong" if (n := int(q[-1]["content"].split("#")[1])) % 7 == 0 or (n + c) % 5 == 0
            else "right. " + "A long reply goes on here. " * (12 if n % 3 == 0 else 0)))

    w = ChatZooWidget([bot(c) for c in range(4)])
    w.run_batch([f"Question #{i}" for i in range(1000)], checks=[{"type": "icontains", "value": "right"}])
    path = w.export(tmp_path_factory.mktemp("grid") / "batch.html")
    w.close()
    fails = [i for i in range(1000) if i % 7 == 0 or any((i + c) % 5 == 0 for c in range(4))]
    disagree = [i for i in fails if i % 7 != 0]
    return path, fails, disagree


def test_batch_grid_filters_in_chromium(browser, batch_report):
    path, fails, disagree = batch_report
    size = path.stat().st_size
    context, page = open_offline(browser, path)
    try:
        nav = page.evaluate("() => performance.getEntriesByType('navigation')[0].toJSON()")
        print(f"\n1,000 x 4 batch report: {size / 1e6:.2f} MB, load event at {nav['loadEventEnd']:.0f} ms")
        assert size < 4_000_000, "a 1,000 x 4 batch exports in a few MB"
        assert nav["loadEventEnd"] < 10_000, "it opens without freezing"
        assert page.requests == [path.as_uri()]
        rows = page.locator("[data-testid=grid-row]")
        assert rows.count() == 1000
        assert page.get_by_test_id("grid-filter-all").inner_text() == "All rows (1000)"
        assert page.get_by_test_id("grid-filter-failures").inner_text() == f"Failures ({len(fails)})"
        assert page.get_by_test_id("grid-filter-disagree").inner_text() == f"Columns disagree ({len(disagree)})"

        def shown_ids():  # textContent: rows out of view skip rendering (content-visibility), innerText is ""
            return page.evaluate("""() => [...document.querySelectorAll("[data-testid=grid-row]")]
                .filter((r) => getComputedStyle(r).display !== "none")
                .map((r) => Number(r.querySelector(".cz-grid-id").textContent))""")

        page.get_by_test_id("grid-filter-failures").click()
        assert shown_ids() == fails
        assert page.get_by_test_id("grid-filter-failures").get_attribute("aria-pressed") == "true"
        assert page.get_by_test_id("grid-count").inner_text().startswith(f"{len(fails)} shown (failures)")
        page.get_by_test_id("grid-filter-disagree").click()
        assert shown_ids() == disagree
        assert 0 not in shown_ids() and 7 not in shown_ids(), "every column failing is no disagreement"
        page.get_by_test_id("grid-filter-all").click()
        assert shown_ids() == list(range(1000))

        fold = page.locator("[data-testid=grid-row]").nth(3).locator("details[data-testid=grid-fold]").first
        assert not fold.evaluate("d => d.open")
        fold.locator("summary").click()
        assert fold.evaluate("d => d.open")
        expect(fold).to_contain_text("A long reply goes on here.", use_inner_text=True)
    finally:
        context.close()


def test_batch_grid_reads_without_javascript(browser, batch_report):
    path, fails, _ = batch_report
    context, page = open_offline(browser, path, javascript=False)
    try:
        assert not page.get_by_test_id("grid-tools").is_visible(), "the filters come with the script"
        assert page.evaluate("""() => [...document.querySelectorAll("[data-testid=grid-row]")]
            .filter((r) => getComputedStyle(r).display !== "none").length""") == 1000, "every row shows"
        assert page.get_by_test_id("summary").first.is_visible(), "the summary above the grid"
        row = page.locator("[data-testid=grid-row]").nth(fails[1])
        row.scroll_into_view_if_needed()  # rendered once in view (content-visibility): expect waits for the frame
        expect(row.locator("[data-testid=grid-badge]").filter(has_text="fail").first).to_be_visible()
        expect(row).to_contain_text("✗ icontains: Expected output to contain", use_inner_text=True)
        fold = page.locator("[data-testid=grid-row]").nth(3).locator("[data-testid=grid-fold]").first
        fold.locator("summary").click()  # folding is the browser's own
        expect(fold).to_contain_text("A long reply goes on here.", use_inner_text=True)
    finally:
        context.close()
