// The results grid (grid.ts, grid-model.ts), its summary (summary.ts) and the check badges (check-badges.ts),
// against the fake model: pure logic first (filters, the virtual window), then the drawn panel.
import { afterEach, describe, expect, it } from "vitest";
import { column, frame, mount, settled } from "./fake-model";
import { filterRows, insertRow, nextSelection, outcome, truncate, visibleWindow } from "../src/grid-model";
import { formatDifference, formatInterval, formatP, formatValue } from "../src/summary";
import type { GridCell, GridRow } from "../src/records";

afterEach(() => document.body.replaceChildren());

const cell = (pass: boolean | null, reply = pass ? "right" : "wrong", status = "done"): GridCell =>
  ({ reply, status, error: null, pass, score: pass === null ? null : pass ? 1 : 0, checks: [] });

function row(script: number, cells: Record<string, GridCell>): GridRow {
  return { key: `${script}:0`, script, sample: 0, id: `q${script}`, prompt: `Question ${script}?`, cells };
}

const COLUMNS = ["a", "b", "c"];
const ROWS = [
  row(0, { a: cell(true), b: cell(true), c: cell(true) }), // all pass
  row(1, { a: cell(true), b: cell(false), c: cell(true) }), // b fails
  row(2, { a: cell(false), b: cell(false), c: cell(false) }), // all fail: failures, but no disagreement
  row(3, { a: cell(false), b: cell(true), c: cell(false) }),
];

describe("grid filters", () => {
  it("all, failures, disagree, and a column against a baseline", () => {
    const keys = (choice: Parameters<typeof filterRows>[2]) => filterRows(ROWS, COLUMNS, choice).map((r) => r.script);
    expect(keys({ filter: "all" })).toEqual([0, 1, 2, 3]);
    expect(keys({ filter: "failures" })).toEqual([1, 2, 3]);
    expect(keys({ filter: "disagree" })).toEqual([1, 3]);
    expect(keys({ filter: "differs", column: "b", baseline: "a" })).toEqual([1, 3]);
    expect(keys({ filter: "differs", column: "c", baseline: "a" })).toEqual([]);
    expect(keys({ filter: "differs", column: "a", baseline: "a" })).toEqual([]); // same column: nothing differs
  });

  it("a reply that errored counts as failed, one with no checks as unchecked, a missing column as missing", () => {
    const r = row(9, { a: cell(null, "", "error"), b: cell(null) });
    expect([outcome(r, "a"), outcome(r, "b"), outcome(r, "c")]).toEqual(["fail", "unchecked", "missing"]);
    expect(filterRows([r], ["a", "b"], { filter: "disagree" })).toEqual([]); // unchecked is no side
  });

  it("rows arriving out of order are kept in dataset order", () => {
    const rows: GridRow[] = [];
    for (const s of [0, 2, 1, 5, 3]) insertRow(rows, row(s, {}));
    expect(rows.map((r) => r.script)).toEqual([0, 1, 2, 3, 5]);
  });
});

describe("virtual window", () => {
  it("only the rows in view, plus a few either side, for any number of rows", () => {
    expect(visibleWindow(1000, 64, 0, 400, 4)).toEqual({ start: 0, end: 12, top: 0, height: 64000 });
    const mid = visibleWindow(1000, 64, 64 * 500, 400, 4);
    expect(mid.start).toBe(496);
    expect(mid.end - mid.start).toBeLessThanOrEqual(16);
    expect(mid.top).toBe(496 * 64);
    const end = visibleWindow(1000, 64, 10_000_000, 400, 4); // scrolled past the end: the last rows
    expect(end.end).toBe(1000);
    expect(visibleWindow(0, 64, 0, 400)).toEqual({ start: 0, end: 0, top: 0, height: 0 });
  });

  it("two clicked cells make a pair; a third starts again; the same cell again drops it", () => {
    const a = { key: "0:0", column: "a" };
    const b = { key: "1:0", column: "b" };
    const c = { key: "2:0", column: "c" };
    expect(nextSelection([], a)).toEqual([a]);
    expect(nextSelection([a], b)).toEqual([a, b]);
    expect(nextSelection([a, b], c)).toEqual([c]);
    expect(nextSelection([a, b], a)).toEqual([b]);
    expect(truncate("a  b\n\nc".repeat(100), 12)).toHaveLength(12);
  });
});

describe("summary formatting", () => {
  it("rates as percentages, differences signed, p-values readable, missing numbers as a dash", () => {
    expect(formatValue(0.5, "pass")).toBe("50.0%");
    expect(formatValue(0.123, "score")).toBe("0.12");
    expect(formatDifference(0.25, "pass")).toBe("+25.0 pp");
    expect(formatInterval(-0.1, 0.2, "score", true)).toBe("[-0.10, +0.20]");
    expect(formatP(0.0001)).toBe("< 0.001");
    expect(formatP(null)).toBe("—");
    expect(formatValue(null, "pass")).toBe("—");
  });
});

const STATE = { run: "r1", view: 0, columns: COLUMNS, rows: 0, running: true, checked: true };

