// Names that would be cut to the same prefix: leaderboard labels show the part that differs; hovering shows
// the whole name (also on column headers).
import { afterEach, describe, expect, it } from "vitest";
import { column, mount } from "./fake-model";
import { distinctLabels } from "../src/leaderboard";

afterEach(() => document.body.replaceChildren());

const SWEEP = ["smollm2-135m temperature=0.2", "smollm2-135m temperature=0.8", "smollm2-135m temperature=1.4"];

describe("distinct labels", () => {
  it("cuts a sweep's common beginning at a word break", () => {
    expect(distinctLabels(SWEEP)).toEqual(["…temperature=0.2", "…temperature=0.8", "…temperature=1.4"]);
  });
  it("leaves names alone that already differ early, or a single name", () => {
    expect(distinctLabels(["alpha", "beta"])).toEqual(["alpha", "beta"]);
    expect(distinctLabels(["model-a", "model-b"])).toEqual(["model-a", "model-b"]); // too little to cut
    expect(distinctLabels([SWEEP[0]])).toEqual([SWEEP[0]]);
    expect(distinctLabels(["same name", "same name x"])).toEqual(["same name", "same name x"]);
  });
  it("keeps some context when the names have no word break", () => {
    expect(distinctLabels(["abcdefghijklmnopqrstuvw1", "abcdefghijklmnopqrstuvw2"])).toEqual(["…tuvw1", "…tuvw2"]);
  });
});

describe("hover shows the full name", () => {
  it("on the leaderboard bars", () => {
    const bars = SWEEP.map((label, i) => ({ label, value: 1000 + i, lo: null, hi: null }));
    const rows = SWEEP.map((contestant) => ({ contestant }));
    const { qa } = mount({ leaderboard_table: { rows, chart: { metric: "bt", bars } } });
    const labels = qa("leaderboard-label");
    expect(labels.map((l) => l.textContent)).toEqual(["…temperature=0.2", "…temperature=0.8", "…temperature=1.4"]);
    expect(labels.map((l) => l.title)).toEqual(SWEEP);
  });
  it("on column headers", () => {
    const long = { ...column("c1"), name: "a-very-long-column-name-that-the-header-cuts temperature=0.2", model: "smollm2-135m" };
    const blind = { ...column("c2"), name: "Model B", blind: true, label: "Model B" };
    const { qa } = mount({ columns: [long, blind] });
    const names = qa("column-name");
    expect(names[0].title).toBe(`${long.name}\nsmollm2-135m`);
    expect(names[1].title).toBe("Model B");
  });
});
