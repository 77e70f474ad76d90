// The results grid of the latest batch run (Python: chatzoo_widget/compare/grid.py): one row per prompt, one
// column per model; each cell the reply cut to two lines, its pass/fail badge and score, the checks' reasons on
// hover. Filters pick the rows; a click opens a cell whole, a click on a second cell opens the two replies' word
// diff. Rows arrive once each as `grid_rows` messages (a view that missed some fetches them with the `grid_rows`
// command); only the rows in view are in the DOM (grid-model.ts's `visibleWindow`), so 1,000 rows scroll as 20.
import { attempt, type Invoke } from "./commands";
import { segmentNodes, wordDiff } from "./diff";
import { h, setText, type Listen } from "./dom";
import {
  FILTERS, filterRows, insertRow, nextSelection, outcome, reasonLines, scoreText, truncate, visibleWindow,
  type CellRef, type FilterChoice, type GridFilter, type GridRowsResult, type GridState,
} from "./grid-model";
import { noticeLine } from "./notice";
import type { GridRow } from "./records";
import { SummaryPanel } from "./summary";

/** Fixed row height (px; widget.css clamps a cell to it): the window is computed, never measured. */
export const ROW_HEIGHT = 64;

export interface GridContext {
  listen: Listen;
  invoke: Invoke;
}

export const isGridRows = (msg: unknown): msg is GridRowsResult & { kind: "grid_rows" } =>
  Boolean(msg) && typeof msg === "object" && (msg as { kind?: unknown }).kind === "grid_rows";

export class GridPanel {
  readonly el: HTMLDetailsElement;
  private summary = new SummaryPanel();
  private count: HTMLElement;
  private filterSelect: HTMLSelectElement;
  private columnSelect: HTMLSelectElement;
  private baselineSelect: HTMLSelectElement;
  private differs: HTMLElement;
  private scroller: HTMLElement;
  private header: HTMLElement;
  private body: HTMLElement;
  private detail: HTMLElement;
  private say: (text: string) => void;

  private run = "";
  private view = -1;
  private columns: string[] = [];
  private received = 0; // rows of this run and view so far, in the order Python sent them
  private rows: GridRow[] = []; // the same rows in dataset order
  private shown: GridRow[] = []; // after the filter
  private running = false;
  private fetching = false;
  private wanted = 0; // rows Python says it sent
  private selected: CellRef[] = [];
  private drawn = new Map<string, HTMLElement>(); // row key -> its element, for the rows in the DOM
  private frame = 0;
  private filterKey = "";

  constructor(private ctx: GridContext) {
    const notice = noticeLine("grid-notice");
    this.say = notice.say;
    this.count = h("span", { class: "cz-muted", testid: "grid-count" });
    this.filterSelect = h("select", { class: "cz-select", testid: "grid-filter", "aria-label": "Rows to show" },
      ...FILTERS.map((f) => h("option", { value: f.value, text: f.text, title: f.title })));
    this.columnSelect = h("select", { class: "cz-select", testid: "grid-column", "aria-label": "Column" });
    this.baselineSelect = h("select", { class: "cz-select", testid: "grid-baseline", "aria-label": "Baseline column" });
    this.differs = h("span", { class: "cz-grid-differs", hidden: true },
      this.columnSelect, h("span", { class: "cz-muted", text: "vs baseline" }), this.baselineSelect);
    this.header = h("div", { class: "cz-grid-row cz-grid-header", testid: "grid-header" });
    this.body = h("div", { class: "cz-grid-body" });
    this.scroller = h("div", { class: "cz-grid-scroll", testid: "grid-scroll" }, this.header, this.body);
    this.detail = h("div", { class: "cz-grid-detail", testid: "grid-detail", hidden: true });
    this.el = h("details", { class: "cz-grid", testid: "results-grid", open: true, hidden: true },
      h("summary", { class: "cz-grid-title" }, h("span", { text: "Results" }), this.count),
      this.summary.el,
      h("div", { class: "cz-grid-controls" }, this.filterSelect, this.differs),
      notice.el, this.scroller, this.detail);
    for (const select of [this.filterSelect, this.columnSelect, this.baselineSelect]) {
      ctx.listen(select, "change", () => this.refilter());
    }
    ctx.listen(this.scroller, "scroll", () => this.schedule());
    // One delegated listener for every cell, present or future.
    ctx.listen(this.body, "click", (event) => {
      const cell = (event.target as Element | null)?.closest?.<HTMLElement>(".cz-grid-cell");
      if (!cell || !cell.dataset.key || cell.dataset.column === undefined) return;
      this.selected = nextSelection(this.selected, { key: cell.dataset.key, column: cell.dataset.column });
      this.drawDetail();
      this.markSelected();
    });
    // Cells are buttons for the keyboard too: Enter or Space opens them as a click does.
    ctx.listen(this.body, "keydown", (event: KeyboardEvent) => {
      const cell = (event.target as Element | null)?.closest?.<HTMLElement>(".cz-grid-cell");
      if (!cell || (event.key !== "Enter" && event.key !== " ")) return;
      event.preventDefault();
      cell.click();
    });
  }

