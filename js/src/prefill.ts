// The line a column shows while its model reads a long prompt (Python's `prefill` events), until the first text:
// without it a prompt that takes a minute to read looks like a hang.
import { h } from "./dom";

/** What the last `prefill` event said: prompt tokens (null: unknown), how many are read (null: no progress to
 * tell), and `server` for a remote model that has sent nothing yet. */
export interface PrefillState {
  promptTokens: number | null;
  done: number | null;
  server: boolean;
}

const count = (n: number): string => Math.round(n).toLocaleString("en-US");

/** "Reading the prompt: 5,123 tokens (40%)", "Reading the prompt: 5,123 tokens", or "Waiting for the server…". */
export function prefillText(state: PrefillState): string {
  const total = state.promptTokens;
  if (state.server || typeof total !== "number" || !Number.isFinite(total)) return "Waiting for the server…";
  const tokens = `Reading the prompt: ${count(total)} token${total === 1 ? "" : "s"}`;
  if (typeof state.done !== "number" || !Number.isFinite(state.done) || total <= 0) return tokens;
  const percent = Math.min(100, Math.max(0, Math.floor((100 * state.done) / total)));
  return `${tokens} (${percent}%)`;
}

/** The state a `prefill` message carries (bad fields become "unknown"). */
export function prefillState(msg: { prompt_tokens?: unknown; done?: unknown; server?: unknown }): PrefillState {
  const num = (x: unknown): number | null => (typeof x === "number" && Number.isFinite(x) ? x : null);
  return { promptTokens: num(msg.prompt_tokens), done: num(msg.done), server: msg.server === true };
}

/** The status line (styled like the loading line), or null when there is nothing to say. */
export function prefillLine(state: PrefillState | null | undefined): HTMLElement | null {
  if (!state) return null;
  return h("div", { class: "cz-progress cz-prefill", testid: "column-prefill", role: "status" },
    h("span", { class: "cz-spinner", "aria-hidden": "true" }), h("span", { text: prefillText(state) }));
}
