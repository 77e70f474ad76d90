// Token probabilities under a reply (issue 21): the "Tokens" toggle colours the reply's tokens by probability with
// a legend; hovering or focusing a token shows its alternatives; clicking an alternative branches the reply there
// (`branch`: the reply is answered again from its first tokens with that token in place). The tokens stay in the
// kernel until the toggle opens (`entry_tokens`), once per entry: a synced entry only says `has_tokens`.
import "./tokens.css";
import { attempt, type Invoke, type Say } from "./commands";
import { disclosure, type OpenState } from "./disclosure";
import { h, type Listen } from "./dom";
import { renderMarkdown } from "./markdown";
import type { HistoryEntry } from "./types";

export interface TokenAlternative { token: string; logprob: number; id?: number }
export interface TokenView extends TokenAlternative { top_logprobs: TokenAlternative[] }

/** What `entry_tokens` answers: the reply's tokens, and whether (or why not) its alternatives can be clicked. */
export interface EntryTokens {
  tokens: TokenView[];
  can_branch: boolean;
  why?: string | null;
  unavailable?: string | null;
}

/** Probability bands, likeliest first: [lowest probability in the band, label]. The colours are in tokens.css. */
export const BANDS: [number, string][] = [[0.9, "≥ 90%"], [0.5, "50-90%"], [0.2, "20-50%"], [0.05, "5-20%"], [0, "< 5%"]];

export const probability = (logprob: number): number => (Number.isFinite(logprob) ? Math.exp(logprob) : 0);

/** The band (0 = likeliest) of a token's log-probability. */
export function band(logprob: number): number {
  const p = probability(logprob);
  const i = BANDS.findIndex(([low]) => p >= low);
  return i < 0 ? BANDS.length - 1 : i;
}

export const percent = (logprob: number): string => {
  const p = probability(logprob) * 100;
  return p >= 99.95 ? "100%" : p >= 10 ? `${p.toFixed(1)}%` : p >= 0.01 ? `${p.toFixed(2)}%` : "< 0.01%";
};

/** A token's text with its whitespace made visible (a space, a line break and a tab would show as nothing). */
export const visible = (text: string): string =>
  text === "" ? "∅" : text.replace(/ /g, "␣").replace(/\n/g, "↵").replace(/\t/g, "⇥");

export const hasTokens = (entry: HistoryEntry): boolean =>
  entry.has_tokens === true || (Array.isArray(entry.tokens) && entry.tokens.length > 0);

/** The tokens drawn as spans coloured by band, each focusable, in a pre-wrapped block. */
export function tokenSpans(tokens: TokenView[]): HTMLElement {
  const box = h("div", { class: "cz-tokens", testid: "tokens", role: "group", "aria-label": "Reply tokens by probability" });
  tokens.forEach((t, i) => {
    const b = band(t.logprob);
    box.append(h("span", {
      class: `cz-token cz-token-b${b}`, testid: "token", tabindex: 0, "data-index": i, "data-band": b,
      "aria-label": `${visible(t.token)}: ${percent(t.logprob)}`, text: t.token === "" ? "∅" : t.token,
    }));
  });
  return box;
}

export function legend(): HTMLElement {
  return h("div", { class: "cz-tokens-legend cz-muted", testid: "tokens-legend" },
    h("span", { text: "Token probability:" }),
    ...BANDS.map(([, label], i) => h("span", { class: `cz-token cz-token-b${i} cz-legend-swatch`, "data-band": i, text: label })));
}