  /** `grid_state`: a new run or view starts over; a count above what arrived fetches the rest. */
  update(state: GridState | null | undefined): void {
    const s = state && typeof state === "object" ? state : {};
    if (!s.run) {
      this.el.hidden = true;
      return;
    }
    if (s.run !== this.run || (s.view ?? 0) !== this.view) {
      this.run = s.run;
      this.view = s.view ?? 0;
      this.received = 0;
      this.rows = [];
      this.selected = [];
      this.drawn.forEach((el) => el.remove());
      this.drawn.clear();
      this.drawDetail();
    }
    this.el.hidden = false;
    this.running = Boolean(s.running);
    this.wanted = Math.max(0, Number(s.rows) || 0);
    this.setColumns(Array.isArray(s.columns) ? s.columns.map(String) : []);
    if (this.wanted > this.received) void this.fetch();
    this.refilter();
  }

  /** The `grid_summary` trait. */
  setSummary(record: unknown): void {
    this.summary.update(record);
  }

  /** A `grid_rows` message: rows `start`... of a run. */
  handle(msg: GridRowsResult): void {
    if (msg.run !== this.run || msg.view !== this.view) return; // an older run, or ahead of its grid_state
    if (msg.start > this.received) {
      this.wanted = Math.max(this.wanted, msg.start + (msg.rows?.length ?? 0));
      void this.fetch(); // some were missed
      return;
    }
    this.take(msg);
  }

  private take(result: GridRowsResult): void {
    const fresh = (result.rows ?? []).slice(this.received - result.start);
    for (const row of fresh) insertRow(this.rows, row);
    this.received += fresh.length;
    this.wanted = Math.max(this.wanted, this.received);
    if (fresh.length) this.refilter();
  }

  private async fetch(): Promise<void> {
    if (this.fetching) return;
    this.fetching = true;
    const run = this.run;
    const view = this.view;
    const outcome = await attempt(this.ctx.invoke("grid_rows", { run, start: this.received }), this.say);
    this.fetching = false;
    if (!outcome.ok || run !== this.run || view !== this.view) return;
    const result = outcome.result;
    if (result.run === run && result.view === view && result.start <= this.received) this.take(result);
    if (this.received < this.wanted && result.rows.length) void this.fetch();
  }

  private setColumns(columns: string[]): void {
    if (JSON.stringify(columns) === JSON.stringify(this.columns)) return;
    this.columns = columns;
    const keep = (select: HTMLSelectElement, fallback: string | undefined) => {
      const value = columns.includes(select.value) ? select.value : fallback ?? "";
      select.replaceChildren(...columns.map((c) => h("option", { value: c, text: c })));
      select.value = value;
    };
    keep(this.baselineSelect, columns[0]);
    keep(this.columnSelect, columns.find((c) => c !== this.baselineSelect.value) ?? columns[0]);
    this.scroller.style.setProperty("--cz-grid-columns", String(columns.length));
    this.header.replaceChildren(h("div", { class: "cz-grid-prompt", text: "Row" }),
      ...columns.map((c) => h("div", { class: "cz-grid-colname", testid: "grid-colname", text: c, title: c })));
    this.drawn.forEach((el) => el.remove());
    this.drawn.clear();
  }

  private choice(): FilterChoice {
    return { filter: this.filterSelect.value as GridFilter, column: this.columnSelect.value, baseline: this.baselineSelect.value };
  }

  private refilter(): void {
    const choice = this.choice();
    this.differs.hidden = choice.filter !== "differs";
    this.shown = filterRows(this.rows, this.columns, choice);
    const key = JSON.stringify(choice);
    if (key !== this.filterKey) {
      this.filterKey = key;
      this.scroller.scrollTop = 0;
      this.drawn.forEach((el) => el.remove()); // other rows at the same positions
      this.drawn.clear();
    }
    const total = this.rows.length;
    const filtered = choice.filter === "all" ? "" : ` · ${this.shown.length} shown`;
    setText(this.count, `${total} row${total === 1 ? "" : "s"}${filtered}${this.running ? " · running…" : ""}`);
    Object.assign(this.el.dataset, { rows: String(total), shown: String(this.shown.length), running: String(this.running) });
    this.body.style.height = `${this.shown.length * ROW_HEIGHT}px`;
    this.schedule();
  }

