// Reply tools (issue 12): the Thinking block, the Prompt toggle, Continue with this reply, the edit pencil.
import { afterEach, describe, expect, it } from "vitest";
import { column, frame, mount } from "./fake-model";
import { promptNodes } from "../src/prompt-view";

afterEach(() => document.body.replaceChildren());

const stats = { new_tokens: 9, prompt_tokens: 12, reasoning_tokens: 5, finish_reason: "stop" };
const human = { role: "HUMAN" as const, content: "Capital of France?", turn: 0 };
const template = "<|im_start|>user\nCapital of France?<|im_end|>\n<|im_start|>assistant\n";

describe("thinking block", () => {
  it("streams the thinking live, collapsed above the answer, and keeps it open once opened", async () => {
    const { model, q, col } = mount({ columns: [column("c1", { history: [human] })] });
    model.emit({ kind: "turn_start", column: "c1", turn: 0, prompt: human.content });
    model.emit({ kind: "delta", column: "c1", turn: 0, text: "The user asks", part: "reasoning" });
    await frame();
    const block = () => q("thinking", col("c1")) as HTMLDetailsElement;
    expect(block().open).toBe(false);
    expect(q("thinking-title", col("c1")).textContent).toBe("Thinking…");
    expect(q("thinking-text", col("c1")).textContent).toBe("The user asks");
    expect(q("reply-streaming", col("c1")).textContent).toBe("");

    q("thinking-toggle", col("c1")).click(); // opened by the user: stays open through the next frames
    model.emit({ kind: "delta", column: "c1", turn: 0, text: " for a capital.", part: "reasoning" });
    model.emit({ kind: "delta", column: "c1", turn: 0, text: "Paris." });
    await frame();
    expect(block().open).toBe(true);
    expect(q("thinking-text", col("c1")).textContent).toBe("The user asks for a capital.");
    expect(q("reply-streaming", col("c1")).textContent).toBe("Paris.");
    // the thinking sits above the answer, outside the answer's own element
    const wrap = q("reply-streaming", col("c1")).parentElement!;
    expect(wrap.firstElementChild).toBe(block());

    const bot = { role: "BOT" as const, content: "Paris.", reasoning: "The user asks for a capital.", turn: 0, stats,
      rendered_prompt: template, prompt_tokens: 12 };
    model.emit({ kind: "turn_end", column: "c1", turn: 0, text: "Paris.", stats, reasoning: bot.reasoning });
    model.update("columns", [column("c1", { history: [human, bot] })]);
    expect(q("message", col("c1").querySelector(".cz-history")!)).toBeTruthy();
    expect(q("thinking-title", col("c1")).textContent).toBe("Thought · 5 tokens");
    expect(block().open).toBe(true);
    expect(q("stats", col("c1")).textContent).toContain("5 thinking");
  });

  it("marks a block that never closed as unfinished", () => {
    const bot = { role: "BOT" as const, content: "", reasoning: "Still going", reasoning_unfinished: true, turn: 0,
      stats: { ...stats, finish_reason: "length" } };
    const { q, col } = mount({ columns: [column("c1", { history: [human, bot] })] });
    expect(q("thinking", col("c1")).dataset.unfinished).toBe("true");
    expect(q("thinking-title", col("c1")).textContent).toBe("Thinking (unfinished)");
  });
});

describe("prompt toggle", () => {
  it("shows the exact prompt in monospace with its token count, special tokens marked, never as HTML", () => {
    const evil = template + "<img src=x onerror=alert(1)>";
    const bot = { role: "BOT" as const, content: "Paris.", turn: 0, stats, rendered_prompt: evil, prompt_tokens: 12 };
    const { q, col } = mount({ columns: [column("c1", { history: [human, bot] })] });
    expect(q("prompt-toggle", col("c1")).textContent).toBe("Prompt · 12 tokens");
    const pre = q("rendered-prompt", col("c1"));
    expect(pre.tagName).toBe("PRE");
    expect(pre.textContent).toBe(evil);
    expect(pre.querySelector("img")).toBeNull();
    expect(Array.from(pre.querySelectorAll(".cz-special-token")).map((s) => s.textContent))
      .toEqual(["<|im_start|>", "<|im_end|>", "<|im_start|>"]);
  });

  it("says the prompt is hidden while the arena is blind", () => {
    const bot = { role: "BOT" as const, content: "Paris.", turn: 0, stats, rendered_prompt: null, prompt_hidden: true };
    const { q, col } = mount({ columns: [column("c1", { history: [human, bot], blind: true })] });
    expect(q("rendered-prompt", col("c1"))).toBeNull();
    expect(q("rendered-prompt-hidden", col("c1")).textContent).toContain("Hidden until the vote");
  });

  it("splits text around special tokens", () => {
    expect(promptNodes("<s>[INST] hi [/INST]").map((n) => n.textContent)).toEqual(["<s>", "[INST]", " hi ", "[/INST]"]);
  });
});

