// Columns as child models (column-models.ts) and replies' details fetched on demand (details.ts).
import { afterEach, describe, expect, it } from "vitest";
import { applyEntries, type ChildModel } from "../src/column-models";
import widget from "../src/index";
import type { ColumnHistory, ColumnState, HistoryEntry } from "../src/types";
import { column, fakeModel, frame, settled } from "./fake-model";

afterEach(() => document.body.replaceChildren());

type Callback = (...args: any[]) => void;

/** A child widget model as ipywidgets' WidgetModel behaves: attributes, `change` events, `save_changes` counted. */
class FakeChild implements ChildModel {
  saved = 0;
  sets: string[] = [];
  private listeners = new Map<string, Set<Callback>>();
  constructor(public attrs: Record<string, any>) {}
  get(name: string) {
    return this.attrs[name];
  }
  set(name: string, value: unknown) {
    this.sets.push(name);
    this.attrs[name] = value;
    this.fire(`change:${name}`);
    this.fire("change");
  }
  save_changes() {
    this.saved++;
  }
  on(event: string, cb: Callback) {
    if (!this.listeners.has(event)) this.listeners.set(event, new Set());
    this.listeners.get(event)!.add(cb);
  }
  off(event?: string | null, cb?: Callback | null) {
    if (event && cb) this.listeners.get(event)?.delete(cb);
  }
  /** Python side: a trait update. */
  update(name: string, value: unknown) {
    this.attrs[name] = value;
    this.fire(`change:${name}`);
    this.fire("change");
  }
  listenerCount() {
    return Array.from(this.listeners.values()).reduce((n, s) => n + s.size, 0);
  }
  private fire(event: string) {
    for (const cb of Array.from(this.listeners.get(event) ?? [])) cb(this);
  }
}

const stats = { new_tokens: 3, tokens_per_second: 30, finish_reason: "stop" };
const human = (turn: number, content = `prompt ${turn}`): HistoryEntry => ({ role: "HUMAN", content, turn });
const bot = (turn: number, content = `reply ${turn}`, extra: Partial<HistoryEntry> = {}): HistoryEntry =>
  ({ role: "BOT", content, turn, stats, ...extra });

function childFor(id: string, entries: HistoryEntry[] = [], version = entries.length): FakeChild {
  const { settings, spec, history: _h, ...info } = column(id);
  return new FakeChild({ info, settings, spec, history: { version, entries } });
}

/** Render a widget whose `columns` trait references child models, as a kernel-backed page has them. */
async function mountChildren(children: Record<string, FakeChild>) {
  const model = fakeModel({ columns: Object.keys(children).map((id) => `IPY_MODEL_${id}`) });
  const asked: string[] = [];
  model.widget_manager = {
    get_model: async (id: string) => {
      asked.push(id);
      const child = children[id];
      if (!child) throw new Error(`no model ${id}`);
      return child;
    },
  };
  const el = document.createElement("div");
  document.body.append(el);
  const cleanup = widget.render({ model, el });
  await settled();
  const col = (id: string) => el.querySelector(`[data-testid="column"][data-column-id="${id}"]`) as HTMLElement;
  const texts = (id: string, role: string) =>
    Array.from(col(id).querySelectorAll(`[data-testid="message"][data-role="${role}"]`)).map((m) => m.textContent);
  return { model, el, cleanup, col, texts, asked };
}

describe("applyEntries", () => {
  const history: ColumnHistory = { version: 2, entries: [human(0), bot(0)] };

  it("appends, keeping the entries before as the same objects", () => {
    const next = applyEntries(history, { kind: "entries", column: "c1", version: 3, keep: 2, entries: [human(1)] });
    expect(next).toMatchObject({ version: 3 });
    const { entries } = next as ColumnHistory;
    expect(entries.map((e) => e.content)).toEqual(["prompt 0", "reply 0", "prompt 1"]);
    expect(entries[0]).toBe(history.entries[0]);
  });

  it("replaces the tail (Regenerate, continue-with, an edit) and empties (Clear)", () => {
    const regenerated = applyEntries(history, { kind: "entries", column: "c1", version: 3, keep: 1, entries: [bot(0, "again")] });
    expect((regenerated as ColumnHistory).entries.map((e) => e.content)).toEqual(["prompt 0", "again"]);
    const cleared = applyEntries(history, { kind: "entries", column: "c1", version: 3, keep: 0, entries: [] });
    expect((cleared as ColumnHistory).entries).toEqual([]);
  });

  it("skips what the copy already has and reports a missed message", () => {
    expect(applyEntries(history, { kind: "entries", column: "c1", version: 2, keep: 1, entries: [human(1)] })).toBe("have");
    expect(applyEntries(history, { kind: "entries", column: "c1", version: 4, keep: 2, entries: [human(1)] })).toBe("gap");
    expect(applyEntries(history, { kind: "entries", column: "c1", version: 3, keep: 5, entries: [] })).toBe("gap");
  });
});

