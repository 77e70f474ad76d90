// Shapes of the synced state and messages described in js/README.md (the contract with Python).
import type { WidgetManagerLike } from "./column-models";
import type { Answer, CommandMessage } from "./commands";
import type { Entry, Stats } from "./records";
import type { TurnChecks } from "./check-badges";
import type { GridRowsResult, GridState } from "./grid-model";
import type { GridSummary } from "./summary";

export type Status = "loading" | "ready" | "generating" | "error";

/** A reply's statistics: the `Stats` record (records.ts, generated from chatzoo_widget/records/). */
export type ReplyStats = Stats;

/** A history entry as the browser gets it: the `Entry` record (records.ts) and what the wire adds. */
export interface HistoryEntry extends Entry {
  /** Arena, while blind: the rendered prompt stays in the kernel (its format would name the model). */
  prompt_hidden?: boolean;
  alternatives?: HistoryEntry[];
  edited?: { turn: number; prompt: string; reply: HistoryEntry | null }[];
  /** Synced entries leave the bulky details in the kernel: the reply has a rendered prompt / thinking to fetch
   * (`entry_detail`, details.ts) when its block is opened. */
  has_prompt?: boolean;
  has_reasoning?: boolean;
  /** The reply's token probabilities stay in the kernel too: `entry_tokens` (tokens.ts) fetches them. */
  has_tokens?: boolean;
}

/** A column's synced history (a column model's `history` trait). */
export interface ColumnHistory {
  /** Bumped by every `entries` message. */
  version: number;
  entries: HistoryEntry[];
}

/** Python -> JS: a column's history changed; keep its first `keep` entries and append `entries`. */
export interface EntriesMessage {
  kind: "entries";
  column: string;
  version: number;
  keep: number;
  entries: HistoryEntry[];
}

/** What `entry_detail` answers for one reply: what its synced entry leaves out. */
export interface EntryDetail {
  rendered_prompt?: string | null;
  prompt_tokens?: number | null;
  /** Arena, while blind: the rendered prompt stays in the kernel. */
  prompt_hidden?: boolean;
  reasoning?: string | null;
  reasoning_unfinished?: boolean;
}

export interface SettingSpec {
  name: string;
  type: "int" | "float" | "bool" | "str";
  default?: unknown;
  min?: number | null;
  max?: number | null;
  step?: number | null;
  description?: string;
  target?: string;
  multiline?: boolean;
}

export interface ColumnState {
  id: string;
  name: string;
  model: string;
  family?: string;
  status: Status;
  error?: string | null;
  progress?: string | null;
  /** The decode step's note: "compiling (one-off)", or why compiling failed. */
  note?: string | null;
  settings: Record<string, unknown>;
  spec: SettingSpec[];
  history: HistoryEntry[];
  /** Arena mode only: "Model A"... (the blind name), whether names are hidden, and the real name once revealed. */
  label?: string | null;
  blind?: boolean | null;
  real_name?: string | null;
}

/** `vote_state`: the vote on the latest finished turn, and the thumbs of the current conversation. */
export interface VoteState {
  conversation?: string;
  can_vote?: boolean;
  /** Why voting is not possible now (null when it is). */
  reason?: string | null;
  turn?: number | null;
  /** Column names (arena labels while blind), then "tie" and "bad". */
  choices?: string[];
  /** The vote on the latest turn: a column name, "tie" or "bad" (null: none yet). */
  current?: string | null;
  /** {column id: {turn (as a string): 1 | -1}} */
  thumbs?: Record<string, Record<string, number>>;
  votes?: { conversation: string; turn: number; choice: string; timestamp?: string }[];
}

export interface LeaderboardRow {
  contestant: string;
  model?: string | null;
  elo?: number | null;
  elo_lo?: number | null;
  elo_hi?: number | null;
  bt?: number | null;
  bt_lo?: number | null;
  bt_hi?: number | null;
  wins?: number;
  losses?: number;
  ties?: number;
  battles?: number;
}

export interface ChartBar {
  label: string;
  value: number | null;
  lo: number | null;
  hi: number | null;
}

/** `leaderboard_table` ({} until the first vote or judge verdict). */
export interface LeaderboardTable {
  rows?: LeaderboardRow[];
  columns?: string[];
  method?: Record<string, any>;
  chart?: { metric?: string; bars?: ChartBar[]; min?: number | null; max?: number | null };
  /** Which battles are ranked ("votes", "judge" or "both") and how many of each there are. */
  source?: "votes" | "judge" | "both";
  counts?: { votes?: number; judge?: number };
}

