// The results grid's pure logic (no DOM): the rows a batch run has finished, kept in dataset order; the filters
// (all, failures, columns that disagree, a column against a baseline); the window of rows a scroll position
// shows. grid.ts draws what this computes; js/tests/grid.test.ts tests it.
import type { GridRow } from "./records";

export type GridFilter = "all" | "failures" | "disagree" | "differs";

/** The filters as the grid's chooser lists them. */
export const FILTERS: { value: GridFilter; text: string; title: string }[] = [
  { value: "all", text: "All rows", title: "Every finished row" },
  { value: "failures", text: "Failures", title: "Rows where a column failed its checks (or did not finish)" },
  { value: "disagree", text: "Columns disagree", title: "Rows where some columns pass and others fail" },
  { value: "differs", text: "Differs from baseline", title: "Rows where the chosen column's pass/fail differs from the baseline column's" },
];

/** A cell's outcome: passed, failed, not checked (no checks ran), or no reply (the column has none for the row). */
export type Outcome = "pass" | "fail" | "unchecked" | "missing";

export function outcome(row: GridRow, column: string): Outcome {
  const cell = row.cells?.[column];
  if (!cell) return "missing";
  if (cell.pass === true) return "pass";
  if (cell.pass === false) return "fail";
  return cell.status === "done" ? "unchecked" : "fail"; // a reply that errored or timed out counts as failed
}

export interface FilterChoice {
  filter: GridFilter;
  /** `differs`: the column compared with the baseline. */
  column?: string;
  baseline?: string;
}

/** Whether `row` is shown under `choice`, for the grid's `columns`. */
export function keeps(row: GridRow, columns: string[], choice: FilterChoice): boolean {
  switch (choice.filter) {
    case "failures":
      return columns.some((c) => outcome(row, c) === "fail");
    case "disagree": {
      const seen = new Set(columns.map((c) => outcome(row, c)).filter((o) => o === "pass" || o === "fail"));
      return seen.size > 1;
    }
    case "differs": {
      if (!choice.column || !choice.baseline || choice.column === choice.baseline) return false;
      const a = outcome(row, choice.column);
      const b = outcome(row, choice.baseline);
      return (a === "pass" || a === "fail") && (b === "pass" || b === "fail") && a !== b;
    }
    default:
      return true;
  }
}

export function filterRows(rows: GridRow[], columns: string[], choice: FilterChoice): GridRow[] {
  return choice.filter === "all" ? rows : rows.filter((row) => keeps(row, columns, choice));
}

/** Rows in dataset order: by script, then sample. */
export const rowOrder = (a: GridRow, b: GridRow): number => a.script - b.script || a.sample - b.sample;

/** Insert `row` into `rows` (sorted by `rowOrder`) where it belongs; rows mostly arrive in order, so look from the end. */
export function insertRow(rows: GridRow[], row: GridRow): void {
  let i = rows.length;
  while (i > 0 && rowOrder(rows[i - 1], row) > 0) i--;
  rows.splice(i, 0, row);
}

export interface Window {
  /** First and one-past-last row index to put in the DOM. */
  start: number;
  end: number;
  /** Pixel offset of the first drawn row, and the height of everything (the scroll area's spacer). */
  top: number;
  height: number;
}

/**
 * The rows a viewport of `viewport` px scrolled to `scrollTop` shows, with `overscan` rows either side, for rows
 * of fixed `rowHeight` px. Only these are in the DOM: 1,000 rows cost what 20 do.
 */
export function visibleWindow(count: number, rowHeight: number, scrollTop: number, viewport: number, overscan = 4): Window {
  const height = Math.max(0, count) * rowHeight;
  if (count <= 0 || rowHeight <= 0) return { start: 0, end: 0, top: 0, height: 0 };
  const top = Math.min(Math.max(0, scrollTop), Math.max(0, height - viewport));
  const first = Math.floor(top / rowHeight);
  const shown = Math.ceil(Math.max(viewport, rowHeight) / rowHeight) + 1;
  const start = Math.max(0, first - overscan);
  const end = Math.min(count, first + shown + overscan);
  return { start, end, top: start * rowHeight, height };
}

/** The first `max` characters of a reply, on one line, with an ellipsis when cut. */
export function truncate(text: string, max = 160): string {
  const flat = (text ?? "").replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max - 1).trimEnd()}…` : flat;
}

/** A check score as the grid shows it: two decimals, or an em dash. */
export const scoreText = (score: number | null | undefined): string =>
  typeof score === "number" && Number.isFinite(score) ? score.toFixed(2) : "—";

/** The reasons of a cell's checks, one line each ("icontains: Expected output to contain …"). */
export function reasonLines(row: GridRow, column: string): string[] {
  const cell = row.cells?.[column];
  if (!cell) return [];
  const lines: string[] = [];
  if (cell.error) lines.push(`error: ${cell.error}`);
  for (const check of cell.checks ?? []) {
    const mark = check.pass ? "✓" : "✗";
    lines.push(`${mark} ${check.type}: ${check.error || check.reason || (check.pass ? "passed" : "failed")}`);
  }
  return lines;
}

/** Two clicked cells make a pair: a third click starts a new pair; clicking the selected cell again drops it. */
export interface CellRef {
  key: string;
  column: string;
}

export function nextSelection(selected: CellRef[], clicked: CellRef): CellRef[] {
  const same = (a: CellRef) => a.key === clicked.key && a.column === clicked.column;
  if (selected.some(same)) return selected.filter((c) => !same(c));
  return selected.length === 1 ? [selected[0], clicked] : [clicked];
}

/** The `grid_state` trait (compare/grid.py): which run, its columns in display order, how many rows were sent. */
export interface GridState {
  run?: string;
  view?: number;
  columns?: string[];
  rows?: number;
  running?: boolean;
  checked?: boolean;
}

/** A `grid_rows` message, and the `grid_rows` command's answer: rows `start`, `start + 1`... of the run. */
export interface GridRowsResult {
  run: string;
  view: number;
  start: number;
  rows: GridRow[];
}
