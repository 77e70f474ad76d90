"""One comparison driven as a user would, in any host that renders the widget (marimo, Voila, JupyterLab).

The host tests start their server, open the page and hand the widget's root here: type a prompt, watch a column
stream, press Stop, change a setting, send again, vote. Selectors follow js/README.md's DOM contract.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Iterator
from urllib.parse import urlparse

from playwright.sync_api import Browser, Locator, Page, expect

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

# The notebook the host serves shows ChatZooWidget([ScriptedBOT("slow", reply=SLOW, delay=0.2),
# ScriptedBOT("quick", reply=QUICK)]): "slow" streams for about 12 s unless stopped.
SLOW = " ".join(f"w{i}" for i in range(60))
QUICK = "short answer here"
WIDGET_CODE = (f"ChatZooWidget([ScriptedBOT('slow', reply={SLOW!r}, delay=0.2), "
               f"ScriptedBOT('quick', reply={QUICK!r})])")


def column(root: Locator, name: str) -> Locator:
    exact = re.compile(rf"^\s*{re.escape(name)}\s*$")
    return root.locator("[data-testid=column]").filter(
        has=root.page.locator("[data-testid=column-name]", has_text=exact))


def bot_messages(col: Locator) -> Locator:
    return col.locator("[data-testid=message][data-role=BOT]")


def drive_comparison(root: Locator) -> None:
    """Prompt, streaming, Stop, a setting, a second prompt under it, a vote: each checked as the user sees it."""
    slow, quick = column(root, "slow"), column(root, "quick")
    for col in (slow, quick):
        expect(col).to_have_attribute("data-status", "ready", timeout=30_000)

    # a prompt streams into both columns
    box = root.locator("[data-testid=prompt]")
    box.fill("talk for a while")
    box.press("Enter")
    expect(slow.locator("[data-testid=reply-streaming]")).to_contain_text("w3", timeout=15_000)
    expect(slow).to_have_attribute("data-status", "generating")
    expect(bot_messages(quick)).to_have_text([QUICK], timeout=15_000)

    # Stop cuts the slow reply short and keeps what arrived
    root.locator("[data-testid=stop-all]").click()
    expect(slow).to_have_attribute("data-status", "ready", timeout=8_000)
    expect(bot_messages(slow)).to_have_count(1, timeout=5_000)
    words = bot_messages(slow).first.inner_text().split()
    assert words[:4] == ["w0", "w1", "w2", "w3"] and len(words) < 60, words

    # a setting changed in the panel applies to the next reply
    quick.locator("[data-testid=settings-toggle]").click()
    value = quick.locator("[data-testid=setting][data-name=max_new_tokens] [data-testid=setting-value]")
    expect(value).to_be_visible(timeout=5_000)
    value.fill("2")
    value.press("Enter")
    expect(value).to_have_value("2", timeout=5_000)
    root.page.wait_for_timeout(500)  # the setting's command answers before the next prompt goes (kernel order)
    box.fill("again")
    box.press("Enter")
    expect(bot_messages(quick)).to_have_text([QUICK, "short answer"], timeout=15_000)
    root.locator("[data-testid=stop-all]").click()
    expect(slow).to_have_attribute("data-status", "ready", timeout=8_000)

    # a vote for a column highlights that choice
    choice = root.locator("[data-testid=vote-choice][data-choice=quick]")
    expect(choice).to_be_visible(timeout=10_000)
    choice.click()
    expect(choice).to_have_attribute("data-active", "true", timeout=5_000)


@contextlib.contextmanager
def host_page(browser: Browser, base: str, name: str, blocked: tuple[str, ...] = ()) -> Iterator[Page]:
    """A fresh page for a host server at `base` (not JupyterLab, so conftest's `page` does not fit): fails when the
    page raised an uncaught error or asked for a URL off that server; a screenshot lands in test-artifacts/ on
    failure. `blocked`: URL prefixes the host itself links (a CDN) that are aborted and not counted."""
    host = urlparse(base).netloc
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    context.set_default_timeout(20_000)
    page = context.new_page()
    page_errors: list[str] = []
    foreign: list[str] = []
    for prefix in blocked:
        page.route(f"{prefix}**", lambda route: route.abort())

    def on_request(req) -> None:
        u = urlparse(req.url)
        if u.scheme not in ("data", "blob", "about") and u.netloc != host and not req.url.startswith(blocked):
            foreign.append(req.url)

    page.on("request", on_request)
    page.on("pageerror", lambda exc: page_errors.append(str(exc)[:1500]))
    try:
        yield page
        assert not page_errors, f"uncaught errors in the page: {page_errors}"
        assert not foreign, f"the page requested URLs off the server: {foreign}"
    except BaseException:
        ARTIFACTS.mkdir(exist_ok=True)
        with contextlib.suppress(Exception):
            page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        raise
    finally:
        context.close()
