// The bulky details of a reply (its rendered prompt, its thinking) stay in the kernel: the synced entry only says
// it has them (`has_prompt`, `has_reasoning`), and the Prompt or Thinking block fetches them (`entry_detail`) the
// first time it is opened. Fetched details are kept per entry object: the store keeps an entry's object while
// the entry is unchanged, and a changed entry is a new object, fetched anew.
import { h } from "./dom";
import { renderMarkdown } from "./markdown";
import { HIDDEN_PROMPT, promptNodes } from "./prompt-view";
import type { EntryDetail, HistoryEntry } from "./types";

export type FetchDetail = (column: string, turn: number) => Promise<EntryDetail>;

export class DetailCache {
  private done = new WeakMap<HistoryEntry, EntryDetail>();
  private pending = new WeakMap<HistoryEntry, Promise<EntryDetail>>();

  constructor(private fetch: FetchDetail) {}

  get(entry: HistoryEntry): EntryDetail | undefined {
    return this.done.get(entry);
  }

  load(column: string, entry: HistoryEntry): Promise<EntryDetail> {
    const done = this.done.get(entry);
    if (done) return Promise.resolve(done);
    let pending = this.pending.get(entry);
    if (!pending) {
      pending = this.fetch(column, entry.turn).then((detail) => {
        this.done.set(entry, detail ?? {});
        return detail ?? {};
      });
      pending.finally(() => this.pending.delete(entry)).catch(() => {});
      this.pending.set(entry, pending);
    }
    return pending;
  }
}

/** The entry with what is known of its details: fetched ones, else empty stand-ins for the blocks to draw. */
export function withDetails(entry: HistoryEntry, detail: EntryDetail | undefined): HistoryEntry {
  if (detail) return { ...entry, ...detail };
  if (!entry.has_prompt && !entry.has_reasoning) return entry;
  return {
    ...entry,
    ...(entry.has_prompt && typeof entry.rendered_prompt !== "string" && !entry.prompt_hidden ? { rendered_prompt: "" } : {}),
    ...(entry.has_reasoning && typeof entry.reasoning !== "string" ? { reasoning: "" } : {}),
  };
}

/** Whether the entry's drawn blocks still wait for their details. */
export const needsDetails = (entry: HistoryEntry, detail: EntryDetail | undefined): boolean =>
  !detail && ((entry.has_prompt === true && typeof entry.rendered_prompt !== "string" && !entry.prompt_hidden) ||
    (entry.has_reasoning === true && typeof entry.reasoning !== "string"));

/** Once `block` is open (now or later), fetch with `load` and show the answer with `fill`; a failure says why. */
function whenOpen(block: HTMLDetailsElement, body: HTMLElement, load: () => Promise<EntryDetail>,
  fill: (detail: EntryDetail) => void): void {
  let started = false;
  const start = () => {
    if (started || !block.open) return;
    started = true;
    body.classList.add("cz-loading");
    load().then(fill, (error) => {
      started = false; // opening it again tries again
      body.replaceChildren(h("span", { class: "cz-muted", text: `Could not fetch it: ${error?.message ?? error}` }));
    }).finally(() => body.classList.remove("cz-loading"));
  };
  block.addEventListener("toggle", start);
  start();
}

/**
 * Wire the Thinking and Prompt blocks inside `reply` (drawn from `withDetails`) to fetch their text when opened.
 * `streamed`: the thinking as it streamed, shown until the final one arrives.
 */
export function fetchOnOpen(reply: HTMLElement, load: () => Promise<EntryDetail>, streamed?: string): void {
  const thinking = reply.querySelector<HTMLDetailsElement>('details[data-testid="thinking"]');
  const thinkingText = thinking?.querySelector<HTMLElement>('[data-testid="thinking-text"]');
  if (thinking && thinkingText && !thinkingText.textContent) {
    if (streamed) renderMarkdown(thinkingText, streamed);
    else thinkingText.textContent = "Loading…";
    whenOpen(thinking, thinkingText, load, (detail) => renderMarkdown(thinkingText, detail.reasoning ?? ""));
  }
  const prompt = reply.querySelector<HTMLDetailsElement>('details[data-testid="prompt-view"]');
  const pre = prompt?.querySelector<HTMLElement>('[data-testid="rendered-prompt"]');
  if (prompt && pre && !pre.textContent) {
    pre.textContent = "Loading…";
    whenOpen(prompt, pre, load, (detail) => {
      if (detail.prompt_hidden || typeof detail.rendered_prompt !== "string") {
        pre.replaceWith(h("div", { class: "cz-muted cz-prompt-hidden", testid: "rendered-prompt-hidden", text: HIDDEN_PROMPT }));
      } else pre.replaceChildren(...promptNodes(detail.rendered_prompt));
    });
  }
}
