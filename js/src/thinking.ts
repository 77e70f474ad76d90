// The "Thinking" block of a reasoning model's reply: collapsed above the answer, streaming live while the model
// thinks. Python sends the thinking apart from the answer (history `reasoning`, deltas with part "reasoning"),
// so the answer's `message` element holds the answer alone.
import { disclosure, type OpenState } from "./disclosure";
import { h } from "./dom";
import { renderMarkdown } from "./markdown";

export interface ThinkingView {
  text: string;
  /** Still thinking (the reply streams and no answer has come yet). */
  live: boolean;
  /** The block was never closed: the reply was stopped, or ran out of tokens, while thinking. */
  unfinished: boolean;
  tokens?: number | null;
}

/** "Thinking…", "Thought · 120 tokens", "Thinking (unfinished)". */
export function thinkingTitle(view: ThinkingView): string {
  if (view.live) return "Thinking…";
  if (view.unfinished) return "Thinking (unfinished)";
  const n = view.tokens;
  return typeof n === "number" && n > 0 ? `Thought · ${n} token${n === 1 ? "" : "s"}` : "Thought";
}

export function thinkingBlock(view: ThinkingView, open: OpenState, turn: number): HTMLElement {
  const body = h("div", { class: "cz-thinking-text cz-markdown", testid: "thinking-text" });
  renderMarkdown(body, view.text); // model output: sanitised like the answer
  const title = h("span", { class: "cz-thinking-title", testid: "thinking-title", text: thinkingTitle(view) });
  const block = disclosure(open, `thinking:${turn}`, { class: "cz-thinking", testid: "thinking" }, title, body);
  block.dataset.live = String(view.live);
  block.dataset.unfinished = String(view.unfinished);
  return block;
}
