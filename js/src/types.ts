// Shapes of the synced state and messages described in js/README.md (the contract with Python).

export type Status = "loading" | "ready" | "generating" | "error";

export interface ReplyStats {
  prompt_tokens?: number | null;
  new_tokens?: number | null;
  time_to_first_token?: number | null;
  tokens_per_second?: number | null;
  total_time?: number | null;
  finish_reason?: string | null;
  dropped_turns?: number | null;
  error?: string | null;
}

export interface HistoryEntry {
  role: "HUMAN" | "BOT";
  content: string;
  turn: number;
  stats?: ReplyStats | null;
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
  settings: Record<string, unknown>;
  spec: SettingSpec[];
  history: HistoryEntry[];
}

/** Python -> JS custom messages. */
export type InMessage =
  | { kind: "turn_start"; column: string; turn: number; prompt?: string }
  | { kind: "delta"; column: string; turn: number; text: string }
  | { kind: "turn_end"; column: string; turn: number; text: string; stats?: ReplyStats | null }
  | { kind: "turn_error"; column: string; turn: number; message: string };

/** JS -> Python custom messages. */
export type OutMessage =
  | { kind: "send"; prompt: string }
  | { kind: "stop"; column: string | null }
  | { kind: "clear" }
  | { kind: "regenerate" }
  | { kind: "add_model"; name: string; model: string }
  | { kind: "remove_model"; column: string }
  | { kind: "set_settings"; column: string; settings: Record<string, unknown> };

export interface Traits {
  columns: ColumnState[];
  system_prompt: string;
  busy: boolean;
  notice: string;
}

type Callback = (...args: any[]) => void;

/** The part of anywidget's model that the widget uses (also what the tests fake). */
export interface WidgetModel {
  get<K extends keyof Traits>(name: K): Traits[K];
  set<K extends keyof Traits>(name: K, value: Traits[K]): void;
  save_changes(): void;
  on(event: string, callback: Callback): void;
  off(event?: string | null, callback?: Callback | null): void;
  send(content: OutMessage, callbacks?: unknown, buffers?: unknown[]): void;
}

export interface RenderProps {
  model: WidgetModel;
  el: HTMLElement;
}
