// The Cross-scores panel (chatzoo_widget/cross_score_commands.py): every local model scoring every column's reply.
// The toggle asks for the latest turn (`cross_scores` command: the answer is the turn, or why not); the record comes
// later as a `cross_scores` message, to every view, and is drawn as a matrix (scorer x reply, mean log-probability
// per token; the total, token count and re-tokenisation in each cell's title) and each reply's most disputed tokens.
import { attempt, type Invoke } from "./commands";
import { h, type Listen } from "./dom";
import { noticeLine } from "./notice";
import type { CrossScores } from "./records";

export interface CrossScoresMessage {
  kind: "cross_scores";
  turn: number;
  record: CrossScores | null;
  error: string | null;
}

export const isCrossScoresMessage = (msg: unknown): msg is CrossScoresMessage =>
  Boolean(msg) && typeof msg === "object" && (msg as { kind?: unknown }).kind === "cross_scores";

const isNum = (x: unknown): x is number => typeof x === "number" && Number.isFinite(x);
const fixed = (x: unknown, digits = 2): string => (isNum(x) ? x.toFixed(digits) : "–");

/** The matrix table: a row per scorer, a column per reply; a scorer that cannot score says why in its row. */
export function matrixTable(record: CrossScores): HTMLTableElement {
  const head = h("tr", {}, h("th", { text: "scorer \\ reply" }), ...record.replies.map((r) => h("th", { class: "cz-num", text: r })));
  const rows = record.scorers.map((scorer) => {
    const cells = scorer.error
      ? [h("td", { colspan: record.replies.length, class: "cz-muted", testid: "cross-scores-cannot", text: scorer.error })]
      : record.replies.map((reply) => {
          const s = record.scores.find((x) => x.scorer === scorer.name && x.reply === reply);
          const title = s?.error ?? (s ? `total ${fixed(s.total_logprob)} over ${s.tokens} tokens` +
            (s.retokenised ? " (re-tokenised by the scorer)" : " (its own generated tokens)") : "");
          return h("td", { class: "cz-num", testid: "cross-scores-cell", "data-scorer": scorer.name, "data-reply": reply,
            title, text: s?.error ? "–" : fixed(s?.mean_logprob) });
        });
    const name = scorer.columns.length > 1 ? `${scorer.name} (+${scorer.columns.length - 1})` : scorer.name;
    return h("tr", {}, h("th", { title: scorer.columns.join(", "), text: name }), ...cells);
  });
  return h("table", { class: "cz-lb-table", testid: "cross-scores-table" }, h("thead", {}, head), h("tbody", {}, ...rows));
}

/** Per reply, its most disputed tokens: the text, then each scorer's log-probability of it. */
export function disputedList(record: CrossScores): HTMLElement {
  const scorers = record.scorers.map((s) => s.name);
  const items = record.replies.map((reply) => {
    const spans = record.disputed.filter((d) => d.reply === reply);
    if (!spans.length) return null;
    return h("li", { testid: "cross-scores-disputed", "data-reply": reply }, h("b", { text: `${reply}: ` }),
      ...spans.map((d) => h("span", {
        class: "cz-xs-token", testid: "cross-scores-token",
        title: scorers.map((s, i) => (isNum(d.logprobs[i]) ? `${s}: ${fixed(d.logprobs[i])}` : "")).filter(Boolean).join(" · "),
        text: `“${d.text}” (±${fixed(d.spread, 1)}) `,
      })));
  }).filter((x): x is HTMLLIElement => x !== null);
  return h("div", {}, h("div", { class: "cz-lb-caption cz-muted", text: "Most disputed tokens (largest spread of log-probability between scorers; hover for each):" }),
    h("ul", { class: "cz-xs-disputed" }, ...items));
}

export class CrossScoresPanel {
  readonly el: HTMLElement;
  readonly toggle: HTMLButtonElement;
  private body: HTMLElement;
  private status: HTMLElement;

  constructor({ listen, invoke }: { listen: Listen; invoke: Invoke }) {
    const notice = noticeLine("cross-scores-notice");
    this.toggle = h("button", {
      type: "button", class: "cz-button", testid: "cross-scores-toggle", text: "Cross-scores",
      title: "Each local model scores every column's latest reply (mean log-probability per token)",
    });
    this.status = h("div", { class: "cz-lb-caption cz-muted", testid: "cross-scores-status" });
    this.body = h("div", { class: "cz-lb-scroll" });
    this.el = h("div", { class: "cz-leaderboard", testid: "cross-scores", hidden: true },
      h("div", { class: "cz-lb-summary", text: "Cross-scores: each model scoring every reply" }), this.status, notice.el, this.body);
    listen(this.toggle, "click", async () => {
      if (this.toggle.disabled) return;
      this.el.hidden = false;
      this.toggle.disabled = true;
      const outcome = await attempt(invoke("cross_scores", { turn: null }), notice.say);
      this.toggle.disabled = false;
      if (!outcome.ok) return;
      this.status.textContent = `Scoring the replies to turn ${outcome.result.turn + 1}…`;
    });
  }

  /** A `cross_scores` message: the record (or why it failed), drawn in every view. */
  show(msg: CrossScoresMessage): void {
    this.el.hidden = false;
    if (msg.error || !msg.record) {
      this.status.textContent = `Scoring failed: ${msg.error ?? "no result"}`;
      return;
    }
    const record = msg.record;
    const turn = isNum(record.turn) ? record.turn + 1 : "?";
    this.status.textContent = `Turn ${turn}: mean log-probability per token of each reply (columns) under each model (rows); higher is likelier.`;
    this.body.replaceChildren(matrixTable(record), disputedList(record));
  }
}
