// Token probabilities under a reply (issue 21): bands, the toggle, the fetch on demand, the popover and the branch.
import { afterEach, describe, expect, it } from "vitest";
import { column, mount } from "./fake-model";
import { band, percent, visible } from "../src/tokens";

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
});
