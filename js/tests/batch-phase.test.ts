import { afterEach, describe, expect, it } from "vitest";
import { mount } from "./fake-model";

afterEach(() => document.body.replaceChildren());

describe("one model at a time", () => {
  it("the progress bar names the model running while the run goes, and drops it at the end", () => {
    const { model, q } = mount();
    model.update("batch_progress", { running: true, done: 0, total: 6, stopped: false, error: null, phase: "loading alpha (1 of 3)" });
    expect(q("batch-text").textContent).toBe("0 / 6 turns · loading alpha (1 of 3)");
    model.update("batch_progress", { running: true, done: 0, total: 6, stopped: false, error: null, phase: "answering beta (2 of 3)" });
    expect(q("batch-text").textContent).toBe("0 / 6 turns · answering beta (2 of 3)");
    model.update("batch_progress", { running: false, done: 6, total: 6, stopped: false, error: null, phase: null });
    expect(q("batch-text").textContent).toBe("6 / 6 turns · done");
  });
});