/** The popover of one token: its probability, then every alternative as a button that branches to it. */
export function popover(tokens: EntryTokens, index: number): HTMLElement {
  const at = tokens.tokens[index];
  const rows = at.top_logprobs.map((alt) => {
    const chosen = alt.id !== undefined && at.id !== undefined ? alt.id === at.id : alt.token === at.token;
    return h("button", {
      type: "button", class: `cz-token-alt${chosen ? " cz-chosen" : ""}`, testid: "token-alternative",
      "data-index": index, "data-token": alt.token, "data-token-id": alt.id ?? null, "aria-current": chosen ? "true" : null,
      disabled: chosen || !tokens.can_branch,
      title: chosen ? "The token the model picked" : tokens.can_branch ? "Branch: answer again from here with this token"
        : tokens.why ?? "",
    }, h("span", { class: "cz-token-alt-text", text: visible(alt.token) }),
    h("span", { class: "cz-token-alt-p", text: percent(alt.logprob) }));
  });
  return h("div", { class: "cz-token-popover", testid: "token-popover", role: "dialog", "aria-label": `Alternatives to token ${index}` },
    h("div", { class: "cz-token-popover-head", text: `${visible(at.token)} · ${percent(at.logprob)}` }),
    ...(rows.length ? rows : [h("div", { class: "cz-muted", text: "No alternatives kept (top_logprobs is 0)" })]),
    ...(!tokens.can_branch && tokens.why ? [h("div", { class: "cz-muted cz-token-why", text: tokens.why })] : []));
}

/** A rectangle in viewport coordinates (what getBoundingClientRect gives). */
export interface Box { left: number; top: number; right: number; bottom: number }

/** The least height a popover is given when neither side of its token has room for it whole (it scrolls). */
export const MIN_POPOVER_HEIGHT = 48;

/** Where the popover goes, in viewport coordinates: under the token, from its left edge. It flips to end at the
 * token's right edge when it would pass the right of `bounds` (then it is kept inside them), and above the token when
 * it would pass their bottom and fits above. It never covers its token: where it fits on neither side, it takes the
 * side with more room and `maxHeight` (it scrolls). */
export function placePopover(token: Box, size: { width: number; height: number }, bounds: Box, gap = 2):
  { left: number; top: number; flipX: boolean; flipY: boolean; maxHeight: number | null } {
  let left = token.left;
  const flipX = left + size.width > bounds.right;
  if (flipX) left = token.right - size.width;
  left = Math.max(bounds.left, Math.min(left, bounds.right - size.width));
  const below = bounds.bottom - token.bottom - gap;
  const above = token.top - bounds.top - gap;
  const fitsBelow = size.height <= below;
  const flipY = !fitsBelow && (size.height <= above || above > below);
  const maxHeight = fitsBelow || size.height <= above ? null : Math.max(MIN_POPOVER_HEIGHT, Math.floor(Math.max(above, below)));
  const height = maxHeight ?? size.height;
  const top = flipY ? token.top - gap - height : token.bottom + gap;
  return { left, top, flipX, flipY, maxHeight };
}

/** The part of the viewport where `el` can be seen: the viewport cut by every ancestor that clips its overflow
 * (a scrolling column or history). */
export function visibleBounds(el: HTMLElement): Box {
  const win = el.ownerDocument.defaultView ?? window;
  const root = el.ownerDocument.documentElement;
  const box: Box = { left: 0, top: 0, right: root.clientWidth || win.innerWidth, bottom: root.clientHeight || win.innerHeight };
  // The body's own overflow applies to the viewport (CSS overflow propagation): it clips nothing more.
  for (let a = el.parentElement; a && a !== root && a !== el.ownerDocument.body; a = a.parentElement) {
    const style = win.getComputedStyle(a);
    if ([style.overflowX, style.overflowY].every((o) => o === "visible" || o === "")) continue;
    const r = a.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue; // not laid out (display: contents, a detached test page)
    box.left = Math.max(box.left, r.left);
    box.top = Math.max(box.top, r.top);
    box.right = Math.min(box.right, r.right);
    box.bottom = Math.min(box.bottom, r.bottom);
  }
  return box;
}

/** Under a branched reply: where it branched, and the reply it replaced (kept, folded). */
export function branchedParts(entry: HistoryEntry, open: OpenState): HTMLElement[] {
  const from = entry.branched_from;
  if (!from || typeof from.token_index !== "number") return [];
  const parts: HTMLElement[] = [h("div", {
    class: "cz-muted cz-branched", testid: "branch-note",
    text: `Branched at token ${from.token_index}: “${visible(from.token)}” in place of “${visible(from.replaced)}”`,
  })];
  const old = Array.isArray(entry.alternatives) ? entry.alternatives[0] : undefined;
  if (old && typeof old.content === "string") {
    const body = h("div", { class: "cz-markdown cz-alternative-text", testid: "branch-old-text" });
    renderMarkdown(body, old.content);
    parts.push(disclosure(open, `branched:${entry.turn}`, { class: "cz-alternative", testid: "branch-old" },
      "The reply before this branch", body));
  }
  return parts;
}

