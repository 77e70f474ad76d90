// The row of model columns. Column elements are kept by id across `columns` updates, so scroll position,
// an open settings panel and a focused control survive the frequent syncs from Python. A column's actions (Stop,
// remove, thumbs, Continue) show their errors in the column's own notice line.
import { attempt, type Invoke } from "./commands";
import { applyContinue, continueButton, continuedParts, editPencil, openEditor } from "./conversation";
import { fetchOnOpen, needsDetails, withDetails, type DetailCache } from "./details";
import { OpenState } from "./disclosure";
import { h, setText, type Listen } from "./dom";
import { applyThumbs, thumbButtons, thumbArgs } from "./judge";
import { renderMarkdown } from "./markdown";
import { noticeLine } from "./notice";
import { prefillLine } from "./prefill";
import { promptView } from "./prompt-view";
import { SettingsPanel } from "./settings";
import type { StreamEntry, Streams } from "./stream";
import { thinkingBlock, type ThinkingView } from "./thinking";
import { branchedParts, TokenViews } from "./tokens";
import type { ColumnState, HistoryEntry, ReplyStats, VoteState } from "./types";

export interface ColumnsContext {
  listen: Listen;
  signal: AbortSignal;
  invoke: Invoke;
  streams: Streams;
  /** Rendered prompts and thinking, fetched when their block is opened (absent: entries carry them inline). */
  details?: DetailCache;
}

const fmt = (x: unknown, digits: number): string | null =>
  typeof x === "number" && Number.isFinite(x) ? x.toFixed(digits) : null;

/** "12 tokens · first token 0.08 s · 30.1 tok/s · 0.4 s · stop" (parts that are missing are left out). */
export function formatStats(stats: ReplyStats): string {
  const parts: string[] = [];
  if (typeof stats.new_tokens === "number") parts.push(`${stats.new_tokens} token${stats.new_tokens === 1 ? "" : "s"}`);
  const ttft = fmt(stats.time_to_first_token, 2);
  if (ttft !== null) parts.push(`first token ${ttft} s`);
  const tps = fmt(stats.tokens_per_second, 1);
  if (tps !== null) parts.push(`${tps} tok/s`);
  const total = fmt(stats.total_time, 2);
  if (total !== null) parts.push(`${total} s`);
  if (typeof stats.reasoning_tokens === "number" && stats.reasoning_tokens > 0) parts.push(`${stats.reasoning_tokens} thinking`);
  if (stats.finish_reason) parts.push(String(stats.finish_reason));
  if (stats.dropped_turns) parts.push(`${stats.dropped_turns} old turn${stats.dropped_turns === 1 ? "" : "s"} dropped`);
  return parts.join(" · ");
}

const errorBox = (text: string) => h("div", { class: "cz-error", testid: "column-error", role: "alert", text });

/**
 * A BOT reply: the `message` (or `reply-streaming`) element holds the reply text only, so its text is exactly
 * what the model wrote; errors and the statistics line sit under it, in the same wrapper.
 */
function botReply(
  text: string, turn: number,
  opts: {
    stats?: ReplyStats | null; error?: string | null; streaming?: boolean; thumbs?: boolean;
    /** The Thinking block above the answer, and the pieces under the reply (Prompt toggle, Continue...). */
    thinking?: ThinkingView | null; open?: OpenState; below?: (HTMLElement | null)[];
  },
): HTMLElement {
  const { stats, error, streaming = false, thumbs = false } = opts;
  const body = h("div", {
    class: `cz-message cz-bot cz-markdown${streaming ? " cz-streaming" : ""}`,
    testid: streaming ? "reply-streaming" : "message", "data-role": "BOT", "data-turn": turn,
  });
  renderMarkdown(body, text);
  const failed = stats?.finish_reason === "error";
  const message = error ?? (failed ? stats?.error || "generation failed" : null);
  if (streaming && !message) {
    // The cursor goes at the end of the last paragraph, not on a line of its own.
    const last = body.lastElementChild;
    (last && last.tagName === "P" ? last : body).append(h("span", { class: "cz-cursor", "aria-hidden": "true" }));
  }
  const wrap = h("div", { class: "cz-reply" }, body);
  // The thinking goes above the answer, outside the `message` element (which holds the answer alone).
  if (opts.thinking && opts.open) wrap.prepend(thinkingBlock(opts.thinking, opts.open, turn));
  if (message) wrap.append(errorBox(message));
  const statsEl = stats ? h("div", { class: "cz-stats", testid: "stats", text: formatStats(stats) }) : null;
  // Thumbs go with finished replies from the history (Python rates those), beside the statistics line.
  if (thumbs && !message) wrap.append(h("div", { class: "cz-reply-foot" }, statsEl ?? h("span"), thumbButtons(turn)));
  else if (statsEl) wrap.append(statsEl);
  for (const part of opts.below ?? []) if (part) wrap.append(part);
  return wrap;
}

