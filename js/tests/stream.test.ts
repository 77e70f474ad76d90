import { afterEach, describe, expect, it } from "vitest";
import { column, frame, mount } from "./fake-model";

afterEach(() => document.body.replaceChildren());

const stats = { new_tokens: 2, time_to_first_token: 0.05, tokens_per_second: 40, total_time: 0.1, finish_reason: "stop" };

describe("streaming", () => {
  it("deltas stream into the right column, drawn once per frame; turn_end finalises", async () => {
    const human = { role: "HUMAN" as const, content: "Hi", turn: 0 };
    const { model, q, qa, col } = mount({ columns: [column("c1", { history: [human] }), column("c2", { history: [human] })] });
    model.emit({ kind: "turn_start", column: "c2", turn: 0, prompt: "Hi" });
    expect(q("reply-streaming", col("c2"))).toBeTruthy();
    expect(q("reply-streaming", col("c1"))).toBeNull();

    model.emit({ kind: "delta", column: "c2", turn: 0, text: "Hello " });
    model.emit({ kind: "delta", column: "c2", turn: 0, text: "**there**" });
    expect(q("reply-streaming", col("c2")).textContent).toBe(""); // not re-rendered per delta
    await frame();
    expect(q("reply-streaming", col("c2")).textContent).toBe("Hello there");
    expect(q("reply-streaming", col("c2")).querySelector("strong")?.textContent).toBe("there");
    expect(col("c1").textContent).not.toContain("Hello");

    model.emit({ kind: "turn_end", column: "c2", turn: 0, text: "Hello there!", stats });
    expect(q("reply-streaming", col("c2"))).toBeNull();
    let bots = qa("message", col("c2")).filter((m) => m.dataset.role === "BOT");
    expect(bots).toHaveLength(1);
    expect(bots[0].textContent).toBe("Hello there!");
    expect(q("stats", col("c2")).textContent).toContain("40.0 tok/s");

    // The history entry arrives: the reply is shown once, from the history.
    const bot = { role: "BOT" as const, content: "Hello there!", turn: 0, stats };
    model.update("columns", [column("c1", { history: [human] }), column("c2", { history: [human, bot] })]);
    bots = qa("message", col("c2")).filter((m) => m.dataset.role === "BOT");
    expect(bots).toHaveLength(1);
    expect(col("c2").querySelector(".cz-stream")?.childElementCount).toBe(0);
  });

  it("does not duplicate the reply when the history arrives before turn_end", () => {
    const human = { role: "HUMAN" as const, content: "Hi", turn: 0 };
    const { model, qa, col } = mount({ columns: [column("c1", { history: [human] })] });
    model.emit({ kind: "turn_start", column: "c1", turn: 0, prompt: "Hi" });
    model.emit({ kind: "delta", column: "c1", turn: 0, text: "Yo" });
    model.update("columns", [column("c1", { history: [human, { role: "BOT", content: "Yo", turn: 0, stats }] })]);
    model.emit({ kind: "turn_end", column: "c1", turn: 0, text: "Yo", stats });
    expect(qa("message", col("c1")).map((m) => m.dataset.role)).toEqual(["HUMAN", "BOT"]);
    expect(qa("reply-streaming", col("c1"))).toHaveLength(0);
  });

  it("regenerate: the old reply for the turn does not hide the new stream", async () => {
    const human = { role: "HUMAN" as const, content: "Hi", turn: 0 };
    const old = { role: "BOT" as const, content: "Old", turn: 0, stats };
    const { model, q, qa, col } = mount({ columns: [column("c1", { history: [human, old] })] });
    model.emit({ kind: "turn_start", column: "c1", turn: 0, prompt: "Hi" }); // before the history drops `old`
    model.update("columns", [column("c1", { history: [human] })]);
    model.emit({ kind: "delta", column: "c1", turn: 0, text: "New" });
    await frame();
    expect(q("reply-streaming", col("c1")).textContent).toBe("New");
    model.emit({ kind: "turn_end", column: "c1", turn: 0, text: "New", stats });
    model.update("columns", [column("c1", { history: [human, { ...old, content: "New", stats: { ...stats, total_time: 0.3 } }] })]);
    const bots = qa("message", col("c1")).filter((m) => m.dataset.role === "BOT");
    expect(bots.map((b) => b.textContent)).toHaveLength(1);
    expect(bots[0].textContent).toContain("New");
  });

  it("turn_error shows in its column only", () => {
    const { model, q, qa, col } = mount({ columns: [column("c1"), column("c2")] });
    model.emit({ kind: "turn_start", column: "c1", turn: 0, prompt: "Hi" });
    model.emit({ kind: "turn_start", column: "c2", turn: 0, prompt: "Hi" });
    model.emit({ kind: "turn_error", column: "c1", turn: 0, message: "RuntimeError: boom" });
    expect(q("column-error", col("c1")).textContent).toBe("RuntimeError: boom");
    expect(qa("column-error", col("c2"))).toHaveLength(0);
    model.emit({ kind: "turn_end", column: "c1", turn: 0, text: "", stats: { finish_reason: "error", error: "RuntimeError: boom" } });
    expect(qa("column-error", col("c1"))).toHaveLength(1);
  });

  it("ignores messages for unknown columns and unknown kinds", () => {
    const { model, el } = mount({ columns: [column("c1")] });
    const before = el.innerHTML;
    model.emit({ kind: "turn_start", column: "nope", turn: 0, prompt: "x" });
    model.emit({ kind: "delta", column: "nope", turn: 0, text: "x" });
    model.emit({ kind: "turn_error", column: "nope", turn: 0, message: "x" });
    model.emit({ kind: "mystery", column: "c1", turn: 0 });
    expect(el.innerHTML).toBe(before);
  });

  it("shows the prompt from turn_start until the history has it", () => {
    const { model, qa, col } = mount({ columns: [column("c1")] });
    model.emit({ kind: "turn_start", column: "c1", turn: 0, prompt: "Early prompt" });
    expect(qa("message", col("c1")).map((m) => m.textContent)).toEqual(["Early prompt"]);
    model.update("columns", [column("c1", { history: [{ role: "HUMAN", content: "Early prompt", turn: 0 }] })]);
    expect(qa("message", col("c1")).map((m) => m.textContent)).toEqual(["Early prompt"]);
  });

  it("drops the stream when its column is removed", () => {
    const { model, col } = mount({ columns: [column("c1"), column("c2")] });
    model.emit({ kind: "turn_start", column: "c1", turn: 0, prompt: "x" });
    model.update("columns", [column("c2")]);
    expect(col("c1")).toBeNull();
    model.update("columns", [column("c1"), column("c2")]); // same id again: a new column, no stale bubble
    expect(col("c1").querySelector('[data-testid="reply-streaming"]')).toBeNull();
  });
});