describe("continue with this reply", () => {
  const reply = (content: string) => ({ role: "BOT" as const, content, turn: 0, stats });
  it("shows the button once the turn has a vote, and sends continue_with for its column", () => {
    const { model, q, qa, col } = mount({
      columns: [column("c1", { history: [human, reply("Paris.")] }), column("c2", { history: [human, reply("Lyon.")] })],
    });
    expect(qa("continue-with").filter((b) => !b.hidden)).toHaveLength(0);
    model.update("vote_state", { can_vote: true, turn: 0, current: "bot-c1", choices: ["bot-c1", "bot-c2", "tie", "bad"] });
    expect(qa("continue-with").filter((b) => !b.hidden)).toHaveLength(2);
    expect(q("continue-with", col("c2")).textContent).toBe("Continue with this reply");
    q("continue-with", col("c1")).click();
    expect(model.sent.at(-1)).toEqual({ kind: "continue_with", column: "c1" });
  });

  it("after continuing: a note, the replaced reply kept, no more buttons", () => {
    const own = reply("Lyon.");
    const continued = { ...reply("Paris."), continued_with: "bot-c1", alternatives: [own] };
    const { model, q, col } = mount({
      columns: [column("c1", { history: [human, { ...reply("Paris."), continued_with: "bot-c1", alternatives: [] }] }),
        column("c2", { history: [human, continued] })],
      vote_state: { can_vote: true, turn: 0, current: "bot-c1" },
    });
    model.update("vote_state", { can_vote: true, turn: 0, current: "bot-c1" });
    expect(q("continue-with", col("c2"))).toBeNull();
    expect(q("continued-note", col("c2")).textContent).toBe("Continued with bot-c1's reply");
    expect(q("continued-note", col("c1")).textContent).toBe("The conversation continues with this reply");
    expect(q("alternative-text", col("c2")).textContent).toBe("Lyon.");
    expect(q("alternative", col("c1"))).toBeNull();
  });
});

describe("edit pencil", () => {
  it("edits the last prompt in place and sends edit_last; Escape cancels; an empty prompt is not sent", () => {
    const history = [human, { role: "BOT" as const, content: "Paris.", turn: 0, stats },
      { role: "HUMAN" as const, content: "And Spain?", turn: 1 }, { role: "BOT" as const, content: "Madrid.", turn: 1, stats }];
    const { model, q, qa, col } = mount({ columns: [column("c1", { history })] });
    expect(qa("edit-prompt", col("c1"))).toHaveLength(1); // the last prompt only
    expect(q("last-prompt", col("c1")).querySelector('[data-testid="message"]')!.textContent).toBe("And Spain?");

    q("edit-prompt", col("c1")).click();
    const input = q("edit-input", col("c1")) as HTMLTextAreaElement;
    expect(input.value).toBe("And Spain?");
    input.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true }));
    expect(q("edit-input", col("c1"))).toBeNull();
    expect(q("last-prompt", col("c1"))).toBeTruthy();

    q("edit-prompt", col("c1")).click();
    const again = q("edit-input", col("c1")) as HTMLTextAreaElement;
    again.value = "  ";
    q("edit-send", col("c1")).click();
    expect(q("edit-note", col("c1")).textContent).toBe("Type the new prompt first");
    expect(model.sent.filter((m) => m.kind === "edit_last")).toHaveLength(0);
    again.value = "And Italy?";
    again.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
    expect(model.sent.at(-1)).toEqual({ kind: "edit_last", prompt: "And Italy?" });
  });

  it("has no pencil while the column answers", () => {
    const { qa, col } = mount({ columns: [column("c1", { history: [human], status: "generating" })] });
    expect(qa("edit-prompt", col("c1"))).toHaveLength(0);
  });
});
