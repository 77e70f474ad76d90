// commands.ts: invoke sends a command with an id and settles with the answer carrying that id, and only that one.
import { afterEach, describe, expect, it, onTestFinished, vi } from "vitest";
import { CommandError, invoke, isAbort, NoAnswerError, attempt } from "../src/commands";
import widget from "../src/index";
import { column, fakeModel, key, mount, settled } from "./fake-model";

afterEach(() => {
  vi.useRealTimers();
  document.body.replaceChildren();
});

describe("invoke", () => {
  it("sends {kind: command, id, name, args} and resolves with the result of the answer with that id", async () => {
    const model = fakeModel();
    const call = invoke(model, "add_model", { model: "smollm2-135m", name: "" });
    const [msg] = model.messages;
    expect(msg).toMatchObject({ kind: "command", name: "add_model", args: { model: "smollm2-135m", name: "" } });
    expect(typeof msg.id).toBe("string");
    model.emit({ kind: "turn_start", column: "c1", turn: 0 }); // not an answer
    model.emit({ kind: "answer", id: `${msg.id}-other`, ok: false, error: "another view's" });
    model.emit({ kind: "answer", id: msg.id, ok: true, result: { name: "smol" } });
    await expect(call).resolves.toEqual({ name: "smol" });
    expect(model.listenerCount()).toBe(0); // its listener is gone once answered
  });

  it("rejects with a CommandError carrying Python's reason", async () => {
    const model = fakeModel();
    const call = invoke(model, "send", { prompt: "x" });
    model.answer({ ok: false, error: "cannot send while a still answering" });
    const error = await call.catch((e) => e);
    expect(error).toBeInstanceOf(CommandError);
    expect(error.message).toBe("cannot send while a still answering");
    expect(error.command).toBe("send");
  });

  it("gives every command its own id", () => {
    const model = fakeModel();
    for (let i = 0; i < 50; i++) void invoke(model, "stop", { column: null }).catch(() => {});
    expect(new Set(model.messages.map((m) => m.id)).size).toBe(50);
  });

  it("times out with a NoAnswerError and stops listening; a late answer changes nothing", async () => {
    vi.useFakeTimers();
    const model = fakeModel();
    const call = invoke(model, "regenerate", {}, { timeoutMs: 5_000 });
    const caught = call.catch((e) => e);
    vi.advanceTimersByTime(4_999);
    expect(model.listenerCount()).toBe(1);
    vi.advanceTimersByTime(1);
    const error = await caught;
    expect(error).toBeInstanceOf(NoAnswerError);
    expect(error.message).toMatch(/No answer from the kernel after 5 s/);
    expect(model.listenerCount()).toBe(0);
    model.answer({ ok: true }); // late: nobody listens
  });

  it("the signal (the view's cleanup) rejects with an AbortError and removes the listener", async () => {
    const model = fakeModel();
    const controller = new AbortController();
    const call = invoke(model, "clear", {}, { signal: controller.signal });
    expect(model.listenerCount()).toBe(1);
    controller.abort();
    expect(isAbort(await call.catch((e) => e))).toBe(true);
    expect(model.listenerCount()).toBe(0);
    // An aborted signal sends nothing at all.
    expect(isAbort(await invoke(model, "clear", {}, { signal: controller.signal }).catch((e) => e))).toBe(true);
    expect(model.messages).toHaveLength(1);
  });

  it("attempt shows the reason, says nothing for an abort, and never rejects", async () => {
    const said: string[] = [];
    const say = (text: string) => void said.push(text);
    expect(await attempt(Promise.resolve(3), say)).toEqual({ ok: true, result: 3 });
    expect(await attempt(Promise.reject(new CommandError("vote", "nothing to vote on")), say)).toEqual({ ok: false });
    const abort = Object.assign(new Error("gone"), { name: "AbortError" });
    expect(await attempt(Promise.reject(abort), say)).toEqual({ ok: false });
    expect(said).toEqual(["", "", "nothing to vote on", ""]);
  });
});

/** Two views of one widget: two renders on the same model (as a widget displayed in two cells). */
function twoViews(initial = {}) {
  const model = fakeModel(initial);
  const views = [0, 1].map(() => {
    const el = document.createElement("div");
    document.body.append(el);
    const cleanup = widget.render({ model, el });
    const q = (testid: string, scope: ParentNode = el) => scope.querySelector(`[data-testid="${testid}"]`) as HTMLElement;
    return { el, q, cleanup };
  });
  return { model, views };
}

