// The "Prompt" toggle under a reply: the exact text its model received (chat template or prompt rule applied,
// special tokens spelled out), in monospace, with its token count. Remote columns show the messages sent as JSON.
import { disclosure, type OpenState } from "./disclosure";
import { h } from "./dom";
import type { HistoryEntry } from "./types";

// Special tokens of the common templates and prompt rules: <|im_start|>, <s>, <start_of_turn>, [INST], [gMASK]...
const SPECIAL = new RegExp(
  String.raw`<\|[^<>|\s]{1,40}\|>|<\/?s>|<\/?(?:bos|eos|pad|unk|start_of_turn|end_of_turn|eoh|eoa|eom|eot|sop|eop)>` +
    String.raw`|<<\/?SYS>>|\[\/?INST\]|\[(?:gMASK|sMASK|MASK)\]|<\/?think>`,
  "g",
);

/** The prompt as text nodes, special tokens in their own `cz-special-token` spans (never parsed as HTML). */
export function promptNodes(text: string): Node[] {
  const nodes: Node[] = [];
  let last = 0;
  for (const match of text.matchAll(SPECIAL)) {
    const at = match.index ?? 0;
    if (at > last) nodes.push(document.createTextNode(text.slice(last, at)));
    nodes.push(h("span", { class: "cz-special-token", text: match[0] }));
    last = at + match[0].length;
  }
  if (last < text.length) nodes.push(document.createTextNode(text.slice(last)));
  return nodes;
}

export const HIDDEN_PROMPT = "Hidden until the vote: the prompt's format would give the model away.";

/** The toggle for one reply, or null when the entry has no rendered prompt (an older or failed reply). */
export function promptView(entry: HistoryEntry, open: OpenState): HTMLElement | null {
  const hidden = entry.prompt_hidden === true;
  if (!hidden && typeof entry.rendered_prompt !== "string") return null;
  const tokens = entry.prompt_tokens ?? entry.stats?.prompt_tokens;
  const title = hidden || typeof tokens !== "number" ? "Prompt" : `Prompt · ${tokens} token${tokens === 1 ? "" : "s"}`;
  const body = hidden
    ? h("div", { class: "cz-muted cz-prompt-hidden", testid: "rendered-prompt-hidden", text: HIDDEN_PROMPT })
    : h("pre", { class: "cz-rendered-prompt", testid: "rendered-prompt" }, ...promptNodes(entry.rendered_prompt!));
  return disclosure(open, `prompt:${entry.turn}`, { class: "cz-prompt-view", testid: "prompt-view", toggle: "prompt-toggle" }, title, body);
}