function humanBubble(text: string, turn: number, editable = false): HTMLElement {
  const bubble = h("div", { class: "cz-message cz-human", testid: "message", "data-role": "HUMAN", "data-turn": turn, text });
  if (!editable) return bubble;
  // The pencil sits beside the bubble, so the bubble's text stays exactly the prompt.
  return h("div", { class: "cz-human-row", testid: "last-prompt" }, editPencil(turn), bubble);
}

const entryThinking = (entry: HistoryEntry): ThinkingView | null =>
  entry.reasoning || entry.reasoning_unfinished || entry.has_reasoning
    ? { text: entry.reasoning ?? "", live: false, unfinished: entry.reasoning_unfinished === true,
      tokens: entry.stats?.reasoning_tokens }
    : null;

interface BubbleContext {
  open: OpenState;
  columnId: string;
  details?: DetailCache;
  /** The thinking this column streamed for a turn (shown while the final one is fetched). */
  streamed?: (turn: number) => string | undefined;
  columnName: string;
  /** Position of the last HUMAN entry and of the last BOT entry (their tools: pencil, Continue). */
  lastHuman: number;
  lastBot: number;
  generating: boolean;
  /** The Tokens toggles: colours, alternatives, branching (tokens.ts). */
  tokens?: TokenViews;
}

function historyBubble(entry: HistoryEntry, index: number, ctx: BubbleContext): HTMLElement {
  if (entry.role !== "BOT") {
    return humanBubble(entry.content ?? "", entry.turn, index === ctx.lastHuman && !ctx.generating);
  }
  const failed = entry.stats?.finish_reason === "error";
  const canContinue = index === ctx.lastBot && !failed && typeof entry.continued_with !== "string";
  const detail = ctx.details?.get(entry);
  const shown = withDetails(entry, detail); // the prompt and thinking as far as they were fetched
  const reply = botReply(shown.content ?? "", shown.turn, {
    stats: shown.stats, thumbs: true, thinking: entryThinking(shown), open: ctx.open,
    below: [ctx.tokens?.toggle(shown) ?? null, promptView(shown, ctx.open), ...branchedParts(shown, ctx.open),
      ...continuedParts(shown, ctx.columnName, ctx.open), canContinue ? continueButton(shown.turn) : null],
  });
  ctx.tokens?.decorate(reply, entry);
  const { details } = ctx;
  if (details && needsDetails(entry, detail)) {
    fetchOnOpen(reply, () => details.load(ctx.columnId, entry), ctx.streamed?.(entry.turn));
  }
  return reply;
}

const lastIndex = (history: HistoryEntry[], role: HistoryEntry["role"]): number => {
  for (let i = history.length - 1; i >= 0; i--) if (history[i].role === role) return i;
  return -1;
};