export interface TokenViewsContext {
  invoke: Invoke;
  listen: Listen;
  say: Say;
  columnId: () => string;
}

/**
 * One column's token views: the toggles' state (by turn, through redraws), the fetched tokens (per entry object:
 * a changed entry is a new object, fetched anew) and the popover.
 */
export class TokenViews {
  private on = new Set<number>();
  private fetched = new WeakMap<HistoryEntry, Promise<EntryTokens>>();
  private shown = new WeakMap<HTMLElement, EntryTokens>();
  private hideTimer: ReturnType<typeof setTimeout> | undefined;
  /** Escape gives the focus back to the token: that focus must not open the popover again. */
  private closing = false;

  constructor(private ctx: TokenViewsContext) {}

  /** The toggle button of a reply with tokens (null otherwise). */
  toggle(entry: HistoryEntry): HTMLElement | null {
    if (!hasTokens(entry)) return null;
    const on = this.on.has(entry.turn);
    return h("button", {
      type: "button", class: `cz-button cz-tokens-toggle${on ? " cz-selected" : ""}`, testid: "tokens-toggle",
      "data-turn": entry.turn, "aria-pressed": String(on), title: "Colour the reply's tokens by probability",
      text: "Tokens",
    });
  }

  /** Draw `entry`'s tokens in `reply` (its wrapper) when its toggle is on. */
  decorate(reply: HTMLElement, entry: HistoryEntry): void {
    if (!hasTokens(entry) || !this.on.has(entry.turn)) return;
    const message = reply.querySelector<HTMLElement>(".cz-message");
    if (!message) return;
    const slot = h("div", { class: "cz-tokens-slot", testid: "tokens-view" },
      h("span", { class: "cz-muted", text: "Loading tokens…" }));
    message.after(slot);
    this.load(entry).then((tokens) => {
      if (!tokens.tokens.length) {
        slot.replaceChildren(h("span", { class: "cz-muted", text: tokens.unavailable ?? "No tokens kept for this reply" }));
        return;
      }
      const spans = tokenSpans(tokens.tokens);
      spans.dataset.turn = String(entry.turn);
      this.shown.set(spans, tokens);
      slot.replaceChildren(spans, legend());
      message.hidden = true; // the coloured tokens stand in for the text while the toggle is on
    }, (error) => {
      this.fetched.delete(entry); // toggling again tries again
      slot.replaceChildren(h("span", { class: "cz-muted", text: `Could not fetch the tokens: ${error?.message ?? error}` }));
    });
  }

  private load(entry: HistoryEntry): Promise<EntryTokens> {
    let pending = this.fetched.get(entry);
    if (!pending) {
      pending = Array.isArray(entry.tokens) // an entry drawn as it is (unit tests, a saved page) carries them inline
        ? Promise.resolve({ tokens: entry.tokens as TokenView[], can_branch: false, why: "Open the notebook's kernel to branch" })
        : this.ctx.invoke("entry_tokens", { column: this.ctx.columnId(), turn: entry.turn }) as Promise<EntryTokens>;
      this.fetched.set(entry, pending);
    }
    return pending;
  }