describe("column models", () => {
  it("draws each column from its child model, in the order of the columns trait", async () => {
    const { el, texts, asked } = await mountChildren({ m1: childFor("c1", [human(0), bot(0)]), m2: childFor("c2") });
    expect(asked).toEqual(["m1", "m2"]);
    const ids = Array.from(el.querySelectorAll<HTMLElement>('[data-testid="column"]')).map((c) => c.dataset.columnId);
    expect(ids).toEqual(["c1", "c2"]);
    expect(texts("c1", "BOT")).toEqual(["reply 0"]);
  });

  it("a change to one column's info redraws that column", async () => {
    const m1 = childFor("c1");
    const { col } = await mountChildren({ m1, m2: childFor("c2") });
    m1.update("info", { ...m1.get("info"), status: "generating" });
    expect(col("c1").dataset.status).toBe("generating");
    expect(col("c2").dataset.status).toBe("ready");
  });

  it("an entries message lands in the child's local copy without save_changes, once", async () => {
    const m1 = childFor("c1", [human(0), bot(0)]);
    const { model, texts } = await mountChildren({ m1 });
    const msg = { kind: "entries", column: "c1", version: 3, keep: 2, entries: [human(1)] };
    model.emit(msg);
    model.emit(msg); // again (a page that got the state with it already): skipped
    expect(texts("c1", "HUMAN")).toEqual(["prompt 0", "prompt 1"]);
    expect(m1.get("history").version).toBe(3);
    expect(m1.saved).toBe(0); // never sent back to Python
    expect(model.sent).toEqual([]);
    model.emit({ kind: "entries", column: "c1", version: 4, keep: 3, entries: [bot(1)] });
    expect(texts("c1", "BOT")).toEqual(["reply 0", "reply 1"]);
  });

  it("a missed message makes the view fetch the whole history", async () => {
    const m1 = childFor("c1", [human(0)], 1);
    const { model, texts } = await mountChildren({ m1 });
    model.emit({ kind: "entries", column: "c1", version: 3, keep: 2, entries: [human(1)] });
    expect(model.sent).toEqual([{ kind: "column_history", column: "c1" }]);
    model.answer({ ok: true, result: { version: 3, entries: [human(0), bot(0), human(1)] } }, "column_history");
    await settled();
    expect(texts("c1", "HUMAN")).toEqual(["prompt 0", "prompt 1"]);
    expect(m1.get("history").version).toBe(3);
  });

  it("a message for a column whose model is not resolved yet waits for it", async () => {
    let release!: (child: ChildModel) => void;
    const m1 = childFor("c1", [human(0)], 1);
    const model = fakeModel({ columns: ["IPY_MODEL_m1"] });
    model.widget_manager = { get_model: () => new Promise<ChildModel>((resolve) => (release = resolve)) };
    const el = document.createElement("div");
    document.body.append(el);
    widget.render({ model, el });
    model.emit({ kind: "entries", column: "c1", version: 2, keep: 1, entries: [bot(0)] });
    release(m1);
    await settled();
    expect(m1.get("history").entries.map((e: HistoryEntry) => e.content)).toEqual(["prompt 0", "reply 0"]);
  });

  it("a removed column lets go of its model; cleanup unsubscribes", async () => {
    const m1 = childFor("c1");
    const m2 = childFor("c2");
    const { model, el, cleanup } = await mountChildren({ m1, m2 });
    model.update("columns", ["IPY_MODEL_m2"] as unknown as ColumnState[]);
    expect(el.querySelectorAll('[data-testid="column"]')).toHaveLength(1);
    expect(m1.listenerCount()).toBe(0);
    cleanup();
    expect(m2.listenerCount()).toBe(0);
  });

  it("one frame carries the deltas of several columns", async () => {
    const { model, col } = await mountChildren({ m1: childFor("c1", [human(0)]), m2: childFor("c2", [human(0)]) });
    model.emit({
      kind: "frame", deltas: [
        { kind: "delta", column: "c1", turn: 0, text: "one " },
        { kind: "delta", column: "c2", turn: 0, text: "two" },
        { kind: "delta", column: "c1", turn: 0, text: "more" },
      ],
    });
    await frame();
    expect(col("c1").querySelector('[data-testid="reply-streaming"]')?.textContent).toBe("one more");
    expect(col("c2").querySelector('[data-testid="reply-streaming"]')?.textContent).toBe("two");
  });

  it("the finished entry replaces the streamed reply (turn_end carries no text)", async () => {
    const m1 = childFor("c1", [human(0)], 1);
    const { model, col, texts } = await mountChildren({ m1 });
    model.emit({ kind: "turn_start", column: "c1", turn: 0, prompt: "prompt 0" });
    model.emit({ kind: "frame", deltas: [{ kind: "delta", column: "c1", turn: 0, text: "Hello" }] });
    model.emit({ kind: "turn_end", column: "c1", turn: 0, stats });
    model.emit({ kind: "entries", column: "c1", version: 2, keep: 1, entries: [bot(0, "Hello!")] });
    expect(texts("c1", "BOT")).toEqual(["Hello!"]);
    expect(col("c1").querySelector('[data-testid="reply-streaming"]')).toBeNull();
    expect(col("c1").querySelector(".cz-stream")?.childElementCount).toBe(0);
  });
});

