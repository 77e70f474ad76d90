// Token probabilities under a reply (issue 21): bands, the toggle, the fetch on demand, the popover and the branch.
import { afterEach, describe, expect, it } from "vitest";
import { column, mount } from "./fake-model";
import { band, percent, placePopover, visible } from "../src/tokens";

afterEach(() => document.body.replaceChildren());

const human = { role: "HUMAN" as const, content: "Hi", turn: 0 };
const bot = { role: "BOT" as const, content: "Hello there", turn: 0, has_tokens: true,
  stats: { new_tokens: 2, finish_reason: "stop" } };
const tokens = {
  can_branch: true, why: null,
  tokens: [
    { token: "Hello", logprob: -0.01, id: 5, top_logprobs: [{ token: "Hello", logprob: -0.01, id: 5 }, { token: "Hi", logprob: -4.6, id: 6 }] },
    { token: " there", logprob: -2.3, id: 7, top_logprobs: [{ token: "!", logprob: -0.5, id: 8 }, { token: " there", logprob: -2.3, id: 7 }] },
  ],
};
const flush = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("token probabilities", () => {
  it("bands and labels", () => {
    expect([band(-0.01), band(Math.log(0.6)), band(Math.log(0.3)), band(Math.log(0.1)), band(-9999)]).toEqual([0, 1, 2, 3, 4]);
    expect(percent(-0.01)).toBe("99.0%");
    expect(percent(-9999)).toBe("< 0.01%");
    expect(visible(" a\n")).toBe("␣a↵");
  });

  it("the toggle fetches the tokens once, colours them, and an alternative's click sends branch", async () => {
    const { model, q, col } = mount({ columns: [column("c1", { history: [human, bot] })] });
    expect(col("c1").querySelector("[data-testid=tokens]")).toBeNull();
    q("tokens-toggle", col("c1")).click();
    expect(model.sent.at(-1)).toEqual({ kind: "entry_tokens", column: "c1", turn: 0 });
    model.answer({ ok: true, result: tokens }, "entry_tokens");
    await flush();
    const spans = Array.from(col("c1").querySelectorAll<HTMLElement>("[data-testid=token]"));
    expect(spans.map((s) => s.textContent)).toEqual(["Hello", " there"]);
    expect(spans.map((s) => s.dataset.band)).toEqual(["0", "3"]);
    expect(q("tokens-legend", col("c1"))).toBeTruthy();
    expect(col("c1").querySelector<HTMLElement>(".cz-history [data-role=BOT]")!.hidden).toBe(true);

    spans[1].dispatchEvent(new MouseEvent("mouseover", { bubbles: true }));
    const alts = Array.from(col("c1").querySelectorAll<HTMLButtonElement>("[data-testid=token-alternative]"));
    expect(alts.map((a) => a.textContent)).toEqual(["!60.7%", "␣there10.0%"]);
    expect(alts[1].disabled).toBe(true); // the picked token
    alts[0].click();
    expect(model.sent.at(-1)).toEqual({ kind: "branch", column: "c1", token_index: 1, token: 8, turn: 0 });

    // toggled off and on again: drawn from what was fetched, no second fetch
    const sent = model.sent.length;
    q("tokens-toggle", col("c1")).click();
    expect(col("c1").querySelector("[data-testid=tokens]")).toBeNull();
    q("tokens-toggle", col("c1")).click();
    await flush();
    expect(model.sent.length).toBe(sent);
    expect(col("c1").querySelectorAll("[data-testid=token]").length).toBe(2);
  });

  it("a branched reply says where it branched and keeps the old one folded", () => {
    const branched = { ...bot, content: "Hello!", branched_from: { token_index: 1, token: "!", replaced: " there" },
      alternatives: [{ ...bot }] };
    const { q, col } = mount({ columns: [column("c1", { history: [human, branched] })] });
    expect(q("branch-note", col("c1")).textContent).toBe("Branched at token 1: “!” in place of “␣there”");
    expect(q("branch-old-text", col("c1")).textContent).toContain("Hello there");
  });

  it("the popover opens to the left near the right edge, above near the bottom, and stays inside", () => {
    const bounds = { left: 0, top: 0, right: 400, bottom: 300 };
    const size = { width: 200, height: 120 };
    const at = (left: number, top: number, width = 30, height = 20) => ({ left, top, right: left + width, bottom: top + height });
    // room everywhere: under the token, from its left edge
    expect(placePopover(at(10, 10), size, bounds)).toEqual({ left: 10, top: 32, flipX: false, flipY: false, maxHeight: null });
    // near the right edge: it ends at the token's right edge
    expect(placePopover(at(350, 10, 40), size, bounds)).toEqual({ left: 190, top: 32, flipX: true, flipY: false, maxHeight: null });
    // near the bottom: above the token
    expect(placePopover(at(10, 250), size, bounds)).toEqual({ left: 10, top: 128, flipX: false, flipY: true, maxHeight: null });
    // both at once (the bottom-right corner)
    expect(placePopover(at(360, 270, 30), size, bounds)).toEqual({ left: 190, top: 148, flipX: true, flipY: true, maxHeight: null });
    // a token wider than the room to its left (a long token at the left of a narrow column): kept inside
    expect(placePopover(at(0, 10, 100), { width: 300, height: 50 }, { ...bounds, right: 250 }).left).toBe(0);
    // room for it whole on neither side: the larger side, scrolling, never over the token
    expect(placePopover(at(10, 100), { width: 50, height: 250 }, bounds)).toEqual(
      { left: 10, top: 122, flipX: false, flipY: false, maxHeight: 178 });
    expect(placePopover(at(10, 200), { width: 50, height: 250 }, bounds)).toEqual(
      { left: 10, top: 0, flipX: false, flipY: true, maxHeight: 198 });
  });

  it("hovering a token at the column's right edge draws the popover left of it, inside the window", async () => {
    const { model, q, col } = mount({ columns: [column("c1", { history: [human, bot] })] });
    q("tokens-toggle", col("c1")).click();
    model.answer({ ok: true, result: tokens }, "entry_tokens");
    await flush();
    // jsdom has no layout: the rectangles a 400 x 300 window would give, the tokens block at (20, 50)
    const rect = (left: number, top: number, width: number, height: number) =>
      ({ left, top, width, height, right: left + width, bottom: top + height, x: left, y: top, toJSON: () => ({}) }) as DOMRect;
    const real = Element.prototype.getBoundingClientRect;
    Element.prototype.getBoundingClientRect = function (this: Element) {
      if (this.matches(".cz-token-popover")) return rect(20, 50, 180, 90);
      if (this.matches(".cz-tokens")) return rect(20, 50, 370, 60);
      if (this.matches(".cz-token[data-index='1']")) return rect(340, 220, 50, 20);
      return rect(0, 0, 0, 0);
    };
    Object.defineProperty(window, "innerWidth", { value: 400, configurable: true });
    Object.defineProperty(window, "innerHeight", { value: 300, configurable: true });
    try {
      const spans = col("c1").querySelectorAll<HTMLElement>("[data-testid=token]");
      spans[1].dispatchEvent(new MouseEvent("mouseover", { bubbles: true }));
      const pop = q("token-popover", col("c1"));
      expect(pop.dataset.placement).toBe("above left");
      // ends at the token's right edge (390), above its top (220): in the block's coordinates
      expect([pop.style.left, pop.style.top, pop.style.width]).toEqual(["190px", "78px", "180px"]);
    } finally {
      Element.prototype.getBoundingClientRect = real;
      Object.defineProperty(window, "innerWidth", { value: 1024, configurable: true }); // jsdom's own
      Object.defineProperty(window, "innerHeight", { value: 768, configurable: true });
    }
  });
});