  /** Wire the toggles, the popover and the branch clicks inside `history` (delegated: replies are redrawn). */
  attach(history: HTMLElement, redraw: () => void): void {
    const { listen } = this.ctx;
    listen(history, "click", (event) => {
      const target = event.target as Element | null;
      const toggle = target?.closest?.<HTMLElement>(".cz-tokens-toggle");
      if (toggle && history.contains(toggle)) {
        const turn = Number(toggle.dataset.turn);
        if (this.on.has(turn)) this.on.delete(turn);
        else this.on.add(turn);
        redraw();
        return;
      }
      const alt = target?.closest?.<HTMLButtonElement>(".cz-token-alt");
      if (alt && history.contains(alt) && !alt.disabled) this.branch(alt);
    });
    const show = (event: Event) => {
      const token = (event.target as Element | null)?.closest?.<HTMLElement>(".cz-token[data-index]");
      const box = token?.parentElement;
      const tokens = box ? this.shown.get(box) : undefined;
      if (!token || !box || !tokens) return;
      this.open(box, token, tokens);
    };
    listen(history, "mouseover", show);
    listen(history, "focusin", (event) => {
      if ((event.target as Element | null)?.closest?.(".cz-token-popover")) {
        clearTimeout(this.hideTimer);
        return;
      }
      if (this.closing) this.closing = false;
      else show(event);
    });
    const leave = (event: Event) => {
      const next = (event as MouseEvent | FocusEvent).relatedTarget as Element | null;
      if (next?.closest?.(".cz-token-popover, .cz-token[data-index]")) return;
      this.hideSoon(history);
    };
    listen(history, "mouseout", leave);
    listen(history, "focusout", leave);
    listen(history, "keydown", (event: KeyboardEvent) => {
      const target = event.target as HTMLElement;
      const pop = history.querySelector<HTMLElement>(".cz-token-popover");
      if (event.key === "Escape" && pop) {
        const index = pop.dataset.index;
        const token = pop.parentElement?.querySelector<HTMLElement>(`.cz-token[data-index="${index}"]`);
        pop.remove();
        this.closing = token !== null && token !== undefined && token !== history.ownerDocument.activeElement;
        token?.focus();
      } else if ((event.key === "ArrowDown" || event.key === "Enter") && target.matches(".cz-token[data-index]") && pop) {
        event.preventDefault(); // into the alternatives
        pop.querySelector<HTMLButtonElement>(".cz-token-alt:not(:disabled)")?.focus();
      }
    });
  }

  private open(box: HTMLElement, token: HTMLElement, tokens: EntryTokens): void {
    clearTimeout(this.hideTimer);
    const index = Number(token.dataset.index);
    const old = box.querySelector<HTMLElement>(".cz-token-popover");
    if (old?.dataset.index === String(index)) return;
    old?.remove();
    box.querySelectorAll(".cz-token-active").forEach((el) => el.classList.remove("cz-token-active"));
    token.classList.add("cz-token-active");
    const pop = popover(tokens, index);
    pop.dataset.index = String(index);
    // Inside the tokens block (positioned), so it scrolls with the reply; measured at the block's left edge (its
    // natural width), then placed where it is seen whole: near the column's or the window's right or bottom edge
    // it opens to the left or above the token.
    pop.style.left = "0px";
    pop.style.top = "0px";
    box.append(pop);
    const size = pop.getBoundingClientRect();
    const at = placePopover(token.getBoundingClientRect(), size, visibleBounds(box));
    const origin = box.getBoundingClientRect();
    if (size.width) pop.style.width = `${size.width}px`; // keeps its width where less room is left to its right
    pop.style.left = `${at.left - origin.left - box.clientLeft}px`;
    pop.style.top = `${at.top - origin.top - box.clientTop}px`;
    if (at.maxHeight !== null) pop.style.maxHeight = `${at.maxHeight}px`;
    pop.dataset.placement = `${at.flipY ? "above" : "below"} ${at.flipX ? "left" : "right"}`;
  }

  private hideSoon(history: HTMLElement): void {
    clearTimeout(this.hideTimer);
    this.hideTimer = setTimeout(() => {
      const active = history.ownerDocument.activeElement;
      if (active?.closest?.(".cz-token-popover") || history.querySelector(".cz-token-popover:hover")) return;
      history.querySelectorAll(".cz-token-popover").forEach((el) => el.remove());
      history.querySelectorAll(".cz-token-active").forEach((el) => el.classList.remove("cz-token-active"));
    }, 250);
  }

  private branch(alt: HTMLButtonElement): void {
    const box = alt.closest<HTMLElement>(".cz-tokens");
    const turn = Number(box?.dataset.turn);
    const id = alt.dataset.tokenId;
    alt.disabled = true;
    void attempt(this.ctx.invoke("branch", {
      column: this.ctx.columnId(), token_index: Number(alt.dataset.index),
      token: id !== undefined && id !== "" ? Number(id) : alt.dataset.token ?? "", turn,
    }), this.ctx.say).then((outcome) => {
      alt.disabled = false;
      if (outcome.ok) box?.querySelector(".cz-token-popover")?.remove();
    });
  }
}