describe("two views of one widget", () => {
  it("a failing command's error shows in the view that sent it, not in the other", async () => {
    const { model, views: [left, right] } = twoViews({ columns: [column("c1")] });
    left.q("column-stop").click();
    model.answer({ ok: false, error: "no column named 'c9'" });
    await settled();
    expect(left.q("column-notice").textContent).toBe("no column named 'c9'");
    expect(right.q("column-notice").hidden).toBe(true);
    right.q("regenerate").click();
    model.answer({ ok: false, error: "nothing to regenerate yet" });
    await settled();
    expect(right.q("notice").textContent).toBe("nothing to regenerate yet");
    expect(left.q("notice").hidden).toBe(true);
  });

  it("the prompt clears in the view that sent it; the other view's box keeps its own text", async () => {
    const { model, views: [left, right] } = twoViews({ columns: [column("c1")] });
    const [a, b] = [left.q("prompt"), right.q("prompt")] as HTMLTextAreaElement[];
    a.value = "from the left";
    b.value = "typed on the right";
    key(a, "Enter");
    model.answer({ ok: true });
    await settled();
    expect([a.value, b.value]).toEqual(["", "typed on the right"]);
  });

  it("one click on Download saves one file", async () => {
    const saved: string[] = [];
    const original = { create: URL.createObjectURL, revoke: URL.revokeObjectURL };
    Object.assign(URL, { createObjectURL: () => "blob:fake", revokeObjectURL: () => {} });
    onTestFinished(() => void Object.assign(URL, { createObjectURL: original.create, revokeObjectURL: original.revoke }));
    vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(function (this: HTMLAnchorElement) {
      saved.push(this.download);
    });
    const { model, views: [left] } = twoViews();
    left.q("download").click();
    left.q("download").click(); // a second click while the first waits does nothing
    expect(model.messages).toHaveLength(1);
    model.answer({ ok: true, result: { kind: "export_data", filename: "chatzoo-comparison.json", document: {} } });
    await settled();
    expect(saved).toEqual(["chatzoo-comparison.json"]);
  });

  it("a view removed while waiting shows nothing and leaves no listener", async () => {
    const { model, views: [left, right] } = twoViews({ columns: [column("c1")] });
    (left.q("prompt") as HTMLTextAreaElement).value = "bye";
    key(left.q("prompt"), "Enter");
    left.cleanup();
    right.cleanup();
    expect(model.listenerCount()).toBe(0);
    model.answer({ ok: false, error: "too late" });
    await settled();
    expect(document.body.textContent).not.toContain("too late");
  });
});

describe("where each action's error shows", () => {
  it("the + form keeps what was typed and shows the reason in the form", async () => {
    const { model, q } = mount();
    q("add-toggle").click();
    (q("add-model") as HTMLInputElement).value = "no/such-model";
    q("add-submit").click();
    model.answer({ ok: false, error: "model must not be empty" });
    await settled();
    expect((q("add-model") as HTMLInputElement).value).toBe("no/such-model");
    expect(q("add-notice").textContent).toBe("model must not be empty");
    expect(q("add-model").closest("form")!.hidden).toBe(false);
    q("add-submit").click();
    model.answer({ ok: true, result: { name: "x" } });
    await settled();
    expect(q("add-model").closest("form")!.hidden).toBe(true);
  });

  it("a refused setting shows in its row and the control goes back to the value in force", async () => {
    const { model, q, col } = mount({ columns: [column("c1")] });
    q("settings-toggle", col("c1")).click();
    const row = col("c1").querySelector('[data-name="stop"]') as HTMLElement;
    const box = row.querySelector("input") as HTMLInputElement;
    box.value = "<|bad|>";
    box.dispatchEvent(new Event("change"));
    model.answer({ ok: false, error: "'stop' cannot hold that" });
    await settled();
    expect(q("setting-reason", row).textContent).toBe("'stop' cannot hold that");
    expect(box.value).toBe("");
  });

  it("a refused edit keeps the editor open with the reason; an accepted one closes it", async () => {
    const history = [{ role: "HUMAN" as const, content: "Q", turn: 0 }, { role: "BOT" as const, content: "A", turn: 0 }];
    const { model, q, col } = mount({ columns: [column("c1", { history })] });
    q("edit-prompt", col("c1")).click();
    (q("edit-input", col("c1")) as HTMLTextAreaElement).value = "Q2";
    q("edit-send", col("c1")).click();
    model.answer({ ok: false, error: "cannot edit the last prompt while c1 still answering" });
    await settled();
    expect(q("edit-note", col("c1")).textContent).toContain("still answering");
    q("edit-send", col("c1")).click();
    model.answer({ ok: true });
    await settled();
    expect(q("prompt-editor", col("c1"))).toBeNull();
  });

  it("a refused vote shows in the vote bar; a refused judge in the judge panel", async () => {
    const { model, q } = mount({
      columns: [column("c1")],
      vote_state: { can_vote: true, choices: ["bot-c1", "tie"], turn: 0 },
    });
    (q("vote-choice") as HTMLElement).click();
    model.answer({ ok: false, error: "the conversation changed: vote again" });
    await settled();
    expect(q("vote-notice").textContent).toBe("the conversation changed: vote again");
    (q("judge-input") as HTMLInputElement).value = "nope";
    q("judge-run").click();
    model.answer({ ok: false, error: "cannot load judge 'nope'" });
    await settled();
    expect(q("judge-notice").textContent).toBe("cannot load judge 'nope'");
    expect(q("notice").hidden).toBe(true);
  });
});
