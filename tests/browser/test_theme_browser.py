"""The widget follows the notebook's theme: JupyterLab's light and dark themes, and a host that paints outputs
white whatever its theme (VS Code). The main elements' text must stand out from what is behind it: WCAG contrast
ratio >= 4.5 (relative luminance, background layers composited up to the first opaque one).

Screenshots of both themes land in test-artifacts/ (not committed) for a look by eye.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from host_drive import ARTIFACTS, bot_messages, column

pytestmark = pytest.mark.browser

SETUP = """\
import os
os.environ["HF_HUB_OFFLINE"] = "1"
from chatzoo_widget import ChatZooWidget
from chatzoo_widget.testing import ScriptedBOT
w = ChatZooWidget([ScriptedBOT("alpha", reply="Paris is the **capital** of France."),
                   ScriptedBOT("beta", reply="It is Paris."), ScriptedBOT("broken", fail_after=1)])
w
"""

# (what, selector inside the widget): the text a user reads most
MAIN = [
    ("widget text", "[data-testid=chatzoo]"),
    ("column name", "[data-testid=column-name]"),
    ("column model", "[data-testid=column-model]"),
    ("prompt bubble", "[data-testid=message][data-role=HUMAN]"),
    ("reply", "[data-testid=message][data-role=BOT]"),
    ("statistics", "[data-testid=stats]"),
    ("column error", "[data-testid=column-error]"),
    ("prompt box", "[data-testid=prompt]"),
    ("system prompt", "[data-testid=system-prompt]"),
    ("Send button", "[data-testid=send]"),
    ("Clear button", "[data-testid=clear]"),
    ("vote button", "[data-testid=vote-choice]"),
]

CONTRAST_JS = """(el) => {
  // rgb()/rgba() in 0-255; color(srgb r g b / a) (what color-mix computes to) in 0-1
  const parse = (c) => { const m = c.match(/[\\d.]+/g) || []; if (m.length < 3) return null;
    const k = c.startsWith('color(') ? 255 : 1;
    return [m[0] * k, m[1] * k, m[2] * k, m.length > 3 ? +m[3] : 1]; };
  const over = (top, bottom) => { const a = top[3]; return [0, 1, 2].map(i => top[i] * a + bottom[i] * (1 - a)); };
  // the layers behind the text, from the element up to the first opaque one (the page is white under all)
  const layers = [];
  for (let node = el; node; node = node.parentElement) {
    const bg = parse(getComputedStyle(node).backgroundColor);
    if (bg && bg[3] > 0) { layers.push(bg); if (bg[3] >= 1) break; }
  }
  let back = [255, 255, 255];
  for (const layer of layers.reverse()) back = over(layer, back);
  const fg = over(parse(getComputedStyle(el).color), back);
  const lum = (rgb) => { const [r, g, b] = rgb.map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 :
    Math.pow((v + 0.055) / 1.055, 2.4); }); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const [l1, l2] = [lum(fg), lum(back)].sort((a, b) => b - a);
  return {ratio: (l1 + 0.05) / (l2 + 0.05), fg: fg.map(Math.round), bg: back.map(Math.round)};
}"""


def _contrasts(page: Page) -> dict[str, dict]:
    root = page.locator(".jp-OutputArea-output [data-testid=chatzoo]").first
    out = {}
    for what, selector in MAIN:
        target = root if selector == "[data-testid=chatzoo]" else root.locator(selector).first
        out[what] = target.evaluate(CONTRAST_JS)
    return out


def _set_theme(page: Page, theme: str) -> None:
    page.evaluate("(t) => { window.jupyterapp.commands.execute('apputils:change-theme', {theme: t}); }", theme)
    page.wait_for_function("(t) => document.body.dataset.jpThemeName === t", arg=theme, timeout=20_000)
    page.wait_for_timeout(500)  # the theme's stylesheet applies after the attribute changes


def _check(page: Page, label: str) -> dict[str, dict]:
    found = _contrasts(page)
    low = {what: c for what, c in found.items() if c["ratio"] < 4.5}
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator(".jp-OutputArea-output [data-testid=chatzoo]").first.screenshot(
        path=str(ARTIFACTS / f"theme_{label}.png"))
    assert not low, f"{label}: text below contrast 4.5: {low}"
    return found


@pytest.mark.timeout(150, method="signal")
def test_light_and_dark_themes_keep_the_text_readable(open_notebook):
    page = open_notebook([SETUP])
    root = page.locator(".jp-OutputArea-output [data-testid=chatzoo]").first
    for name in ("alpha", "beta", "broken"):
        expect(column(root, name)).to_have_attribute("data-status", "ready", timeout=20_000)
    box = root.locator("[data-testid=prompt]")
    box.fill("What is the capital of France?")
    box.press("Enter")
    expect(bot_messages(column(root, "beta"))).to_have_text(["It is Paris."], timeout=20_000)
    expect(root.locator("[data-testid=column-error]").first).to_be_visible(timeout=20_000)
    expect(root.locator("[data-testid=vote-choice]").first).to_be_visible(timeout=10_000)

    _set_theme(page, "JupyterLab Light")
    light = _check(page, "light")
    _set_theme(page, "JupyterLab Dark")
    dark = _check(page, "dark")
    # it really follows the theme: dark text on light, light text on dark
    assert sum(light["reply"]["bg"]) > 600 and sum(dark["reply"]["bg"]) < 200, (light["reply"], dark["reply"])

    # a host that paints outputs white whatever the theme (VS Code): the widget paints its own background
    page.evaluate("""() => { for (const el of document.querySelectorAll('.jp-OutputArea-output'))
        el.style.setProperty('background', '#ffffff', 'important'); }""")
    _check(page, "dark_on_white")