class ColumnView {
  readonly el: HTMLElement;
  private nameEl: HTMLElement;
  private subtitleEl: HTMLElement;
  private statusEl: HTMLElement;
  private progressEl: HTMLElement;
  private progressText: HTMLElement;
  private errorEl: HTMLElement;
  private repliesEl: HTMLElement;
  private historyEl: HTMLElement;
  private streamEl: HTMLElement;
  private settings: SettingsPanel;
  private settingsButton: HTMLButtonElement;
  private revealedEl: HTMLElement;
  /** The outcome of this column's actions (a refused Stop, a thumb on a vanished reply...). */
  private say: (text: string) => void;
  private historyKey = "";
  private thumbs: Record<string, number> | undefined;
  private voteState: VoteState | undefined;
  /** Thinking, Prompt and replaced-reply blocks the user opened stay open through redraws. */
  private open = new OpenState();
  private tokens: TokenViews;
  state: ColumnState;

  constructor(column: ColumnState, private ctx: ColumnsContext) {
    this.state = column;
    const { listen } = ctx;
    this.nameEl = h("div", { class: "cz-column-name", testid: "column-name" });
    this.subtitleEl = h("div", { class: "cz-column-model", testid: "column-model" });
    this.statusEl = h("span", { class: "cz-badge", testid: "column-status" });
    this.revealedEl = h("span", { class: "cz-badge cz-revealed", testid: "column-revealed", text: "revealed", hidden: true });
    const stop = h("button", { type: "button", class: "cz-icon-button", testid: "column-stop", title: "Stop this reply", text: "■" });
    this.settingsButton = h("button", {
      type: "button", class: "cz-icon-button", testid: "settings-toggle", title: "Settings", "aria-expanded": "false", text: "⚙",
    });
    const remove = h("button", { type: "button", class: "cz-icon-button", testid: "column-remove", title: "Remove this column", text: "×" });
    const notice = noticeLine("column-notice", "cz-column-notice");
    this.say = notice.say;
    listen(stop, "click", () => void attempt(ctx.invoke("stop", { column: this.state.id }), this.say));
    listen(remove, "click", () => void attempt(ctx.invoke("remove_model", { column: this.state.id }), this.say));
    listen(this.settingsButton, "click", () => {
      this.settings.toggle();
      this.settingsButton.setAttribute("aria-expanded", String(this.settings.open));
    });

    this.settings = new SettingsPanel(column.id, {
      listen, signal: ctx.signal,
      send: (settings) => ctx.invoke("set_settings", { column: this.state.id, settings }),
    });
    this.progressText = h("span");
    this.progressEl = h("div", { class: "cz-progress", testid: "column-progress" },
      h("span", { class: "cz-spinner", "aria-hidden": "true" }), this.progressText);
    this.errorEl = h("div", { class: "cz-column-errors" });
    this.historyEl = h("div", { class: "cz-history" });
    this.streamEl = h("div", { class: "cz-stream" });
    this.repliesEl = h("div", { class: "cz-replies" }, this.historyEl, this.streamEl);
    listen(this.historyEl, "click", (event) => {
      const target = event.target as Element | null;
      const button = target?.closest?.(".cz-thumb");
      if (button && this.historyEl.contains(button)) {
        const args = thumbArgs(this.state.id, button as HTMLElement);
        if (args) void attempt(ctx.invoke("thumb", args), this.say);
        return;
      }
      if (target?.closest?.(".cz-continue")) {
        void attempt(ctx.invoke("continue_with", { column: this.state.id }), this.say);
        return;
      }
      const pencil = target?.closest?.<HTMLElement>(".cz-edit-prompt");
      const bubble = pencil?.parentElement?.querySelector<HTMLElement>(".cz-human");
      if (pencil && bubble && this.historyEl.contains(pencil)) {
        const row = pencil.parentElement as HTMLElement;
        openEditor(row, bubble.textContent ?? "", (prompt, say) => attempt(ctx.invoke("edit_last", { prompt }), say));
      }
    });
    this.tokens = new TokenViews({ invoke: ctx.invoke, listen, say: this.say, columnId: () => this.state.id });
    this.tokens.attach(this.historyEl, () => {
      this.historyKey = ""; // a Tokens toggle flipped: draw the history again
      this.update(this.state);
    });
    // Opening a block (Thinking, Prompt) while the reply streams: remember it, the next frame redraws it.
    listen(this.repliesEl, "click", (event) => this.open.onClick(event));

    const header = h(
      "div", { class: "cz-column-header" },
      h("div", { class: "cz-column-title" }, h("div", { class: "cz-column-name-row" }, this.nameEl, this.revealedEl), this.subtitleEl),
      h("div", { class: "cz-column-actions" }, this.statusEl, stop, this.settingsButton, remove),
    );
    this.el = h("section", { class: "cz-column", testid: "column" },
      header, notice.el, this.settings.el, this.progressEl, this.errorEl, this.repliesEl);
    this.update(column);
  }

