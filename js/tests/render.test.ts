import { afterEach, describe, expect, it } from "vitest";
import { column, key, mount, settled } from "./fake-model";

afterEach(() => document.body.replaceChildren());

describe("render", () => {
  it("draws the root, toolbar and one column per entry of the columns trait", () => {
    const { q, qa, col } = mount({ columns: [column("c1"), column("c2", { status: "loading", progress: "Loading x…" })] });
    expect(q("chatzoo")).toBeTruthy();
    expect(q("chatzoo").dataset.lmSuppressShortcuts).toBe("true"); // JupyterLab keeps its shortcuts out
    for (const id of ["system-prompt", "add-toggle", "clear", "regenerate", "stop-all", "prompt", "send"]) {
      expect(q(id), id).toBeTruthy();
    }
    expect(qa("column").map((c) => c.dataset.columnId)).toEqual(["c1", "c2"]);
    expect(q("column-name", col("c1")).textContent).toBe("bot-c1");
    expect(col("c1").dataset.status).toBe("ready");
    expect(q("column-status", col("c2")).textContent).toBe("loading");
    expect(q("column-progress", col("c2")).hidden).toBe(false);
    expect(q("column-progress", col("c2")).textContent).toContain("Loading x…");
    expect(col("c2").querySelector(".cz-spinner")).toBeTruthy();
  });

  it("follows columns updates, keeping existing column elements", () => {
    const { model, qa, col } = mount({ columns: [column("c1")] });
    const first = col("c1");
    model.update("columns", [column("c1", { status: "generating" }), column("c2")]);
    expect(qa("column").map((c) => c.dataset.columnId)).toEqual(["c1", "c2"]);
    expect(col("c1")).toBe(first);
    expect(first.dataset.status).toBe("generating");
    model.update("columns", [column("c2")]);
    expect(qa("column").map((c) => c.dataset.columnId)).toEqual(["c2"]);
  });

  it("renders history: HUMAN as text, BOT as markdown with a stats line", () => {
    const history = [
      { role: "HUMAN" as const, content: "Hi *there*", turn: 0 },
      { role: "BOT" as const, content: "Hello **world**", turn: 0,
        stats: { new_tokens: 3, time_to_first_token: 0.08, tokens_per_second: 30.1, total_time: 0.2, finish_reason: "stop" } },
    ];
    const { q, qa, col } = mount({ columns: [column("c1", { history })] });
    const messages = qa("message", col("c1"));
    expect(messages.map((m) => m.dataset.role)).toEqual(["HUMAN", "BOT"]);
    expect(messages[0].textContent).toBe("Hi *there*");
    expect(messages[1].querySelector("strong")?.textContent).toBe("world");
    expect(messages[1].textContent).toBe("Hello world"); // the message holds the reply text only
    const stats = q("stats", col("c1")).textContent!;
    expect(stats).toContain("3 tokens");
    expect(stats).toContain("0.08 s");
    expect(stats).toContain("30.1 tok/s");
    expect(stats).toContain("stop");
  });

  it("shows column errors and failed replies inside their own column only", () => {
    const failed = { role: "BOT" as const, content: "", turn: 0, stats: { finish_reason: "error", error: "CUDA out of memory" } };
    const { q, qa, col } = mount({
      columns: [column("c1", { status: "error", error: "model not found" }), column("c2", { history: [failed] }), column("c3")],
    });
    expect(q("column-error", col("c1")).textContent).toBe("model not found");
    expect(q("column-error", col("c2")).textContent).toBe("CUDA out of memory");
    expect(qa("column-error", col("c3"))).toHaveLength(0);
  });

  it("gives every code block a copy button", () => {
    const { q, qa, col } = mount({ columns: [column("c1", { history: [{ role: "BOT", content: "```py\nprint(1)\n```", turn: 0 }] })] });
    expect(qa("code-copy", col("c1"))).toHaveLength(1);
    expect(q("message", col("c1")).textContent?.trim()).toBe("print(1)"); // the button's label is CSS, not text
  });
});

describe("prompt box", () => {
  it("Enter sends {kind: send, prompt}; Shift+Enter does not; the box clears once Python accepted it", async () => {
    const { model, q } = mount({ columns: [column("c1")] });
    const prompt = q("prompt") as HTMLTextAreaElement;
    prompt.value = "line one";
    key(prompt, "Enter", { shiftKey: true });
    expect(model.sent).toEqual([]);
    prompt.value = "line one\nline two";
    const notCancelled = key(prompt, "Enter");
    expect(notCancelled).toBe(false); // no newline typed
    expect(model.sent).toEqual([{ kind: "send", prompt: "line one\nline two" }]);
    expect(prompt.value).toBe("line one\nline two"); // not yet accepted
    model.answer({ ok: true, result: null });
    await settled();
    expect(prompt.value).toBe("");
  });

  it("an empty prompt sends nothing and shows a notice", () => {
    const { model, q } = mount({ columns: [column("c1")] });
    const prompt = q("prompt") as HTMLTextAreaElement;
    expect(q("prompt-notice").hidden).toBe(true);
    prompt.value = "   \n ";
    key(prompt, "Enter");
    q("send").click();
    expect(model.sent).toEqual([]);
    expect(q("prompt-notice").hidden).toBe(false);
    expect(q("prompt-notice").textContent).toBe("Type a prompt first");
  });

  it("the Send button sends, and is disabled while busy", async () => {
    const { model, q } = mount({ columns: [column("c1")] });
    const prompt = q("prompt") as HTMLTextAreaElement;
    prompt.value = "hello";
    q("send").click();
    expect(model.sent).toEqual([{ kind: "send", prompt: "hello" }]);
    model.update("busy", true);
    model.answer({ ok: true });
    await settled();
    expect((q("send") as HTMLButtonElement).disabled).toBe(true);
    prompt.value = "again";
    key(prompt, "Enter");
    expect(model.sent).toHaveLength(1);
    model.update("busy", false);
    expect((q("send") as HTMLButtonElement).disabled).toBe(false);
  });

  it("a refused prompt stays in the box with Python's reason beside it; typing clears the reason", async () => {
    const { model, q } = mount({ columns: [column("c1")] });
    const prompt = q("prompt") as HTMLTextAreaElement;
    prompt.value = "too soon";
    key(prompt, "Enter");
    expect((q("send") as HTMLButtonElement).disabled).toBe(true); // waiting for the answer
    key(prompt, "Enter");
    expect(model.sent).toHaveLength(1); // no second send meanwhile
    model.answer({ ok: false, error: "cannot send while c1 still answering" });
    await settled();
    expect(prompt.value).toBe("too soon");
    expect(q("prompt-notice").textContent).toBe("cannot send while c1 still answering");
    expect(q("notice").hidden).toBe(true); // the toolbar's line stays out of it
    expect((q("send") as HTMLButtonElement).disabled).toBe(false);
    prompt.dispatchEvent(new Event("input"));
    expect(q("prompt-notice").hidden).toBe(true);
  });
});

