// The columns, one child widget model each (chatzoo_widget/column_state.py). The widget's `columns` trait lists
// "IPY_MODEL_<id>" references, resolved through `model.widget_manager.get_model(id)`; each child holds `info`,
// `settings`, `spec` and `history` ({version, entries}). A change to one column syncs that column alone.
//
// The history is never re-sent: Python sends each change once as an `entries` message (keep the first `keep`
// entries, append `entries`), and this store applies it to the child's copy with `set` and no `save_changes`, so
// the browser-side state, which JupyterLab saves into the notebook, holds the whole conversation. A message the
// copy already has (its version is not newer) is skipped; one that skips a version means a message was missed
// (a page that connected meanwhile), so the history is fetched whole (`column_history`).
//
// A `columns` trait of plain column objects (older saved notebooks, the unit tests) is drawn as it is.
import type { ColumnHistory, ColumnState, EntriesMessage, HistoryEntry } from "./types";

const REF = "IPY_MODEL_";

type Callback = (...args: any[]) => void;

/** The part of a child widget model the store uses. */
export interface ChildModel {
  get(name: string): any;
  set(name: string, value: unknown): void;
  on(event: string, callback: Callback): void;
  off(event?: string | null, callback?: Callback | null): void;
}

export interface WidgetManagerLike {
  get_model(id: string): Promise<ChildModel> | ChildModel;
}

/** The widget model as the store reads it: its `columns` trait and the manager that resolves references. */
export interface ColumnsOwner {
  get(name: "columns"): unknown;
  widget_manager?: WidgetManagerLike;
}

export const isEntriesMessage = (msg: unknown): msg is EntriesMessage =>
  Boolean(msg) && typeof msg === "object" && (msg as { kind?: unknown }).kind === "entries" &&
  typeof (msg as EntriesMessage).column === "string";

const historyOf = (child: ChildModel): ColumnHistory => {
  const value = child.get("history");
  const entries = Array.isArray(value?.entries) ? (value.entries as HistoryEntry[]) : [];
  return { version: typeof value?.version === "number" ? value.version : 0, entries };
};

/**
 * `history` after `msg`: the new history; "have" when it already has it; "gap" when a version was missed.
 * Entries kept are the same objects, so anything keyed on them (fetched details) stays valid.
 */
export function applyEntries(history: ColumnHistory, msg: EntriesMessage): ColumnHistory | "have" | "gap" {
  if (msg.version <= history.version) return "have";
  if (msg.version !== history.version + 1 || msg.keep > history.entries.length) return "gap";
  return { version: msg.version, entries: [...history.entries.slice(0, msg.keep), ...(msg.entries ?? [])] };
}

/** One column as the rest of the front end draws it, from its child model (null until it has an id). */
export function composeColumn(child: ChildModel): ColumnState | null {
  const info = child.get("info");
  if (!info || typeof info.id !== "string") return null;
  const settings = child.get("settings");
  const spec = child.get("spec");
  return {
    ...info,
    settings: settings && typeof settings === "object" ? settings : {},
    spec: Array.isArray(spec) ? spec : [],
    history: historyOf(child).entries,
  } as ColumnState;
}

export class ColumnStore {
  /** Resolved children by model id, with their composed column (cached until the child changes). */
  private children = new Map<string, { child: ChildModel; column: ColumnState | null; off: () => void }>();
  private resolving = new Set<string>();
  /** Messages for columns whose model is not resolved yet. */
  private waiting: EntriesMessage[] = [];
  private disposed = false;

  /**
   * `onChange()` runs when the list of columns or any column changed; `fetchHistory(column id)` asks Python for a
   * column's whole history (after a missed message).
   */
  constructor(
    private owner: ColumnsOwner,
    private onChange: () => void,
    private fetchHistory: (column: string) => Promise<ColumnHistory>,
  ) {}

  /** The columns in display order (references not resolved yet are left out until they are). */
  list(): ColumnState[] {
    const out: ColumnState[] = [];
    for (const ref of this.refs()) {
      if (typeof ref === "string") {
        const held = this.children.get(ref.slice(REF.length));
        if (held?.column) out.push(held.column);
      } else if (ref && typeof ref === "object" && typeof (ref as ColumnState).id === "string") {
        out.push(ref as ColumnState);
      }
    }
    return out;
  }

  /** After a `columns` change: resolve new references, let go of removed ones. */
  refresh(): void {
    const ids = new Set(this.refs().filter((r): r is string => typeof r === "string").map((r) => r.slice(REF.length)));
    for (const [id, held] of Array.from(this.children)) {
      if (!ids.has(id)) {
        held.off();
        this.children.delete(id);
      }
    }
    for (const id of ids) if (!this.children.has(id)) this.resolve(id);
    this.onChange();
  }

  /** An `entries` message from Python. */
  apply(msg: EntriesMessage): void {
    const child = this.childOf(msg.column);
    if (!child) {
      this.waiting.push(msg);
      return;
    }
    const next = applyEntries(historyOf(child), msg);
    if (next === "gap") void this.reload(msg.column, child);
    else if (next !== "have") child.set("history", next); // no save_changes: Python has it already
  }

  dispose(): void {
    this.disposed = true;
    for (const held of this.children.values()) held.off();
    this.children.clear();
    this.waiting = [];
  }

  private refs(): unknown[] {
    const value = this.owner.get("columns");
    return Array.isArray(value) ? value : [];
  }

  private childOf(columnId: string): ChildModel | undefined {
    for (const held of this.children.values()) if (held.column?.id === columnId) return held.child;
    return undefined;
  }

  private async resolve(id: string): Promise<void> {
    const manager = this.owner.widget_manager;
    if (!manager || this.resolving.has(id)) return;
    this.resolving.add(id);
    try {
      const child = await manager.get_model(id);
      if (this.disposed || this.children.has(id)) return;
      const held = { child, column: composeColumn(child), off: () => {} };
      const changed = () => {
        held.column = composeColumn(child);
        this.onChange();
      };
      child.on("change", changed);
      held.off = () => child.off("change", changed);
      this.children.set(id, held);
      const column = held.column?.id;
      const mine = this.waiting.filter((m) => m.column === column);
      this.waiting = this.waiting.filter((m) => m.column !== column);
      for (const msg of mine) this.apply(msg);
      this.onChange();
    } catch (error) {
      console.warn(`ChatZoo: column model ${id} is not available`, error); // closed meanwhile: nothing to draw
    } finally {
      this.resolving.delete(id);
    }
  }

  private async reload(columnId: string, child: ChildModel): Promise<void> {
    try {
      const fetched = await this.fetchHistory(columnId);
      if (!this.disposed && fetched && fetched.version > historyOf(child).version) child.set("history", fetched);
    } catch (error) {
      console.warn(`ChatZoo: could not fetch the history of column ${columnId}`, error);
    }
  }
}