/** One judged pair of `judge_state.verdicts` (names as shown: arena labels while blind). */
export interface JudgeVerdict {
  a?: string | null;
  b?: string | null;
  a_name?: string | null;
  b_name?: string | null;
  /** "a" or "b" (won in both orders), "tie", or null when the judge failed (see `error`). */
  verdict?: "a" | "b" | "tie" | null;
  winner_name?: string | null;
  /** The raw verdict of each order (A/B, then B/A): "A", "B", "C" or null. */
  orders?: (string | null)[];
  rationales?: string[];
  error?: string | null;
  judge?: string | null;
}

/** `judge_state.agreement`: the judge against the user's votes. */
export interface JudgeAgreement {
  n: number;
  kappa?: number | null;
  position_bias?: number | null;
  judged?: number | null;
  labels?: string[];
  confusion?: number[][];
}

/** `judge_state` ({} until the first judging). */
export interface JudgeState {
  run?: { running?: boolean; done?: number; total?: number; errors?: number; stopped?: boolean;
    error?: string | null; judge?: string | null; turn?: number | null };
  conversation?: string;
  turn?: number | null;
  verdicts?: JudgeVerdict[];
  agreement?: JudgeAgreement | null;
  count?: number;
}

/** `batch_progress` ({} until the first batch run). */
export interface BatchProgress {
  running?: boolean;
  done?: number;
  total?: number;
  stopped?: boolean;
  error?: string | null;
  /** one_model_at_a_time: which model runs, e.g. "loading smollm2-135m (1 of 3)" (null between and after). */
  phase?: string | null;
}

/** Python -> JS custom messages about replies (see stream.ts). */
export type DeltaMessage = { kind: "delta"; column: string; turn: number; text: string; part?: "reasoning" };

export type StreamMessage =
  | { kind: "turn_start"; column: string; turn: number; prompt?: string }
  /** The model is reading the prompt (prefill.ts); `server`: a remote model has sent nothing yet. */
  | { kind: "prefill"; column: string; turn: number; prompt_tokens?: number | null; done?: number | null;
      server?: boolean }
  | DeltaMessage
  /** The deltas of every streaming column since the last frame (one message per ~40 ms, however many columns). */
  | { kind: "frame"; column?: undefined; deltas: DeltaMessage[] }
  /** `text` and `reasoning` are optional: the widget sends the reply's final text in its history entry. */
  | { kind: "turn_end"; column: string; turn: number; text?: string; stats?: ReplyStats | null;
      reasoning?: string | null; reasoning_unfinished?: boolean }
  | { kind: "turn_error"; column: string; turn: number; message: string };

/** The result of the `export` command (the download button): save `document` as JSON under `filename`. */
export interface ExportData {
  kind: "export_data";
  filename?: string;
  document: unknown;
}

/** The result of the `export_report` command (the report button): save `html` under `filename`. */
export interface ExportReport {
  kind: "export_report";
  filename?: string;
  html: string;
}

/** Python -> JS custom messages: replies streaming, history changes, and commands' answers (commands.ts). */
export type InMessage = StreamMessage | EntriesMessage | Answer | (GridRowsResult & { kind: "grid_rows" });

export interface Traits {
  /** "IPY_MODEL_<id>" references to the column models (column-models.ts); plain columns are drawn too. */
  columns: (ColumnState | string)[];
  system_prompt: string;
  busy: boolean;
  arena: boolean;
  vote_state: VoteState;
  leaderboard_table: LeaderboardTable;
  batch_progress: BatchProgress;
  judge_state: JudgeState;
  /** The latest batch run's results grid (grid.ts); its rows come as `grid_rows` messages. */
  grid_state?: GridState;
  grid_summary?: Partial<GridSummary>;
  /** `w.check(...)`'s results under the replies: {column id: {turn: result}} (check-badges.ts). */
  turn_checks?: TurnChecks;
  /** The static snapshot's id (chatzoo_widget/report/snapshot.py): a live view hides that output. */
  _snapshot_id?: string;
}

type Callback = (...args: any[]) => void;

/** The part of anywidget's model that the widget uses (also what the tests fake). */
export interface WidgetModel {
  get<K extends keyof Traits>(name: K): Traits[K];
  set<K extends keyof Traits>(name: K, value: Traits[K]): void;
  save_changes(): void;
  on(event: string, callback: Callback): void;
  off(event?: string | null, callback?: Callback | null): void;
  send(content: CommandMessage, callbacks?: unknown, buffers?: unknown[]): void;
  /** Resolves the column models' references (anywidget passes the host's widget manager). */
  widget_manager?: WidgetManagerLike;
}

export interface RenderProps {
  model: WidgetModel;
  el: HTMLElement;
}
