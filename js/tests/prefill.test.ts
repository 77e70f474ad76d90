import { afterEach, describe, expect, it } from "vitest";
import { prefillText } from "../src/prefill";
import { column, frame, mount } from "./fake-model";

afterEach(() => document.body.replaceChildren());

const human = { role: "HUMAN" as const, content: "a very long prompt", turn: 0 };

function twoColumns() {
  return mount({
    columns: [column("c1", { history: [human], status: "generating" }), column("c2", { history: [human], status: "generating" })],
  });
}

describe("reading the prompt", () => {
  it("says how many tokens, and how far where the model reads in chunks", () => {
    expect(prefillText({ promptTokens: 5123, done: 2050, server: false })).toBe("Reading the prompt: 5,123 tokens (40%)");
    expect(prefillText({ promptTokens: 5123, done: 5123, server: false })).toBe("Reading the prompt: 5,123 tokens (100%)");
    expect(prefillText({ promptTokens: 5123, done: null, server: false })).toBe("Reading the prompt: 5,123 tokens");
    expect(prefillText({ promptTokens: 1, done: null, server: false })).toBe("Reading the prompt: 1 token");
    expect(prefillText({ promptTokens: null, done: null, server: true })).toBe("Waiting for the server…");
  });

  it("shows in its own column from the first prefill event until the first text", async () => {
    const { model, q, col } = twoColumns();
    model.emit({ kind: "turn_start", column: "c1", turn: 0, prompt: human.content });
    expect(q("column-prefill", col("c1"))).toBeNull(); // a short prompt gets no line at all
    model.emit({ kind: "prefill", column: "c1", turn: 0, prompt_tokens: 5123, done: 0 });
    const line = q("column-prefill", col("c1"));
    expect(line.textContent).toBe("Reading the prompt: 5,123 tokens (0%)");
    expect(line.getAttribute("role")).toBe("status");
    model.emit({ kind: "prefill", column: "c1", turn: 0, prompt_tokens: 5123, done: 2050 });
    expect(q("column-prefill", col("c1")).textContent).toBe("Reading the prompt: 5,123 tokens (40%)");
    expect(q("column-prefill", col("c2"))).toBeNull();
    expect(q("reply-streaming", col("c1"))).toBeTruthy(); // the reply's bubble waits under the line

    model.emit({ kind: "delta", column: "c1", turn: 0, text: "Hello" });
    await frame();
    expect(q("column-prefill", col("c1"))).toBeNull();
    expect(q("reply-streaming", col("c1")).textContent).toBe("Hello");
    model.emit({ kind: "prefill", column: "c1", turn: 0, prompt_tokens: 5123, done: 5123 }); // late: ignored
    await frame();
    expect(q("column-prefill", col("c1"))).toBeNull();
  });

  it("goes when a reply stopped while reading ends", () => {
    const { model, q, col } = twoColumns();
    model.emit({ kind: "turn_start", column: "c1", turn: 0, prompt: human.content });
    model.emit({ kind: "prefill", column: "c1", turn: 0, prompt_tokens: 800, done: null });
    expect(q("column-prefill", col("c1")).textContent).toBe("Reading the prompt: 800 tokens");
    model.emit({ kind: "turn_end", column: "c1", turn: 0, text: "", stats: { new_tokens: 0, finish_reason: "cancelled" } });
    expect(q("column-prefill", col("c1"))).toBeNull();
  });

  it("a remote column waits for the server", () => {
    const { model, q, col } = twoColumns();
    model.emit({ kind: "turn_start", column: "c2", turn: 0, prompt: human.content });
    model.emit({ kind: "prefill", column: "c2", turn: 0, prompt_tokens: null, done: null, server: true });
    expect(q("column-prefill", col("c2")).textContent).toBe("Waiting for the server…");
  });
});
