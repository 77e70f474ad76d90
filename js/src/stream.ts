// Replies in progress, kept apart from the columns' synced history: Python streams them as custom messages (deltas
// in frames of every column) and the finished reply lands in the column's history afterwards. This module decides when the streamed view
// is superseded by that history entry, so a reply is never shown twice.
import { prefillState, type PrefillState } from "./prefill";
import type { ColumnState, HistoryEntry, ReplyStats, StreamMessage } from "./types";

export interface StreamEntry {
  column: string;
  turn: number;
  /** The prompt from turn_start, shown if the history has not caught up with the HUMAN entry yet. */
  prompt: string | null;
  text: string;
  /** The thinking so far (deltas with part "reasoning"), apart from the answer in `text`. */
  reasoning: string;
  reasoningUnfinished: boolean;
  done: boolean;
  /** The last `prefill` event: the prompt is being read (shown until the first text). */
  prefill: PrefillState | null;
  stats: ReplyStats | null;
  error: string | null;
  /** A BOT entry for this turn that was already in the history at turn_start (Regenerate is replacing it). */
  staleBot: string | null;
}

type Redraw = (columnId: string) => void;

const botFor = (column: ColumnState | undefined, turn: number): HistoryEntry | undefined =>
  column?.history?.find((e) => e.role === "BOT" && e.turn === turn);

const key = (entry: HistoryEntry | undefined): string | null => (entry ? JSON.stringify(entry) : null);

// requestAnimationFrame is missing in some hosts (and paused in background tabs, which is fine: text piles up).
const nextFrame = (cb: () => void): (() => void) => {
  if (typeof requestAnimationFrame === "function") {
    const id = requestAnimationFrame(cb);
    return () => cancelAnimationFrame(id);
  }
  const id = setTimeout(cb, 16);
  return () => clearTimeout(id);
};

export class Streams {
  private entries = new Map<string, StreamEntry>();
  /** Each column's last reply that went into the history: its turn and streamed thinking. */
  private finished = new Map<string, { turn: number; reasoning: string }>();
  private dirty = new Set<string>();
  private cancelFrame: (() => void) | null = null;

  /** `redraw(columnId)` repaints that column's streaming bubble from `get(columnId)`. */
  constructor(private redraw: Redraw) {}

  get(columnId: string): StreamEntry | undefined {
    return this.entries.get(columnId);
  }

  /** Apply one Python -> JS message (a frame: each of its deltas). Messages for columns not in `columns` are
   * ignored. */
  handle(msg: StreamMessage, columns: ColumnState[]): void {
    if (msg && typeof msg === "object" && msg.kind === "frame") {
      for (const delta of Array.isArray(msg.deltas) ? msg.deltas : []) this.handle(delta, columns);
      return;
    }
    if (!msg || typeof msg !== "object" || typeof msg.column !== "string") return;
    const column = columns.find((c) => c.id === msg.column);
    if (!column) return;
    const turn = Number(msg.turn);
    let entry = this.entries.get(column.id);

    if (msg.kind === "turn_start") {
      entry = this.fresh(column, turn, msg.prompt ?? null);
      this.paint(column.id);
      return;
    }
    if (!["prefill", "delta", "turn_end", "turn_error"].includes(msg.kind)) return;
    if (entry && entry.turn !== turn) entry = undefined;
    if (!entry) {
      // A view opened mid-reply (or a turn that is already in the history) gets no turn_start.
      if (this.isSuperseded(column, turn, null)) return;
      entry = this.fresh(column, turn, null);
    }

    if (msg.kind === "prefill") {
      if (!entry.done) entry.prefill = prefillState(msg);
      this.paint(column.id);
    } else if (msg.kind === "delta") {
      if (entry.done) return;
      if (msg.part === "reasoning") entry.reasoning += String(msg.text ?? "");
      else entry.text += String(msg.text ?? "");
      this.schedule(column.id); // markdown is re-rendered once per frame, not once per delta
    } else if (msg.kind === "turn_error") {
      entry.error = String(msg.message ?? "generation failed");
      this.paint(column.id);
    } else {
      if (this.isSuperseded(column, turn, entry.staleBot)) {
        // The history update overtook turn_end: the reply is already on screen as a message.
        this.retire(column.id, entry);
      } else {
        entry.text = String(msg.text ?? entry.text);
        if (typeof msg.reasoning === "string") entry.reasoning = msg.reasoning;
        entry.reasoningUnfinished = msg.reasoning_unfinished === true;
        entry.stats = msg.stats ?? null;
        entry.done = true;
      }
      this.paint(column.id);
    }
  }

  /** After a `columns` update: drop bubbles whose reply is now in the history, or whose column is gone. */
  reconcile(columns: ColumnState[]): void {
    for (const [id, entry] of Array.from(this.entries)) {
      const column = columns.find((c) => c.id === id);
      if (!column) {
        this.entries.delete(id);
        this.dirty.delete(id);
        continue;
      }
      const bot = key(botFor(column, entry.turn));
      if (bot === null) entry.staleBot = null; // the old reply is gone: the next one for this turn is ours
      else if (bot !== entry.staleBot) {
        this.retire(id, entry);
        this.dirty.delete(id);
      }
    }
  }

  /** The thinking a column streamed for `turn`, once its reply is in the history (shown while the final one is
   * fetched, so an open Thinking block does not flash empty). */
  streamedReasoning(columnId: string, turn: number): string | undefined {
    const last = this.finished.get(columnId);
    return last && last.turn === turn && last.reasoning ? last.reasoning : undefined;
  }

  private retire(columnId: string, entry: StreamEntry): void {
    this.entries.delete(columnId);
    this.finished.set(columnId, { turn: entry.turn, reasoning: entry.reasoning });
  }

  dispose(): void {
    this.cancelFrame?.();
    this.cancelFrame = null;
    this.entries.clear();
    this.finished.clear();
    this.dirty.clear();
  }

  private fresh(column: ColumnState, turn: number, prompt: string | null): StreamEntry {
    const entry: StreamEntry = {
      column: column.id, turn, prompt, text: "", reasoning: "", reasoningUnfinished: false, done: false, stats: null,
      error: null, prefill: null,
      staleBot: key(botFor(column, turn)),
    };
    this.entries.set(column.id, entry);
    return entry;
  }

  private isSuperseded(column: ColumnState, turn: number, staleBot: string | null): boolean {
    const bot = key(botFor(column, turn));
    return bot !== null && bot !== staleBot;
  }

  private paint(columnId: string): void {
    this.dirty.delete(columnId);
    this.redraw(columnId);
  }

  private schedule(columnId: string): void {
    this.dirty.add(columnId);
    if (this.cancelFrame) return;
    this.cancelFrame = nextFrame(() => {
      this.cancelFrame = null;
      const ids = Array.from(this.dirty);
      this.dirty.clear();
      for (const id of ids) this.redraw(id);
    });
  }
}