describe("details fetched on demand", () => {
  const open = (details: HTMLDetailsElement) => {
    details.open = true;
    details.dispatchEvent(new Event("toggle"));
  };

  it("the Prompt block asks for the rendered prompt once, when first opened", async () => {
    const entry = bot(0, "hi", { has_prompt: true, prompt_tokens: 7 });
    const { model, col } = await mountChildren({ m1: childFor("c1", [human(0), entry]) });
    const view = col("c1").querySelector<HTMLDetailsElement>('[data-testid="prompt-view"]')!;
    expect(view.querySelector('[data-testid="prompt-toggle"]')?.textContent).toBe("Prompt · 7 tokens");
    expect(model.sent).toEqual([]); // nothing asked until opened
    open(view);
    expect(model.sent).toEqual([{ kind: "entry_detail", column: "c1", turn: 0 }]);
    model.answer({ ok: true, result: { rendered_prompt: "<|im_start|>user\nprompt 0", prompt_tokens: 7 } }, "entry_detail");
    await settled();
    const pre = col("c1").querySelector('[data-testid="rendered-prompt"]')!;
    expect(pre.textContent).toBe("<|im_start|>user\nprompt 0");
    expect(pre.querySelector(".cz-special-token")?.textContent).toBe("<|im_start|>");
    // Redrawn (a new entry arrives): the fetched prompt is kept, not asked again.
    model.emit({ kind: "entries", column: "c1", version: 3, keep: 2, entries: [human(1)] });
    open(col("c1").querySelector<HTMLDetailsElement>('[data-testid="prompt-view"]')!);
    expect(col("c1").querySelector('[data-testid="rendered-prompt"]')!.textContent).toBe("<|im_start|>user\nprompt 0");
    expect(model.sent).toHaveLength(1);
  });

  it("the Thinking block fetches the thinking; a blind answer shows the prompt as hidden", async () => {
    const entry = bot(0, "42", { has_reasoning: true, has_prompt: true, stats: { ...stats, reasoning_tokens: 5 } });
    const { model, col } = await mountChildren({ m1: childFor("c1", [human(0), entry]) });
    const thinking = col("c1").querySelector<HTMLDetailsElement>('[data-testid="thinking"]')!;
    expect(thinking.querySelector('[data-testid="thinking-title"]')?.textContent).toBe("Thought · 5 tokens");
    open(thinking);
    model.answer({ ok: true, result: { reasoning: "Let me **think**.", rendered_prompt: null, prompt_hidden: true } }, "entry_detail");
    await settled();
    expect(col("c1").querySelector('[data-testid="thinking-text"] strong')?.textContent).toBe("think");
    open(col("c1").querySelector<HTMLDetailsElement>('[data-testid="prompt-view"]')!);
    await settled();
    expect(col("c1").querySelector('[data-testid="rendered-prompt-hidden"]')).toBeTruthy();
    expect(model.sent).toHaveLength(1); // one answer serves both blocks
  });

  it("an open Thinking block keeps the streamed thinking while the final one is fetched", async () => {
    const m1 = childFor("c1", [human(0)], 1);
    const { model, col } = await mountChildren({ m1 });
    model.emit({ kind: "turn_start", column: "c1", turn: 0, prompt: "prompt 0" });
    model.emit({ kind: "frame", deltas: [{ kind: "delta", column: "c1", turn: 0, text: "streamed thought", part: "reasoning" }] });
    await frame();
    // the user opens it while it streams (the view remembers it open through redraws)
    col("c1").querySelector('[data-testid="thinking-toggle"]')!.dispatchEvent(new MouseEvent("click", { bubbles: true }));
    model.emit({ kind: "entries", column: "c1", version: 2, keep: 1, entries: [bot(0, "done", { has_reasoning: true })] });
    const text = () => col("c1").querySelector('[data-testid="thinking-text"]')!.textContent;
    expect(text()).toBe("streamed thought"); // not "Loading…"
    expect(model.sent).toEqual([{ kind: "entry_detail", column: "c1", turn: 0 }]);
    model.answer({ ok: true, result: { reasoning: "final thought" } }, "entry_detail");
    await settled();
    expect(text()).toBe("final thought");
  });

  it("a failed fetch says so in the block, and opening it again retries", async () => {
    const { model, col } = await mountChildren({ m1: childFor("c1", [human(0), bot(0, "x", { has_prompt: true })]) });
    const view = col("c1").querySelector<HTMLDetailsElement>('[data-testid="prompt-view"]')!;
    open(view);
    model.answer({ ok: false, error: "the column has no reply to turn 0" }, "entry_detail");
    await settled();
    expect(view.textContent).toContain("Could not fetch it: the column has no reply to turn 0");
    view.open = false;
    view.dispatchEvent(new Event("toggle"));
    open(view);
    expect(model.sent).toHaveLength(2);
  });
});
