// A stand-in for anywidget's model: traits in a plain object, listeners by event name, sent messages recorded.
import type { CommandMessage } from "../src/commands";
import widget from "../src/index";
import type { ColumnState, Traits, WidgetModel } from "../src/types";

type Callback = (...args: any[]) => void;
export type SentCommand = { kind: string } & Record<string, unknown>;

export interface FakeModel extends WidgetModel {
  state: Traits;
  /** Each command sent, as {kind: name, ...args}, in order (the raw messages, with ids, are in `messages`). */
  sent: SentCommand[];
  messages: CommandMessage[];
  /** Python answers the latest command (or the latest named `name`) as it would, to every view. */
  answer(outcome: { ok: true; result?: unknown } | { ok: false; error: string }, name?: string): void;
  saved: number;
  /** Python side: change a trait and fire `change:<name>`. */
  update<K extends keyof Traits>(name: K, value: Traits[K]): void;
  /** Python side: a custom message (`msg:custom`). */
  emit(msg: Record<string, unknown>): void;
  listenerCount(): number;
}

export function fakeModel(initial: Partial<Traits> = {}): FakeModel {
  const listeners = new Map<string, Set<Callback>>();
  const fire = (event: string, ...args: unknown[]) => {
    for (const cb of Array.from(listeners.get(event) ?? [])) cb(...args);
  };
  const model: FakeModel = {
    state: {
      columns: [], system_prompt: "", busy: false, arena: false, vote_state: {}, leaderboard_table: {},
      batch_progress: {}, judge_state: {}, ...initial,
    },
    sent: [],
    messages: [],
    saved: 0,
    get: (name) => model.state[name],
    set: (name, value) => void (model.state[name] = value),
    save_changes: () => void model.saved++,
    on(event, cb) {
      if (!listeners.has(event)) listeners.set(event, new Set());
      listeners.get(event)!.add(cb);
    },
    off(event, cb) {
      if (!event) listeners.clear();
      else if (!cb) listeners.delete(event);
      else listeners.get(event)?.delete(cb);
    },
    send(msg) {
      model.messages.push(msg);
      model.sent.push({ kind: msg.name, ...msg.args });
    },
    answer(outcome, name) {
      const asked = model.messages.filter((m) => name === undefined || m.name === name).at(-1);
      if (!asked) throw new Error(`no command ${name ?? ""} to answer`);
      fire("msg:custom", { kind: "answer", id: asked.id, name: asked.name, ...outcome }, []);
    },
    update(name, value) {
      model.state[name] = value;
      fire(`change:${name}`, model, value);
    },
    emit: (msg) => fire("msg:custom", msg, []),
    listenerCount: () => Array.from(listeners.values()).reduce((n, set) => n + set.size, 0),
  };
  return model;
}

export function column(id: string, extra: Partial<ColumnState> = {}): ColumnState {
  return {
    id, name: `bot-${id}`, model: "smollm2-135m", family: "chat", status: "ready", error: null, progress: null,
    settings: { max_new_tokens: 64, temperature: 0.7, do_sample: true, stop: "" },
    spec: [
      { name: "max_new_tokens", type: "int", default: 256, min: 1, max: 4096, step: 1, description: "reply length", target: "generate", multiline: false },
      { name: "temperature", type: "float", default: 0.7, min: 0, max: 2, step: 0.05, description: "randomness", target: "generate", multiline: false },
      { name: "do_sample", type: "bool", default: true, description: "sample", target: "generate", multiline: false },
      { name: "stop", type: "str", default: "", description: "stop text", target: "generate", multiline: false },
    ],
    history: [],
    ...extra,
  };
}

/** Render into a fresh element attached to the document; returns the pieces tests need. */
export function mount(initial: Partial<Traits> = {}) {
  const model = fakeModel(initial);
  const el = document.createElement("div");
  document.body.append(el);
  const cleanup = widget.render({ model, el });
  const q = (testid: string, scope: ParentNode = el) => scope.querySelector(`[data-testid="${testid}"]`) as HTMLElement;
  const qa = (testid: string, scope: ParentNode = el) =>
    Array.from(scope.querySelectorAll(`[data-testid="${testid}"]`)) as HTMLElement[];
  const col = (id: string) => el.querySelector(`[data-testid="column"][data-column-id="${id}"]`) as HTMLElement;
  return { model, el, cleanup, q, qa, col };
}

export const key = (target: Element, keyName: string, init: KeyboardEventInit = {}) =>
  target.dispatchEvent(new KeyboardEvent("keydown", { key: keyName, bubbles: true, cancelable: true, ...init }));

/** Let pending promise callbacks run (an answer's effects happen a few microtasks after it arrives). */
export const settled = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

export const frame = () => new Promise<void>((resolve) => requestAnimationFrame(() => resolve()));
