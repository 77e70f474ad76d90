"""The standalone report opened from disk in Chromium, with every request but the file itself refused.

A reader sees every column, the page asks for nothing, no payload a model wrote runs (neither a dialog nor a
window flag), a 1 MB reply loads, the column filter works, and without JavaScript the page reads the same. The
widget's "Download report" button in JupyterLab saves the same report.
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
