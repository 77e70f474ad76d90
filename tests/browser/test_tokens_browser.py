"""Token probabilities in a real browser (issue 21 item 2): the Tokens toggle colours a reply's tokens with a legend,
hovering (or focusing) a token shows its alternatives, clicking one branches the reply, and the colours keep the
text readable on JupyterLab's light and dark themes. JupyterLab + headless Chromium (conftest.py's fixtures), a
tiny random chat model with logprobs on; selectors are the data-testid names of js/README.md."""

from __future__ import annotations

import pytest
from playwright.sync_api import Locator, Page, expect

from test_compare_browser import kernel_json, tid, widget
from test_theme_browser import CONTRAST_JS, _set_theme

pytestmark = pytest.mark.browser

MAX_NEW = 8
REPLY_MS = 60_000


def setup(tiny_models) -> list[str]:
    settings = {"max_new_tokens": MAX_NEW, "do_sample": False, "logprobs": True, "top_logprobs": 4}
    return ["import os\nos.environ['HF_HUB_OFFLINE'] = '1'\nfrom chatzoo_widget import ChatZooWidget",
            f"w = ChatZooWidget([{{'name': 'tiny', 'model': {str(tiny_models / 'chat')!r}, 'type': 'chat', "
            f"'settings': {settings!r}, 'load_options': {{'compile': False}}}}])\nw"]


def ask(page: Page) -> tuple[Locator, list[dict]]:
    root = widget(page)
    expect(tid(root, "column-status")).to_have_text("ready", timeout=REPLY_MS)
    box = tid(root, "prompt")
    box.fill("Tell me about zebras.")
    box.press("Enter")
    replies = root.locator(".cz-history [data-testid=message][data-role=BOT]")
    expect(replies).to_have_count(1, timeout=REPLY_MS)
    expect(tid(root, "column-status")).to_have_text("ready", timeout=REPLY_MS)
    return root, kernel_json(page, "w.entries['tiny'][-1]['tokens']")


def band_of(logprob: float) -> int:
    p = 2.718281828459045 ** logprob
    return next(i for i, low in enumerate((0.9, 0.5, 0.2, 0.05, 0)) if p >= low)


@pytest.mark.timeout(240, method="signal")
def test_toggle_colours_tokens_hover_shows_alternatives_and_a_click_branches(open_notebook, tiny_models):
    page = open_notebook(setup(tiny_models))
    root, tokens = ask(page)
    assert len(tokens) == MAX_NEW
    toggle = tid(root, "tokens-toggle")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    expect(tid(root, "tokens")).to_have_count(0)  # nothing fetched or drawn until asked for
    toggle.click()
    spans = tid(tid(root, "tokens"), "token")
    expect(spans).to_have_count(MAX_NEW, timeout=20_000)  # fetched on demand (entry_tokens)
    assert spans.all_text_contents() == [t["token"] or "∅" for t in tokens]
    assert [int(b) for b in spans.evaluate_all("els => els.map(e => e.dataset.band)")] == \
        [band_of(t["logprob"]) for t in tokens]
    expect(tid(root, "tokens-legend")).to_be_visible()
    expect(tid(root, "tokens-legend")).to_contain_text("≥ 90%")
    expect(root.locator(".cz-history [data-testid=message][data-role=BOT]")).to_be_hidden()  # the tokens stand in
    # the bands really are coloured differently
    colours = spans.evaluate_all("els => els.map(e => getComputedStyle(e).backgroundColor)")
    by_band = {b: c for b, c in zip(spans.evaluate_all("els => els.map(e => e.dataset.band)"), colours)}
    assert len(set(by_band.values())) == len(by_band), by_band

    # hover: the alternatives with their probabilities, the picked token marked
    k = 3
    spans.nth(k).hover()
    popover = tid(root, "token-popover")
    expect(popover).to_be_visible()
    alts = tid(popover, "token-alternative")
    expect(alts).to_have_count(len(tokens[k]["top_logprobs"]))
    expect(alts.first).to_have_attribute("aria-current", "true")  # greedy: the picked token is the likeliest
    expect(alts.first).to_be_disabled()
    expect(alts.nth(1)).to_contain_text("%")

    # keyboard: focusing a token shows its popover too, and Escape closes it
    page.mouse.move(0, 0)
    expect(popover).to_be_hidden(timeout=5_000)
    spans.nth(1).focus()
    expect(tid(root, "token-popover")).to_be_visible()
    page.keyboard.press("ArrowDown")  # into the alternatives
    assert page.evaluate("() => document.activeElement.dataset.testid") == "token-alternative"
    page.keyboard.press("Escape")
    expect(tid(root, "token-popover")).to_be_hidden()

    # click an alternative: the reply branches there, the old one is kept
    old_content = kernel_json(page, "w.entries['tiny'][-1]['content']")
    spans.nth(k).hover()
    eos = set(kernel_json(page, "sorted(w.manager.get('tiny').bot.eos_token_ids({}))"))
    pick = next(i for i, a in enumerate(tokens[k]["top_logprobs"]) if i and a["id"] not in eos)
    chosen = tokens[k]["top_logprobs"][pick]
    tid(tid(root, "token-popover"), "token-alternative").nth(pick).click()
    expect(tid(root, "branch-note")).to_contain_text(f"Branched at token {k}", timeout=REPLY_MS)
    expect(tid(root, "column-status")).to_have_text("ready", timeout=REPLY_MS)
    new = kernel_json(page, "w.entries['tiny'][-1]")
    assert [t["id"] for t in new["tokens"][:k]] == [t["id"] for t in tokens[:k]]
    assert new["tokens"][k]["id"] == chosen["id"]
    assert new["alternatives"][0]["content"] == old_content and new["branched_from"]["token_index"] == k
    # the toggle stays on for the new reply: its tokens, with the chosen one in place
    spans = tid(tid(root, "tokens"), "token")
    expect(spans).to_have_count(len(new["tokens"]), timeout=20_000)
    expect(spans.nth(k)).to_have_text(chosen["token"] or "∅")
    old = tid(root, "branch-old")
    expect(old).to_be_visible()
    old.locator("summary").click()
    expect(tid(old, "branch-old-text")).to_have_text(old_content.strip())
    expect(root.locator(".cz-history [data-testid=message][data-role=BOT]")).to_have_count(1)