  update(column: ColumnState): void {
    this.state = column;
    this.el.dataset.columnId = column.id;
    this.el.dataset.status = column.status;
    setText(this.nameEl, column.name ?? column.id);
    // Arena mode: while blind, no settings and no model line (Python sends them empty too); once revealed, the
    // real name with its arena label in the model line and a "revealed" badge.
    const arena = typeof column.blind === "boolean";
    const blind = column.blind === true;
    if (arena) this.el.dataset.blind = String(blind);
    else delete this.el.dataset.blind;
    const revealed = arena && !blind;
    this.revealedEl.hidden = !revealed;
    this.revealedEl.title = revealed && column.label ? `Shown as ${column.label} before the vote` : "";
    setText(this.subtitleEl, blind ? "" : [revealed ? column.label : null, column.family, column.model, column.note].filter(Boolean).join(" · "));
    this.subtitleEl.hidden = blind;
    // Long names wrap in the header; hovering also shows the name with the model behind it, once known.
    const name = column.name ?? column.id;
    this.nameEl.title = blind || !column.model || column.model === name ? name : `${name}\n${column.model}`;
    this.subtitleEl.title = this.subtitleEl.textContent ?? "";
    this.settingsButton.hidden = blind;
    if (blind && this.settings.open) {
      this.settings.toggle(false);
      this.settingsButton.setAttribute("aria-expanded", "false");
    }
    setText(this.statusEl, column.status);
    this.statusEl.className = `cz-badge cz-status-${column.status}`;
    const loading = column.status === "loading";
    this.progressEl.hidden = !loading;
    setText(this.progressText, column.progress || "Loading…");
    if ((this.errorEl.textContent || null) !== (column.error || null)) {
      this.errorEl.replaceChildren(...(column.error ? [errorBox(column.error)] : []));
    }
    this.settings.update(column);

    const history = Array.isArray(column.history) ? column.history : [];
    const generating = column.status === "generating";
    const key = JSON.stringify([history, column.name, generating]);
    if (key !== this.historyKey) {
      this.historyKey = key;
      const ctx: BubbleContext = {
        open: this.open, columnName: column.name, generating, columnId: column.id, details: this.ctx.details,
        streamed: (turn) => this.ctx.streams.streamedReasoning(column.id, turn),
        lastHuman: lastIndex(history, "HUMAN"), lastBot: lastIndex(history, "BOT"), tokens: this.tokens,
      };
      this.keepScroll(() => this.historyEl.replaceChildren(...history.map((e, i) => historyBubble(e, i, ctx))));
      applyThumbs(this.historyEl, this.thumbs);
      applyContinue(this.historyEl, this.voteState);
    }
    this.drawStream();
  }

  /** `vote_state`: the Continue button shows under the latest replies once their turn has a vote. */
  setVoteState(state: VoteState | undefined): void {
    this.voteState = state;
    applyContinue(this.historyEl, state);
  }

  /** Thumbs of this column's replies from `vote_state.thumbs[column id]` ({turn: ±1}). */
  setThumbs(thumbs: Record<string, number> | undefined): void {
    this.thumbs = thumbs;
    applyThumbs(this.historyEl, thumbs);
  }

