// The leaderboard panel (`leaderboard_table`): a collapsible <details> with a small horizontal bar chart of
// `chart.bars` (value with lo–hi whiskers, plain DOM and CSS) and the table of contestants.
import { h, setText } from "./dom";
import type { ChartBar, LeaderboardRow, LeaderboardTable } from "./types";

const isNum = (x: unknown): x is number => typeof x === "number" && Number.isFinite(x);
const num = (x: unknown, digits = 1): string => (isNum(x) ? x.toFixed(digits) : "–");
const ci = (lo: unknown, hi: unknown): string => (isNum(lo) && isNum(hi) ? `${num(lo)}–${num(hi)}` : "–");

/** "Elo K=4, start 1000 · Bradley–Terry (prior 1) · 95% CI: 1000 bootstrap rounds · 3 votes, 6 battles". */
export function methodText(method: Record<string, any> | undefined | null): string {
  if (!method || typeof method !== "object") return "";
  const parts: string[] = [];
  const elo = method.elo ?? {};
  const eloBits = [isNum(elo.k) ? `K=${elo.k}` : "", isNum(elo.start) ? `start ${elo.start}` : ""].filter(Boolean);
  if (eloBits.length) parts.push(`Elo ${eloBits.join(", ")}`);
  if (method.bt && typeof method.bt === "object") parts.push(`Bradley–Terry${isNum(method.bt.prior) ? ` (prior ${method.bt.prior})` : ""}`);
  const c = method.ci ?? {};
  if (isNum(c.level)) {
    const rounds = isNum(c.rounds) ? (c.rounds ? `: ${c.rounds} bootstrap rounds` : ": none (no resampling)") : "";
    parts.push(`${Math.round(c.level * 100)}% CI${rounds}`);
  }
  const counts = [isNum(method.votes) ? `${method.votes} vote${method.votes === 1 ? "" : "s"}` : "",
    isNum(method.battle_count) ? `${method.battle_count} battle${method.battle_count === 1 ? "" : "s"}` : ""].filter(Boolean);
  if (counts.length) parts.push(counts.join(", "));
  return parts.join(" · ");
}

/** The axis of the chart: [min, max] of the data with a margin, never empty. */
export function axis(bars: ChartBar[], min?: number | null, max?: number | null): [number, number] {
  const values = bars.flatMap((b) => [b.value, b.lo, b.hi]).filter(isNum);
  let lo = isNum(min) ? min : values.length ? Math.min(...values) : 0;
  let hi = isNum(max) ? max : values.length ? Math.max(...values) : 1;
  if (hi < lo) [lo, hi] = [hi, lo];
  const pad = hi > lo ? (hi - lo) * 0.08 : Math.max(10, Math.abs(lo) * 0.01);
  return [lo - pad, hi + pad];
}

const pct = (x: number, [lo, hi]: [number, number]) => `${(((x - lo) / (hi - lo)) * 100).toFixed(2)}%`;

/** An element with inline geometry set through the CSSOM (allowed where a CSP forbids style attributes). */
function part(cls: string, style: Partial<Record<"left" | "width", string>>): HTMLElement {
  const el = h("div", { class: cls });
  Object.assign(el.style, style);
  return el;
}