describe("toolbar and column buttons", () => {
  it("the + form sends add_model", () => {
    const { model, q } = mount();
    q("add-toggle").click();
    (q("add-name") as HTMLInputElement).value = " mine ";
    (q("add-model") as HTMLInputElement).value = "smollm2-135m";
    q("add-submit").click();
    expect(model.sent).toEqual([{ kind: "add_model", name: "mine", model: "smollm2-135m" }]);
  });

  it("the + form refuses an empty model with a notice", () => {
    const { model, q } = mount();
    q("add-toggle").click();
    q("add-submit").click();
    expect(model.sent).toEqual([]);
    expect(q("add-notice").textContent).toMatch(/model/i);
  });

  it("remove sends remove_model; stop sends stop with the column id, Stop all with null", () => {
    const { model, q, col } = mount({ columns: [column("c1"), column("c2")] });
    q("column-remove", col("c2")).click();
    q("column-stop", col("c1")).click();
    q("stop-all").click();
    q("clear").click();
    q("regenerate").click();
    expect(model.sent).toEqual([
      { kind: "remove_model", column: "c2" },
      { kind: "stop", column: "c1" },
      { kind: "stop", column: null },
      { kind: "clear" },
      { kind: "regenerate" },
    ]);
  });

  it("the system prompt is set on the model and saved", () => {
    const { model, q } = mount();
    const box = q("system-prompt") as HTMLTextAreaElement;
    box.value = "Be brief.";
    box.dispatchEvent(new Event("change"));
    expect(model.state.system_prompt).toBe("Be brief.");
    expect(model.saved).toBe(1);
    model.update("system_prompt", "From Python");
    expect(box.value).toBe("From Python");
  });
});

describe("cleanup", () => {
  it("removes every model listener and the DOM, and ignores later events", () => {
    const { model, el, cleanup } = mount({ columns: [column("c1")] });
    expect(model.listenerCount()).toBeGreaterThan(0);
    const prompt = el.querySelector('[data-testid="prompt"]') as HTMLTextAreaElement;
    cleanup();
    expect(model.listenerCount()).toBe(0);
    expect(el.childElementCount).toBe(0);
    // A DOM listener left behind would still send.
    prompt.value = "hello";
    key(prompt, "Enter");
    expect(model.sent).toEqual([]);
    model.update("columns", [column("c1"), column("c2")]);
    model.emit({ kind: "turn_start", column: "c1", turn: 0, prompt: "x" });
    expect(el.childElementCount).toBe(0);
  });
});

describe("new lines in text boxes", () => {
  // JupyterLab cancels the browser's own line break inside notebook cells: the widget inserts it itself.
  it("Enter in the system prompt and Shift+Enter in the prompt add a line at the caret", () => {
    const { model, q } = mount({ columns: [column("c1")] });
    const system = q("system-prompt") as HTMLTextAreaElement;
    system.value = "be briefbe kind";
    system.setSelectionRange(8, 8);
    const inputs: string[] = [];
    system.addEventListener("input", () => inputs.push(system.value));
    expect(key(system, "Enter")).toBe(false); // default prevented: the widget added the line
    expect(system.value).toBe("be brief\nbe kind");
    expect(inputs).toEqual(["be brief\nbe kind"]); // like typing: the debounced push follows
    const prompt = q("prompt") as HTMLTextAreaElement;
    prompt.value = "first";
    prompt.setSelectionRange(5, 5);
    key(prompt, "Enter", { shiftKey: true });
    expect(prompt.value).toBe("first\n");
    expect(model.sent).toEqual([]);
    key(prompt, "Enter"); // plain Enter still sends
    expect(model.sent).toEqual([{ kind: "send", prompt: "first\n" }]);
  });

  it("leaves IME composition and modified Enter alone", () => {
    const { q } = mount();
    const system = q("system-prompt") as HTMLTextAreaElement;
    system.value = "x";
    expect(key(system, "Enter", { isComposing: true })).toBe(true);
    expect(key(system, "Enter", { ctrlKey: true })).toBe(true);
    expect(system.value).toBe("x");
  });
});