  /** Repaint the reply in progress from the stream store (called per animation frame while streaming). */
  drawStream(): void {
    const entry: StreamEntry | undefined = this.ctx.streams.get(this.state.id);
    this.keepScroll(() => {
      if (!entry) {
        this.streamEl.replaceChildren();
        return;
      }
      const parts: HTMLElement[] = [];
      const hasPrompt = this.state.history?.some((e) => e.role === "HUMAN" && e.turn === entry.turn);
      if (entry.prompt && !hasPrompt) parts.push(humanBubble(entry.prompt, entry.turn)); // history not caught up yet
      const thinking: ThinkingView | null = entry.reasoning || entry.reasoningUnfinished
        ? { text: entry.reasoning, live: !entry.done && !entry.text, unfinished: entry.done && entry.reasoningUnfinished,
          tokens: entry.stats?.reasoning_tokens }
        : null;
      // Until the first text: "Reading the prompt: 5,123 tokens (40%)" (or "Waiting for the server…").
      const reading = entry.done || entry.error || entry.text || entry.reasoning ? null : prefillLine(entry.prefill);
      if (reading) parts.push(reading);
      parts.push(entry.done
        ? botReply(entry.text, entry.turn, { stats: entry.stats, error: entry.error, thinking, open: this.open })
        : botReply(entry.text, entry.turn, { error: entry.error, streaming: true, thinking, open: this.open }));
      this.streamEl.replaceChildren(...parts);
    });
  }

  /** Follow the reply as it grows, unless the user scrolled up to read. */
  private keepScroll(change: () => void): void {
    const el = this.repliesEl;
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
    change();
    if (atBottom) el.scrollTop = el.scrollHeight;
  }
}

export class ColumnsView {
  readonly el: HTMLElement;
  private views = new Map<string, ColumnView>();
  private empty: HTMLElement;
  private thumbs: Record<string, Record<string, number>> = {};
  private voteState: VoteState | undefined;

  constructor(private ctx: ColumnsContext) {
    this.empty = h("div", { class: "cz-empty", text: "No models yet: press + to add one." });
    this.el = h("div", { class: "cz-columns" }, this.empty);
  }

  update(columns: ColumnState[]): void {
    const list = Array.isArray(columns) ? columns.filter((c) => c && typeof c.id === "string") : [];
    const seen = new Set<string>();
    for (const column of list) {
      seen.add(column.id);
      const view = this.views.get(column.id);
      if (view) view.update(column);
      else {
        const created = new ColumnView(column, this.ctx);
        created.setThumbs(this.thumbs[column.id]);
        created.setVoteState(this.voteState);
        this.views.set(column.id, created);
      }
    }
    for (const [id, view] of Array.from(this.views)) {
      if (!seen.has(id)) {
        view.el.remove();
        this.views.delete(id);
      }
    }
    // Re-append in trait order (moving existing nodes keeps their state).
    // Place each column in trait order, moving only nodes out of place (moving a node drops its focus).
    const wanted = list.map((c) => this.views.get(c.id)!.el);
    if (wanted.length) this.empty.remove();
    else if (this.empty.parentNode !== this.el) this.el.append(this.empty);
    wanted.forEach((el, i) => {
      if (this.el.children[i] !== el) this.el.insertBefore(el, this.el.children[i] ?? null);
    });
    this.el.dataset.count = String(wanted.length);
  }

  drawStream(columnId: string): void {
    this.views.get(columnId)?.drawStream();
  }

  /** `vote_state`: where the Continue buttons show. */
  setVoteState(state: VoteState | undefined): void {
    this.voteState = state && typeof state === "object" ? state : undefined;
    for (const view of this.views.values()) view.setVoteState(this.voteState);
  }

  /** `vote_state.thumbs`: {column id: {turn: ±1}}. */
  setThumbs(thumbs: Record<string, Record<string, number>> | undefined): void {
    this.thumbs = thumbs && typeof thumbs === "object" ? thumbs : {};
    for (const [id, view] of this.views) view.setThumbs(this.thumbs[id]);
  }
}
