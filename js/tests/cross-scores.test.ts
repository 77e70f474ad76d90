// The Cross-scores panel's drawing (cross-scores.ts): the matrix and the disputed tokens from a record.
import { afterEach, describe, expect, it } from "vitest";
import { CrossScoresPanel, disputedList, isCrossScoresMessage, matrixTable } from "../src/cross-scores";
import type { CrossScores } from "../src/records";

afterEach(() => document.body.replaceChildren());

const record: CrossScores = {
  conversation: "c", turn: 0, replies: ["a", "b", "s"],
  scorers: [
    { name: "a", columns: ["a", "a2"], error: null },
    { name: "b", columns: ["b"], error: null },
    { name: "s", columns: ["s"], error: "cannot score: ScriptedBOT has no local model" },
  ],
  scores: [
    { scorer: "a", reply: "a", tokens: 4, mean_logprob: -1.234, total_logprob: -4.936, retokenised: false, error: null },
    { scorer: "a", reply: "b", tokens: 5, mean_logprob: -3.5, total_logprob: -17.5, retokenised: true, error: null },
    { scorer: "a", reply: "s", tokens: 2, mean_logprob: -2, total_logprob: -4, retokenised: true, error: null },
    { scorer: "b", reply: "a", tokens: 3, mean_logprob: -4, total_logprob: -12, retokenised: true, error: null },
    { scorer: "b", reply: "b", tokens: 6, mean_logprob: -0.5, total_logprob: -3, retokenised: true, error: null },
    { scorer: "b", reply: "s", tokens: null, mean_logprob: null, total_logprob: null, retokenised: null, error: "cannot score: boom" },
  ],
  disputed: [{ reply: "a", start: 0, end: 2, text: "Hi", logprobs: [-0.5, -6, null], spread: 5.5 }],
};

describe("cross-scores", () => {
  it("draws a scorer x reply matrix with the totals in the titles and the reason of a scorer that cannot", () => {
    const table = matrixTable(record);
    const cells = [...table.querySelectorAll<HTMLElement>("[data-testid=cross-scores-cell]")];
    expect(cells.map((c) => `${c.dataset.scorer}/${c.dataset.reply}=${c.textContent}`)).toEqual(
      ["a/a=-1.23", "a/b=-3.50", "a/s=-2.00", "b/a=-4.00", "b/b=-0.50", "b/s=–"]);
    expect(cells[0].title).toBe("total -4.94 over 4 tokens (its own generated tokens)");
    expect(cells[1].title).toContain("re-tokenised by the scorer");
    expect(cells[5].title).toBe("cannot score: boom");
    expect(table.querySelector("[data-testid=cross-scores-cannot]")?.textContent).toBe("cannot score: ScriptedBOT has no local model");
    expect(table.querySelector("tbody th")?.textContent).toBe("a (+1)"); // two columns share the model
  });

  it("lists each reply's disputed tokens with every scorer's log-probability on hover", () => {
    const list = disputedList(record);
    const items = list.querySelectorAll("[data-testid=cross-scores-disputed]");
    expect(items).toHaveLength(1);
    const token = list.querySelector<HTMLElement>("[data-testid=cross-scores-token]")!;
    expect(token.textContent).toBe("“Hi” (±5.5) ");
    expect(token.title).toBe("a: -0.50 · b: -6.00");
  });

  it("shows a record message in the panel, and a failure as text", () => {
    const panel = new CrossScoresPanel({ listen: () => undefined, invoke: (() => Promise.resolve({ turn: 0 })) as never });
    expect(panel.el.hidden).toBe(true);
    const msg = { kind: "cross_scores", turn: 0, record, error: null };
    expect(isCrossScoresMessage(msg)).toBe(true);
    panel.show(msg as never);
    expect(panel.el.hidden).toBe(false);
    expect(panel.el.querySelectorAll("[data-testid=cross-scores-cell]")).toHaveLength(6);
    panel.show({ kind: "cross_scores", turn: 0, record: null, error: "nothing to score" });
    expect(panel.el.querySelector("[data-testid=cross-scores-status]")?.textContent).toBe("Scoring failed: nothing to score");
  });
});
