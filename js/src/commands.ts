// Browser actions as commands with answers (the Python side is chatzoo_widget/commands.py). `invoke` sends
// {kind: "command", id, name, args} and settles with Python's {kind: "answer", id, ok, result | error}.
// Custom messages reach every view of a widget: each view makes its own ids, so only the view that asked acts
// on an answer (its error shows where the user acted, a download is saved once). anywidget's experimental
// `invoke` has the same shape, but no error channel and a host-dependent presence: this one is ours.
import type { GridRowsResult } from "./grid-model";
import type { EntryTokens } from "./tokens";
import type { ColumnHistory, EntryDetail, ExportData, ExportReport } from "./types";

type NoArgs = Record<string, never>;

/** Each command and its arguments (tests/test_commands.py checks this list against Python's table). */
export interface CommandArgs {
  send: { prompt: string };
  stop: { column: string | null };
  clear: NoArgs;
  regenerate: NoArgs;
  add_model: { model: string; name?: string };
  remove_model: { column: string };
  set_settings: { column: string; settings: Record<string, unknown> };
  vote: { choice: string };
  continue_with: { column: string };
  edit_last: { prompt: string };
  thumb: { column: string; value: 1 | -1 | 0 | null; turn?: number | null };
  stop_batch: NoArgs;
  export: NoArgs;
  export_report: NoArgs;
  judge: { judge: string; turn?: number | null };
  stop_judge: NoArgs;
  leaderboard_source: { source: "votes" | "judge" | "both" };
  // chatzoo_widget/column_state.py: a reply's details, and a column's whole history (after a missed message)
  entry_detail: { column: string; turn: number };
  column_history: { column: string };
  // chatzoo_widget/token_commands.py: a reply's tokens (the Tokens toggle), and a branch from an alternative token
  entry_tokens: { column: string; turn: number };
  branch: { column: string; token_index: number; token: number | string; turn?: number | null };
  // compare/grid.py: the results grid's rows from `start` (a view that opened late or missed messages)
  grid_rows: { run: string; start: number };
  // cross_score_commands.py: start scoring a turn's replies; the record follows as a `cross_scores` message
  cross_scores: { turn?: number | null };
}

export type CommandName = keyof CommandArgs;

interface CommandResults {
  add_model: { name: string };
  export: ExportData;
  export_report: ExportReport;
  entry_detail: EntryDetail;
  column_history: ColumnHistory;
  entry_tokens: EntryTokens;
  grid_rows: GridRowsResult;
  cross_scores: { turn: number };
}

export type CommandResult<N extends CommandName> = N extends keyof CommandResults ? CommandResults[N] : null;

/** JS -> Python. */
export interface CommandMessage {
  kind: "command";
  id: string;
  name: CommandName;
  args: CommandArgs[CommandName];
}

/** Python -> JS, to every view; only the one that made `id` acts on it. */
export interface Answer {
  kind: "answer";
  id: string;
  name?: string;
  ok: boolean;
  result?: unknown;
  error?: string;
}

/** The part of the widget model `invoke` needs. */
export interface CommandModel {
  send(content: CommandMessage, callbacks?: unknown, buffers?: unknown[]): void;
  on(event: string, callback: (...args: any[]) => void): void;
  off(event?: string | null, callback?: ((...args: any[]) => void) | null): void;
}

/**
 * Long enough for a kernel finishing a cell: browser messages wait until the kernel is idle. After it the action
 * may still run; its answer is then ignored.
 */
export const DEFAULT_TIMEOUT_MS = 60_000;

/** Python refused or failed the command; `message` is its reason, for the user. */
export class CommandError extends Error {
  constructor(readonly command: string, message: string) {
    super(message);
    this.name = "CommandError";
  }
}

/** No answer in time (the kernel is busy running a cell, or gone). */
export class NoAnswerError extends Error {
  constructor(readonly command: string, readonly ms: number) {
    super(`No answer from the kernel after ${Math.round(ms / 1000)} s: a running cell holds clicks until it ends`);
    this.name = "NoAnswerError";
  }
}

/** The view was removed while waiting: nothing to show, nowhere to show it. */
export const isAbort = (error: unknown): boolean => (error as { name?: unknown } | null)?.name === "AbortError";

export const isAnswer = (msg: unknown): msg is Answer =>
  Boolean(msg) && typeof msg === "object" && (msg as { kind?: unknown }).kind === "answer";

// Ids unique across views and page loads: a random prefix per loaded module, then a counter.
const random = (): string => {
  const bytes = new Uint8Array(6);
  if (globalThis.crypto?.getRandomValues) globalThis.crypto.getRandomValues(bytes); // also on plain http
  else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
};
const prefix = random();
let counter = 0;
export const nextId = (): string => `${prefix}-${++counter}`;

const abortError = (): Error => Object.assign(new Error("the view was removed"), { name: "AbortError" });

export interface InvokeOptions {
  /** Aborting (the view's cleanup) stops waiting: the promise rejects with an AbortError. */
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** Send command `name` and wait for its answer: the result, or a CommandError with Python's reason. */
export function invoke<N extends CommandName>(
  model: CommandModel, name: N, args: CommandArgs[N], options: InvokeOptions = {},
): Promise<CommandResult<N>> {
  const { signal, timeoutMs = DEFAULT_TIMEOUT_MS } = options;
  if (signal?.aborted) return Promise.reject(abortError());
  const id = nextId();
  return new Promise<CommandResult<N>>((resolve, reject) => {
    const settle = (outcome: () => void) => {
      model.off("msg:custom", onMessage);
      signal?.removeEventListener("abort", onAbort);
      clearTimeout(timer);
      outcome();
    };
    const onMessage = (msg: unknown) => {
      if (!isAnswer(msg) || msg.id !== id) return; // another view's answer, or not an answer
      settle(() => (msg.ok
        ? resolve((msg.result ?? null) as CommandResult<N>)
        : reject(new CommandError(name, typeof msg.error === "string" && msg.error ? msg.error : `${name} failed`))));
    };
    const onAbort = () => settle(() => reject(abortError()));
    const timer = setTimeout(() => settle(() => reject(new NoAnswerError(name, timeoutMs))), timeoutMs);
    model.on("msg:custom", onMessage);
    signal?.addEventListener("abort", onAbort);
    model.send({ kind: "command", id, name, args });
  });
}

/** `invoke` bound to one view's model and cleanup signal: what the view's parts get. */
export type Invoke = <N extends CommandName>(name: N, args: CommandArgs[N]) => Promise<CommandResult<N>>;

export function bindInvoke(model: CommandModel, signal: AbortSignal, timeoutMs?: number): Invoke {
  return (name, args) => invoke(model, name, args, { signal, timeoutMs });
}

/** What to tell the user about a failed command; null when the view is gone. */
export function failureText(error: unknown): string | null {
  if (isAbort(error)) return null;
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}

/** Where a part shows the outcome of its commands. */
export interface Say {
  (text: string): void;
}

/**
 * Run a command for a control and show its error with `say` (cleared when it starts): resolves to
 * `{ok: true, result}` or `{ok: false}`, never rejects, so click handlers need no try/catch.
 */
export async function attempt<R>(call: Promise<R>, say: Say): Promise<{ ok: true; result: R } | { ok: false }> {
  say("");
  try {
    return { ok: true, result: await call };
  } catch (error) {
    const text = failureText(error);
    if (text !== null) say(text);
    return { ok: false };
  }
}