@pytest.mark.timeout(240, method="signal")
def test_token_colours_stay_readable_on_light_and_dark_themes(open_notebook, tiny_models):
    page = open_notebook(setup(tiny_models))
    root, _ = ask(page)
    tid(root, "tokens-toggle").click()
    expect(tid(tid(root, "tokens"), "token")).to_have_count(MAX_NEW, timeout=20_000)
    swatches = root.locator("[data-testid=tokens-legend] .cz-legend-swatch")  # one of every band, whatever the reply
    expect(swatches).to_have_count(5)
    found = {}
    for theme in ("JupyterLab Light", "JupyterLab Dark"):
        _set_theme(page, theme)
        found[theme] = [swatches.nth(i).evaluate(CONTRAST_JS) for i in range(5)]
        found[theme] += tid(tid(root, "tokens"), "token").evaluate_all(
            f"els => els.map({CONTRAST_JS})")
        low = [c for c in found[theme] if c["ratio"] < 4.5]
        assert not low, f"{theme}: token text below contrast 4.5: {low}"
    # the colours follow the theme: light text on the dark theme's tints
    assert sum(found["JupyterLab Dark"][4]["fg"]) > 500 and sum(found["JupyterLab Light"][4]["fg"]) < 250


POPOVER_GEOMETRY_JS = """pop => {
  const r = (e) => { const b = e.getBoundingClientRect(); return {left: b.left, top: b.top, right: b.right, bottom: b.bottom}; };
  const token = pop.parentElement.querySelector(`.cz-token[data-index="${pop.dataset.index}"]`);
  // what can be seen: the window, cut by every ancestor that clips (the notebook's scrolling panel)
  const seen = {left: 0, top: 0, right: document.documentElement.clientWidth, bottom: document.documentElement.clientHeight};
  const clips = [];
  // (the body's overflow applies to the window itself)
  for (let a = pop.parentElement; a && a !== document.documentElement && a !== document.body; a = a.parentElement) {
    const s = getComputedStyle(a);
    if (s.overflowX === 'visible' && s.overflowY === 'visible') continue;
    const b = r(a);
    clips.push({name: a.className.toString().slice(0, 60) || a.tagName, ...b});
    seen.left = Math.max(seen.left, b.left); seen.top = Math.max(seen.top, b.top);
    seen.right = Math.min(seen.right, b.right); seen.bottom = Math.min(seen.bottom, b.bottom);
  }
  return {pop: r(pop), token: r(token), seen, placement: pop.dataset.placement, clips, natural: pop.scrollHeight};
}"""


@pytest.mark.timeout(240, method="signal")
def test_the_popover_of_a_token_at_the_right_and_bottom_edges_stays_in_a_narrow_window(open_notebook, tiny_models):
    page = open_notebook(setup(tiny_models))
    root, _ = ask(page)
    tid(root, "tokens-toggle").click()
    spans = tid(tid(root, "tokens"), "token")
    expect(spans).to_have_count(MAX_NEW, timeout=20_000)
    page.evaluate("() => window.jupyterapp.shell.collapseLeft()")  # the notebook takes the narrow window's width
    page.set_viewport_size({"width": 340, "height": 560})
    rights = spans.evaluate_all("els => els.map(e => e.getBoundingClientRect().right)")
    k = max(range(len(rights)), key=lambda i: rights[i])  # the token nearest the column's right edge
    spans.nth(k).evaluate("e => e.scrollIntoView({block: 'end', inline: 'nearest'})")  # at the bottom of the view
    spans.nth(k).hover()
    popover = tid(root, "token-popover")
    expect(popover).to_be_visible()
    g = popover.evaluate(POPOVER_GEOMETRY_JS)
    pop, token, seen = g["pop"], g["token"], g["seen"]
    width = pop["right"] - pop["left"]
    # opened under the token from its left edge, it would have been cut off on the right and at the bottom
    assert token["left"] + width > seen["right"] and token["bottom"] + g["natural"] > seen["bottom"], g
    assert g["placement"] == "above left", g
    assert seen["left"] - 0.5 <= pop["left"] and pop["right"] <= seen["right"] + 0.5, g  # inside what is seen
    assert seen["top"] - 0.5 <= pop["top"] and pop["bottom"] <= seen["bottom"] + 0.5, g
    assert pop["bottom"] <= token["top"] and pop["left"] < token["right"] and pop["right"] > token["left"], g  # over it
    # where the column's replies leave less room above than it needs, it scrolls rather than cover the token
    assert pop["bottom"] - pop["top"] < g["natural"], g
    last = tid(popover, "token-alternative").last
    last.scroll_into_view_if_needed()
    last.hover()  # the mouse reaches every alternative
    expect(popover).to_be_visible()
    box = last.bounding_box()
    assert box and seen["top"] - 0.5 <= box["y"] and box["y"] + box["height"] <= seen["bottom"] + 0.5
