// The statistics above the results grid (the `grid_summary` trait: chatzoo_widget.compare.stats'
// `Summary.to_record()` of the batch rows so far): per column the pass rate and mean score with their intervals,
// per pair of columns the difference, the test's p-value (raw and corrected) and the plain verdict, each number
// with the method that made it. "Fewer than two paired rows" shows as such, never as a number.
import { h, setText } from "./dom";
import type { SummaryColumn, SummaryPair, SummaryRecord } from "./records";

export interface GridSummary extends SummaryRecord {
  run?: string;
  rows?: number;
  /** false while the run goes on (fewer resamples, refreshed every few rows) */
  final?: boolean;
}

const num = (x: unknown): x is number => typeof x === "number" && Number.isFinite(x);

/** A rate as a percentage, a score with two decimals. */
export function formatValue(value: number | null | undefined, measure: string): string {
  if (!num(value)) return "—";
  return measure === "pass" || measure === "votes" || measure === "judge" ? `${(value * 100).toFixed(1)}%` : value.toFixed(2);
}

/** A difference of rates in percentage points, of scores with two decimals, signed. */
export function formatDifference(value: number | null | undefined, measure: string): string {
  if (!num(value)) return "—";
  if (measure === "votes" || measure === "judge") return formatValue(value, measure);
  const text = measure === "pass" ? `${(value * 100).toFixed(1)} pp` : value.toFixed(2);
  return value > 0 ? `+${text}` : text;
}

export function formatInterval(lo: number | null | undefined, hi: number | null | undefined, measure: string,
  difference = false): string {
  if (!num(lo) || !num(hi)) return "—";
  const f = difference ? formatDifference : formatValue;
  return `[${f(lo, measure)}, ${f(hi, measure)}]`;
}

/** p-values as people read them: three decimals, or "< 0.001". */
export function formatP(p: number | null | undefined): string {
  if (!num(p)) return "—";
  return p < 0.001 ? "< 0.001" : p.toFixed(3);
}

const MEASURE_NAMES: Record<string, string> = { pass: "pass rate", score: "mean score", votes: "votes", judge: "judge" };

export class SummaryPanel {
  readonly el: HTMLElement;
  private note: HTMLElement;
  private columns: HTMLTableSectionElement;
  private pairs: HTMLTableSectionElement;
  private pairTable: HTMLElement;
  private key = "";

  constructor() {
    this.note = h("div", { class: "cz-muted cz-summary-note", testid: "summary-note" });
    this.columns = h("tbody");
    this.pairs = h("tbody");
    const head = (...names: string[]) => h("thead", {}, h("tr", {}, ...names.map((n) => h("th", { text: n }))));
    this.pairTable = h("table", { class: "cz-table cz-summary-pairs", testid: "summary-pairs" },
      head("Pair", "Measure", "Difference (a − b)", "Interval", "p", "p corrected", "Test", "Verdict"), this.pairs);
    this.el = h("div", { class: "cz-summary", testid: "grid-summary", hidden: true }, this.note,
      h("table", { class: "cz-table cz-summary-columns", testid: "summary-columns" },
        head("Column", "Measure", "Estimate", "95% interval", "n", "Method"), this.columns),
      this.pairTable);
  }

  update(record: unknown): void {
    const r = (record && typeof record === "object" ? record : {}) as Partial<GridSummary>;
    const key = JSON.stringify(r);
    if (key === this.key) return;
    this.key = key;
    const columns = Array.isArray(r.columns) ? r.columns : [];
    const pairs = Array.isArray(r.pairs) ? r.pairs : [];
    this.el.hidden = !r.run;
    this.el.dataset.final = String(r.final === true);
    const method = r.method ?? {};
    const correction = typeof method.correction === "string" ? method.correction : "";
    const parts = [
      r.final ? "Statistics of the run" : `Statistics so far (${r.rows ?? 0} rows; refreshed as rows finish, fewer resamples)`,
      correction ? `p corrected across each measure's pairs (${correction === "holm" ? "Holm" : correction === "bh" ? "Benjamini-Hochberg" : correction})` : "",
      num(method.alpha) ? `α = ${method.alpha}` : "",
    ];
    if (!columns.length) parts.push("no checks ran: nothing to compare (pass checks=... to run_batch)");
    setText(this.note, parts.filter(Boolean).join(" · "));
    this.columns.replaceChildren(...columns.map((c) => this.columnRow(c)));
    this.pairs.replaceChildren(...pairs.map((p) => this.pairRow(p)));
    this.pairTable.hidden = pairs.length === 0;
  }

  private columnRow(c: SummaryColumn): HTMLElement {
    return h("tr", { testid: "summary-column-row", "data-column": c.column, "data-measure": c.measure },
      h("td", { text: c.column }),
      h("td", { text: MEASURE_NAMES[c.measure] ?? c.measure }),
      h("td", { class: "cz-num", testid: "summary-estimate", text: formatValue(c.estimate, c.measure) }),
      h("td", { class: "cz-num", text: formatInterval(c.lo, c.hi, c.measure) }),
      h("td", { class: "cz-num", text: String(c.n ?? "") }),
      h("td", { class: "cz-muted", testid: "summary-method", text: [c.method, c.note].filter(Boolean).join(" · ") }));
  }

  private pairRow(p: SummaryPair): HTMLElement {
    const none = !num(p.p_value) && !num(p.estimate);
    const verdict = none ? (p.note || p.verdict) : p.verdict;
    const test = [p.test, p.interval_method].filter(Boolean).join("; ");
    return h("tr", {
      testid: "summary-pair-row", "data-measure": p.measure, "data-a": p.a, "data-b": p.b,
      class: verdict && verdict.includes(" > ") ? "cz-summary-decided" : "",
    },
    h("td", { text: `${p.a} vs ${p.b}` }),
    h("td", { text: MEASURE_NAMES[p.measure] ?? p.measure, title: p.estimate_of }),
    h("td", { class: "cz-num", text: formatDifference(p.estimate, p.measure) }),
    h("td", { class: "cz-num", text: formatInterval(p.lo, p.hi, p.measure, true), title: p.interval_method }),
    h("td", { class: "cz-num", text: formatP(p.p_value) }),
    h("td", { class: "cz-num", text: formatP(p.p_adjusted), title: p.correction }),
    h("td", { class: "cz-muted", testid: "summary-test", text: test }),
    h("td", { testid: "summary-verdict", text: verdict ?? "",
      title: [p.note, num(p.prompts_needed) ? `about ${p.prompts_needed} prompts would be needed to tell them apart` : ""].filter(Boolean).join("\n") }));
  }
}