  /** Draw at the next animation frame (many scroll events or messages, one draw). */
  private schedule(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.drawWindow();
    });
  }

  private drawWindow(): void {
    const viewport = this.scroller.clientHeight - this.header.offsetHeight;
    const top = Math.max(0, this.scroller.scrollTop);
    const win = visibleWindow(this.shown.length, ROW_HEIGHT, top, viewport > 0 ? viewport : 8 * ROW_HEIGHT);
    const keep = new Set<string>();
    for (let i = win.start; i < win.end; i++) {
      const row = this.shown[i];
      keep.add(row.key);
      let el = this.drawn.get(row.key);
      if (!el) {
        el = this.rowElement(row);
        this.drawn.set(row.key, el);
        this.body.append(el);
      }
      el.style.transform = `translateY(${i * ROW_HEIGHT}px)`;
    }
    for (const [key, el] of this.drawn) {
      if (!keep.has(key)) {
        el.remove();
        this.drawn.delete(key);
      }
    }
  }

  /** The selection's highlight on the cells in the DOM (in place: a focused cell keeps its focus). */
  private markSelected(): void {
    for (const el of this.body.querySelectorAll<HTMLElement>(".cz-grid-cell")) {
      el.classList.toggle("cz-selected", this.selected.some((c) => c.key === el.dataset.key && c.column === el.dataset.column));
    }
  }

  private rowElement(row: GridRow): HTMLElement {
    const prompt = h("div", { class: "cz-grid-prompt", title: row.prompt },
      h("span", { class: "cz-grid-id", text: String(row.id) + (row.sample ? ` #${row.sample}` : "") }),
      h("span", { class: "cz-grid-text", text: truncate(row.prompt, 200) }));
    const cells = this.columns.map((column) => {
      const cell = row.cells?.[column];
      const state = outcome(row, column);
      const reasons = reasonLines(row, column);
      const selected = this.selected.some((c) => c.key === row.key && c.column === column);
      const badge = state === "pass" || state === "fail"
        ? h("span", { class: `cz-check-badge cz-check-${state}`, testid: "grid-badge", text: state, title: reasons.join("\n") })
        : null;
      return h("div", {
        class: `cz-grid-cell${selected ? " cz-selected" : ""}`, testid: "grid-cell", role: "button", tabindex: 0,
        "data-key": row.key, "data-column": column, "data-outcome": state,
        title: reasons.length ? reasons.join("\n") : "Click to read the whole reply; click another cell to compare",
      },
      h("div", { class: "cz-grid-cell-head" }, badge,
        cell && typeof cell.score === "number" ? h("span", { class: "cz-grid-score", testid: "grid-score", text: scoreText(cell.score) }) : null),
      h("div", { class: "cz-grid-text", testid: "grid-reply", text: cell ? truncate(cell.reply, 240) || "(empty)" : "—" }));
    });
    return h("div", { class: "cz-grid-row", testid: "grid-row", "data-key": row.key, "data-id": String(row.id) }, prompt, ...cells);
  }

  private find(ref: CellRef): { row: GridRow; text: string; name: string } | null {
    const row = this.rows.find((r) => r.key === ref.key);
    if (!row) return null;
    return { row, text: row.cells?.[ref.column]?.reply ?? "", name: `${row.id} · ${ref.column}` };
  }

  /** One cell: its whole reply and each check's reason. Two: their word diff. */
  private drawDetail(): void {
    const refs = this.selected.map((ref) => ({ ref, found: this.find(ref) })).filter((x) => x.found);
    this.detail.hidden = refs.length === 0;
    this.detail.dataset.count = String(refs.length);
    if (!refs.length) return this.detail.replaceChildren();
    if (refs.length === 1) {
      const { ref, found } = refs[0];
      const lines = reasonLines(found!.row, ref.column);
      const reasons = lines.length ? [h("ul", { class: "cz-grid-reasons", testid: "grid-reasons" }, ...lines.map((l) => h("li", { text: l })))] : [];
      this.detail.replaceChildren(
        h("div", { class: "cz-grid-detail-name", text: found!.name }),
        h("div", { class: "cz-grid-prompt-full", text: found!.row.prompt }),
        h("div", { class: "cz-grid-full", testid: "grid-full", text: found!.text }),
        ...reasons,
        h("div", { class: "cz-muted", text: "Click another cell to compare the two replies word by word" }));
      return;
    }
    const [a, b] = refs.map((x) => x.found!);
    const diff = wordDiff(a.text, b.text);
    const pane = (side: string, name: string, nodes: Node[]) => h("div", { class: "cz-diff-pane", testid: `grid-diff-${side}` },
      h("div", { class: "cz-diff-name", text: name }), h("div", { class: "cz-diff-text" }, ...nodes));
    this.detail.replaceChildren(
      h("div", { class: "cz-muted cz-diff-summary", testid: "grid-diff-note",
        text: diff ? "Words only in the first are struck out, words only in the second are underlined"
          : "These replies are too different to compare word by word" }),
      h("div", { class: "cz-diff-panes", testid: "grid-diff" },
        pane("left", a.name, diff ? segmentNodes(diff.left) : [document.createTextNode(a.text)]),
        pane("right", b.name, diff ? segmentNodes(diff.right) : [document.createTextNode(b.text)])));
  }

  dispose(): void {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
  }
}
