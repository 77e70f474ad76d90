// Word-level diff of the latest replies of two columns, with jsdiff's diffWords. Replies are untrusted: the
// view is built from text nodes inside <del>/<ins> elements only (no HTML strings at all).
import { diffWords } from "diff";
import { h, setText, type Listen } from "./dom";
import type { ColumnState } from "./types";

export interface Segment {
  text: string;
  kind: "same" | "delete" | "insert";
}

/** Give up on replies that take longer than this to compare (jsdiff's `timeout`, in ms). */
const DIFF_TIMEOUT_MS = 500;

/**
 * Segments of the left text (same + deleted words) and of the right text (same + inserted words), or null when
 * the texts are too different to compare in time.
 */
export function wordDiff(left: string, right: string): { left: Segment[]; right: Segment[] } | null {
  const changes = diffWords(left, right, { timeout: DIFF_TIMEOUT_MS });
  if (!changes) return null;
  const out = { left: [] as Segment[], right: [] as Segment[] };
  for (const change of changes) {
    if (change.added) out.right.push({ text: change.value, kind: "insert" });
    else if (change.removed) out.left.push({ text: change.value, kind: "delete" });
    else {
      out.left.push({ text: change.value, kind: "same" });
      out.right.push({ text: change.value, kind: "same" });
    }
  }
  return out;
}

/** Text nodes for "same", <del data-testid=diff-delete> / <ins data-testid=diff-insert> around changed words. */
export function segmentNodes(segments: Segment[]): Node[] {
  return segments.map((s) => {
    if (s.kind === "same") return document.createTextNode(s.text);
    const tag = s.kind === "delete" ? "del" : "ins";
    return h(tag, { class: `cz-diff-${s.kind}`, testid: `diff-${s.kind}` }, document.createTextNode(s.text));
  });
}

/** The latest finished reply of a column (null: none yet). */
export function latestReply(column: ColumnState | undefined): string | null {
  const history = Array.isArray(column?.history) ? column!.history : [];
  for (let i = history.length - 1; i >= 0; i--) {
    const entry = history[i];
    if (entry.role === "BOT" && entry.stats?.finish_reason !== "error") return entry.content ?? "";
  }
  return null;
}

export interface DiffContext {
  listen: Listen;
}

export class DiffView {
  /** The toggle and the two column choosers (for the toolbar row). */
  readonly controls: HTMLElement;
  /** The highlighted replies (under the columns). */
  readonly el: HTMLElement;
  private toggle: HTMLButtonElement;
  private left: HTMLSelectElement;
  private right: HTMLSelectElement;
  private selects: HTMLElement;
  private columns: ColumnState[] = [];
  private on = false;
  private optionsKey = "";
  private drawnKey = "";

  constructor(ctx: DiffContext) {
    this.toggle = h("button", {
      type: "button", class: "cz-button", testid: "diff-toggle", "aria-pressed": "false", text: "Diff",
      title: "Highlight the word differences between the latest replies of two columns",
    });
    this.left = h("select", { class: "cz-select", testid: "diff-left", "aria-label": "Diff: first column" });
    this.right = h("select", { class: "cz-select", testid: "diff-right", "aria-label": "Diff: second column" });
    this.selects = h("span", { class: "cz-diff-controls", hidden: true }, this.left, h("span", { class: "cz-muted", text: "vs" }), this.right);
    this.controls = h("span", { class: "cz-diff-bar" }, this.toggle, this.selects);
    this.el = h("div", { class: "cz-diff", testid: "diff-view", hidden: true });
    ctx.listen(this.toggle, "click", () => this.setOn(!this.on));
    ctx.listen(this.left, "change", () => this.draw());
    ctx.listen(this.right, "change", () => this.draw());
  }

  get enabled(): boolean {
    return this.on;
  }

  setOn(on: boolean): void {
    this.on = on;
    this.toggle.setAttribute("aria-pressed", String(on));
    this.toggle.classList.toggle("cz-selected", on);
    this.selects.hidden = !on;
    this.drawnKey = "";
    this.draw();
  }

  update(columns: ColumnState[]): void {
    this.columns = columns;
    const key = JSON.stringify(columns.map((c) => [c.id, c.name]));
    if (key !== this.optionsKey) {
      this.optionsKey = key;
      const ids = columns.map((c) => c.id);
      const keep = (select: HTMLSelectElement, fallback: string | undefined) => {
        const value = ids.includes(select.value) ? select.value : fallback ?? "";
        select.replaceChildren(...columns.map((c) => h("option", { value: c.id, text: c.name || c.id })));
        select.value = value;
      };
      keep(this.left, ids[0]);
      keep(this.right, ids.find((id) => id !== this.left.value) ?? ids[0]);
    }
    this.toggle.disabled = columns.length < 2 && !this.on;
    this.draw();
  }

  private draw(): void {
    this.el.hidden = !this.on;
    if (!this.on) return;
    const a = this.columns.find((c) => c.id === this.left.value);
    const b = this.columns.find((c) => c.id === this.right.value);
    const ta = latestReply(a);
    const tb = latestReply(b);
    const key = JSON.stringify([a?.id, a?.name, b?.id, b?.name, ta, tb]);
    if (key === this.drawnKey) return;
    this.drawnKey = key;
    this.el.dataset.left = a?.id ?? "";
    this.el.dataset.right = b?.id ?? "";
    const note = (text: string) => this.el.replaceChildren(h("div", { class: "cz-muted", testid: "diff-note", text }));
    if (!a || !b) return note("Choose two columns to compare");
    if (a.id === b.id) return note("Choose two different columns to compare");
    const missing = [a, b].filter((_, i) => (i ? tb : ta) === null).map((c) => c.name || c.id);
    if (missing.length) return note(`No finished reply yet in ${missing.join(" and ")}`);
    const diff = wordDiff(ta!, tb!);
    if (!diff) return note("These replies are too different to compare word by word");
    const changed = diff.left.some((s) => s.kind !== "same") || diff.right.some((s) => s.kind !== "same");
    const pane = (column: ColumnState, segments: Segment[], side: string) =>
      h("div", { class: "cz-diff-pane", testid: `diff-pane-${side}` },
        h("div", { class: "cz-diff-name", text: column.name || column.id }),
        h("div", { class: "cz-diff-text" }, ...segmentNodes(segments)));
    const summary = h("div", { class: "cz-muted cz-diff-summary" });
    setText(summary, changed ? "Latest replies: words only in the first are struck out, words only in the second are underlined"
      : "The latest replies are the same word for word");
    this.el.replaceChildren(summary, h("div", { class: "cz-diff-panes" }, pane(a, diff.left, "left"), pane(b, diff.right, "right")));
  }
}
