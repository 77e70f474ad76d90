"""A 60-turn conversation in JupyterLab: the last turn renders like the first, and what the browser receives over
the kernel's websocket during turn 60 is about what it received during turn 1 (each reply crosses once as deltas
and once as its entry; the history is never re-sent)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from test_compare_browser import KERNEL_EXEC_JS, SETUP, bot_messages, column, widget

pytestmark = pytest.mark.browser

TURNS = 60
CELL = SETUP + """\
def reply(query):
    n = sum(m["role"] == "HUMAN" for m in query)
    return f"**Turn {n}** answer: " + " ".join(f"word{i}" for i in range(60)) + f" and `code {n}`."
w = ChatZooWidget([ScriptedBOT("alpha", reply=reply), ScriptedBOT("beta", reply=reply)], settings={"max_new_tokens": 200})
w"""


def run_in_kernel(page, code: str) -> None:
    result = page.evaluate(KERNEL_EXEC_JS, code)
    assert not result["err"], result["err"]


def shape(html: str) -> str:
    """A reply's markup with its numbers (turn, timings, token counts) taken out."""
    return re.sub(r"\d+(\.\d+)?", "N", html)


@pytest.mark.timeout(240, method="signal")
def test_sixty_turns_render_alike_and_turn_sixty_costs_what_turn_one_did(page, open_notebook):
    received: list[int] = []  # bytes of every websocket frame the page receives (the kernel's messages)
    page.on("websocket", lambda ws: ws.on("framereceived",
                                          lambda payload: received.append(len(payload) if payload else 0)))
    open_notebook([CELL])
    root = widget(page)
    alpha = column(page, "alpha")

    def one_turn(n: int) -> int:
        mark = len(received)
        run_in_kernel(page, f"w.send('prompt {n}', wait=True, timeout=30); w.wait(10)")
        expect(bot_messages(alpha)).to_have_count(n, timeout=20_000)
        expect(bot_messages(column(page, "beta"))).to_have_count(n, timeout=20_000)
        expect(bot_messages(alpha).nth(n - 1)).to_contain_text(f"code {n}", timeout=20_000)
        return sum(received[mark:])

    first_bytes = one_turn(1)
    run_in_kernel(page, f"for i in range(2, {TURNS}):\n    w.send(f'prompt {{i}}', wait=True, timeout=30)\nw.wait(10)")
    expect(bot_messages(alpha)).to_have_count(TURNS - 1, timeout=60_000)
    last_bytes = one_turn(TURNS)
    # Before the column models, turn 60 received hundreds of times turn 1's bytes (the whole history each sync).
    assert last_bytes <= 3 * first_bytes, (first_bytes, last_bytes)

    first, last = bot_messages(alpha).first, bot_messages(alpha).last
    expect(first.locator("strong")).to_have_text("Turn 1")
    expect(last.locator("strong")).to_have_text(f"Turn {TURNS}")
    expect(last.locator("code")).to_have_text(f"code {TURNS}")
    assert shape(last.evaluate("el => el.outerHTML")) == shape(first.evaluate("el => el.outerHTML"))
    replies = alpha.locator(".cz-reply")
    for reply in (replies.first, replies.last):
        expect(reply.locator("[data-testid=stats]")).to_contain_text("tok/s")
        expect(reply.locator("[data-testid=thumb-up]")).to_have_count(1)
        expect(reply.locator("[data-testid=prompt-toggle]")).to_have_count(1)
    # Every turn is on screen once, in order; nothing is streaming any more.
    humans = alpha.locator("[data-testid=message][data-role=HUMAN]")
    expect(humans).to_have_count(TURNS)
    expect(humans.last).to_have_text(f"prompt {TURNS}")
    expect(root.locator("[data-testid=reply-streaming]")).to_have_count(0)
    # The rendered prompt is fetched when its block opens (it is not synced): the last turn's holds the whole chat.
    replies.last.locator("[data-testid=prompt-toggle]").click()
    expect(replies.last.locator("[data-testid=rendered-prompt]")).to_contain_text("prompt 1", timeout=10_000)
    expect(replies.last.locator("[data-testid=rendered-prompt]")).to_contain_text(f"prompt {TURNS}")