const SEPARATOR = /[\s/_:,;|(-]/;
const FITS = 20;

/**
 * Labels a narrow chart can tell apart: the common beginning of the names (up to a word break) is cut and shown
 * as "…", so a sweep's "smollm2-135m temperature=0.2" / "=0.8" read "…temperature=0.2" / "…temperature=0.8"
 * instead of the same cut-off prefix three times. The full names stay in the bars' titles.
 */
export function distinctLabels(names: string[]): string[] {
  // Only names long enough to be cut (the label column is about 20 characters wide).
  if (names.length < 2 || Math.max(...names.map((n) => n.length)) <= FITS) return names.slice();
  let common = names[0];
  for (const n of names) {
    let i = 0;
    while (i < common.length && i < n.length && common[i] === n[i]) i++;
    common = common.slice(0, i);
  }
  // Cut after the last separator inside the common part, never a whole name.
  const shortest = Math.min(...names.map((n) => n.length));
  let cut = 0;
  for (let i = Math.min(common.length, shortest - 1) - 1; i >= 0; i--) {
    if (SEPARATOR.test(common[i])) {
      cut = i + 1;
      break;
    }
  }
  if (cut === 0 && common.length > 12) cut = common.length - 4; // no word break: keep a little context
  return cut >= 4 ? names.map((n) => `…${n.slice(cut)}`) : names.slice();
}

function chartRow(bar: ChartBar, range: [number, number], shown: string = bar.label): HTMLElement {
  const track = h("div", { class: "cz-lb-track" });
  if (isNum(bar.value)) {
    track.append(part("cz-lb-fill", { width: pct(bar.value, range) }));
    if (isNum(bar.lo) && isNum(bar.hi)) {
      const [a, b] = [Math.min(bar.lo, bar.hi), Math.max(bar.lo, bar.hi)];
      track.append(part("cz-lb-whisker", { left: pct(a, range), width: `calc(${pct(b, range)} - ${pct(a, range)})` }));
    }
    track.append(part("cz-lb-dot", { left: pct(bar.value, range) }));
  }
  return h("div", {
    class: "cz-lb-bar", testid: "leaderboard-bar", "data-label": bar.label, "data-value": isNum(bar.value) ? bar.value : "",
    title: `${bar.label}: ${num(bar.value)} (${ci(bar.lo, bar.hi)})`,
  },
  h("span", { class: "cz-lb-label", testid: "leaderboard-label", text: shown, title: bar.label }), track, h("span", { class: "cz-lb-value", text: num(bar.value) }));
}

const HEAD = ["#", "Contestant", "Model", "Elo", "Elo CI", "BT", "BT CI", "W / L / T", "Battles"];

function tableRow(row: LeaderboardRow, i: number): HTMLElement {
  const cells = [
    String(i + 1), row.contestant, row.model ?? "", num(row.elo), ci(row.elo_lo, row.elo_hi), num(row.bt),
    ci(row.bt_lo, row.bt_hi), `${row.wins ?? 0} / ${row.losses ?? 0} / ${row.ties ?? 0}`, String(row.battles ?? 0),
  ];
  return h("tr", { testid: "leaderboard-row", "data-contestant": row.contestant },
    ...cells.map((text, j) => h("td", { class: j === 0 || j >= 3 ? "cz-num" : null, text })));
}

export class LeaderboardPanel {
  readonly el: HTMLDetailsElement;
  private summary: HTMLElement;
  private chart: HTMLElement;
  private body: HTMLElement;
  private method: HTMLElement;
  private key = "";

  constructor() {
    this.summary = h("summary", { class: "cz-lb-summary", text: "Leaderboard" });
    this.chart = h("div", { class: "cz-lb-chart", testid: "leaderboard-chart" });
    this.body = h("tbody");
    this.method = h("div", { class: "cz-lb-method cz-muted", testid: "leaderboard-method" });
    const table = h("table", { class: "cz-lb-table" },
      h("thead", {}, h("tr", {}, ...HEAD.map((text, j) => h("th", { scope: "col", class: j === 0 || j >= 3 ? "cz-num" : null, text })))),
      this.body);
    // Open when it first appears; after that the user's open/closed choice stays across updates.
    this.el = h("details", { class: "cz-leaderboard", testid: "leaderboard", hidden: true, open: true },
      this.summary, this.chart, h("div", { class: "cz-lb-scroll" }, table), this.method);
  }

  update(table: LeaderboardTable | null | undefined): void {
    const t = table && typeof table === "object" ? table : {};
    const rows = Array.isArray(t.rows) ? t.rows.filter((r) => r && typeof r.contestant === "string") : [];
    this.el.hidden = rows.length === 0;
    const key = JSON.stringify(t);
    if (key === this.key) return;
    this.key = key;
    const bars = Array.isArray(t.chart?.bars) ? t.chart!.bars!.filter((b) => b && typeof b.label === "string") : [];
    const range = axis(bars, t.chart?.min, t.chart?.max);
    const metric = t.chart?.metric === "elo" ? "Elo" : "Bradley–Terry";
    setText(this.summary, `Leaderboard (${rows.length} contestant${rows.length === 1 ? "" : "s"})`);
    this.chart.setAttribute("aria-label", `${metric} points with confidence intervals`);
    this.chart.replaceChildren(
      ...(bars.length ? [h("div", { class: "cz-lb-caption cz-muted", text: `${metric} points, bars with CI whiskers` })] : []),
      ...(() => {
        const shown = distinctLabels(bars.map((b) => b.label));
        return bars.map((bar, i) => chartRow(bar, range, shown[i]));
      })());
    this.body.replaceChildren(...rows.map(tableRow));
    setText(this.method, methodText(t.method));
  }
}