describe("grid panel", () => {
  it("hidden until a run; rows fill in from messages; a filter changes the rows shown", async () => {
    const { model, q, qa } = mount();
    expect(q("results-grid").hidden).toBe(true);
    model.update("grid_state", STATE);
    expect(q("results-grid").hidden).toBe(false);
    model.emit({ kind: "grid_rows", run: "r1", view: 0, start: 0, rows: ROWS.slice(0, 2) });
    await frame();
    expect(qa("grid-row").map((r) => r.dataset.id)).toEqual(["q0", "q1"]);
    model.emit({ kind: "grid_rows", run: "r1", view: 0, start: 2, rows: ROWS.slice(2) });
    model.emit({ kind: "grid_rows", run: "old", view: 0, start: 0, rows: [row(7, {})] }); // another run: ignored
    await frame();
    expect(qa("grid-row")).toHaveLength(4);
    expect(qa("grid-colname").map((c) => c.textContent)).toEqual(COLUMNS);
    const filter = q("grid-filter") as HTMLSelectElement;
    filter.value = "disagree";
    filter.dispatchEvent(new Event("change"));
    await frame();
    expect(qa("grid-row").map((r) => r.dataset.id)).toEqual(["q1", "q3"]);
    const failing = qa("grid-cell").filter((c) => c.dataset.outcome === "fail").map((c) => `${c.dataset.key}/${c.dataset.column}`);
    expect(failing).toEqual(["1:0/b", "3:0/a", "3:0/c"]);
  });

  it("a view that missed rows fetches them with the grid_rows command", async () => {
    const { model, qa } = mount();
    model.update("grid_state", { ...STATE, rows: 4, running: false });
    const asked = model.messages.filter((m) => m.name === "grid_rows");
    expect(asked.map((m) => m.args)).toEqual([{ run: "r1", start: 0 }]);
    model.answer({ ok: true, result: { run: "r1", view: 0, start: 0, rows: ROWS } }, "grid_rows");
    await settled();
    await frame();
    expect(qa("grid-row")).toHaveLength(4);
  });

  it("1,000 rows: only the visible ones are in the DOM", async () => {
    const { model, qa } = mount();
    model.update("grid_state", STATE);
    const many = Array.from({ length: 1000 }, (_, i) => row(i, { a: cell(i % 2 === 0), b: cell(true), c: cell(false) }));
    model.emit({ kind: "grid_rows", run: "r1", view: 0, start: 0, rows: many });
    await frame();
    expect(qa("grid-row").length).toBeGreaterThan(0);
    expect(qa("grid-row").length).toBeLessThan(20);
    expect(qa("results-grid")[0].dataset.rows).toBe("1000");
  });

  it("one click opens the whole reply with its reasons; a second click opens the word diff of the two", async () => {
    const { model, q, qa } = mount();
    model.update("grid_state", STATE);
    const withReasons = row(0, {
      a: { ...cell(false, "The capital is Lyon"), checks: [{ type: "icontains", pass: false, score: 0, reason: "Expected output to contain \"paris\"", metric: null, weight: 1, error: null }] },
      b: cell(true, "The capital is Paris"), c: cell(true),
    });
    model.emit({ kind: "grid_rows", run: "r1", view: 0, start: 0, rows: [withReasons] });
    await frame();
    const cellOf = (column: string) => qa("grid-cell").find((c) => c.dataset.column === column)!;
    expect(cellOf("a").title).toContain("Expected output to contain");
    cellOf("a").click();
    expect(q("grid-full").textContent).toBe("The capital is Lyon");
    expect(q("grid-reasons").textContent).toContain("icontains");
    cellOf("b").click();
    expect(q("grid-diff")).not.toBeNull();
    expect(q("diff-delete", q("grid-diff-left")).textContent).toContain("Lyon");
    expect(q("diff-insert", q("grid-diff-right")).textContent).toContain("Paris");
  });

  it("the summary: a row per column and measure with its method, a row per pair with the test and the verdict", () => {
    const { model, q, qa } = mount();
    model.update("grid_state", STATE);
    model.update("grid_summary", {
      run: "r1", rows: 1, final: true, method: { correction: "holm", alpha: 0.05 },
      columns: [{ column: "a", measure: "pass", n: 1, prompts: 1, estimate: 1, lo: 0.21, hi: 1, method: "pass rate, Wilson 95% interval", note: "" }],
      pairs: [{ measure: "pass", a: "a", b: "b", n: 1, prompts: 1, estimate: null, estimate_of: "pass rate of a minus b", lo: null, hi: null,
        interval_method: "", p_value: null, test: "", p_adjusted: null, correction: "holm", verdict: "too few paired rows",
        a_only: null, b_only: null, ties: null, prompts_needed: null, note: "fewer than two paired rows (1): no statistics" }],
    });
    expect(q("summary-estimate").textContent).toBe("100.0%");
    expect(q("summary-method").textContent).toContain("Wilson");
    expect(q("summary-verdict").textContent).toBe("fewer than two paired rows (1): no statistics");
    expect(q("summary-note").textContent).toContain("Holm");
    expect(qa("summary-pair-row")).toHaveLength(1);
  });
});

describe("check badges under replies", () => {
  it("a badge row under the checked turn's reply in each column, gone when the result goes", () => {
    const history = [{ role: "HUMAN" as const, content: "Capital?", turn: 0 }, { role: "BOT" as const, content: "Paris", turn: 0 }];
    const { model, col, q, qa } = mount({ columns: [column("c1", { history }), column("c2", { history })] });
    model.update("turn_checks", {
      c1: { 0: { pass: true, score: 1, reason: "All assertions passed", checks: [{ type: "icontains", pass: true, score: 1, reason: "ok", metric: null, weight: 1, error: null }] } },
      c2: { 0: { pass: false, score: 0, reason: "Expected output to contain \"lyon\"", checks: [] } },
    });
    expect(q("check-badge", col("c1")).textContent).toBe("pass");
    expect(q("check-chip", col("c1")).textContent).toBe("✓ icontains");
    expect(q("check-badge", col("c2")).textContent).toBe("fail");
    expect(q("check-badge", col("c2")).title).toContain("lyon");
    model.update("turn_checks", {});
    expect(qa("check-badges")).toHaveLength(0);
  });
});
