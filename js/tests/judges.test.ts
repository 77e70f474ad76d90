// LLM judges in the widget: the Judge control, verdicts with collapsible rationales, agreement, the source switch.
import { afterEach, describe, expect, it } from "vitest";
import { column, mount } from "./fake-model";
import { agreementText, verdictText } from "../src/judges";
import type { JudgeState } from "../src/types";

afterEach(() => document.body.replaceChildren());

// Shape of ChatZooWidget.judge_state (JudgeBook.state()).
const STATE: JudgeState = {
  run: { running: false, done: 3, total: 3, errors: 1, stopped: false, error: null, judge: "smollm2-135m", turn: 0 },
  conversation: "conv-1", turn: 0, count: 3,
  verdicts: [
    { a: "c1", b: "c2", a_name: "alpha", b_name: "beta", verdict: "b", winner_name: "beta", orders: ["B", "A"],
      rationales: ["B is better. [[B]]", "A is better. [[A]]"], error: null, judge: "smollm2-135m" },
    { a: "c1", b: "c3", a_name: "alpha", b_name: "gamma", verdict: "tie", winner_name: "tie", orders: ["A", "A"],
      rationales: ["<img src=x onerror=alert(1)> [[A]]", "[[A]]"], error: null, judge: "smollm2-135m" },
    { a: "c2", b: "c3", a_name: "beta", b_name: "gamma", verdict: null, winner_name: null, orders: [null, "A"],
      rationales: ["hmm", "[[A]]"], error: "order 1 (A/B): the judge gave no verdict", judge: "smollm2-135m" },
  ],
  agreement: null,
};

describe("judge control", () => {
  it("sends the judge typed or picked; an empty box is a local notice", () => {
    const { model, q, el } = mount({ columns: [column("c1", { name: "alpha" }), column("c2", { name: "beta" })] });
    const input = q("judge-input") as HTMLInputElement;
    const options = Array.from(el.querySelectorAll(`datalist#${input.getAttribute("list")} option`)).map((o) => (o as HTMLOptionElement).value);
    expect(options).toEqual(["alpha", "beta"]);
    q("judge-run").click();
    expect(model.sent).toEqual([]);
    expect(q("judge-notice").textContent).toContain("Pick a column");
    input.value = " http://127.0.0.1:8081/v1 ";
    q("judge-run").click();
    input.value = "beta";
    input.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true, cancelable: true }));
    expect(model.sent).toEqual([{ kind: "judge", judge: "http://127.0.0.1:8081/v1" }, { kind: "judge", judge: "beta" }]);
  });

  it("progress with Stop while running; Stop sends stop_judge", () => {
    const { model, q } = mount();
    expect(q("judge-progress").hidden).toBe(true);
    model.update("judge_state", { run: { running: true, done: 1, total: 3, judge: "judge-x" } });
    const progress = q("judge-progress");
    expect(progress.hidden).toBe(false);
    expect(progress.dataset).toMatchObject({ state: "running", done: "1", total: "3" });
    expect(progress.textContent).toBe("Judging by judge-x: 1 / 3 pairs …");
    expect(q("judge-stop").hidden).toBe(false);
    expect((q("judge-run") as HTMLButtonElement).disabled).toBe(true);
    q("judge-stop").click();
    expect(model.sent).toEqual([{ kind: "stop_judge" }]);
    model.update("judge_state", { run: { running: false, done: 1, total: 3, stopped: true } });
    expect(q("judge-progress").dataset.state).toBe("stopped");
    expect(q("judge-stop").hidden).toBe(true);
    model.update("judge_state", { run: { running: false, done: 0, total: 0, error: "the judge x could not load: no such folder" } });
    expect(q("judge-error").hidden).toBe(false);
    expect(q("judge-error").textContent).toContain("could not load");
  });
});

describe("verdicts", () => {
  it("one row per pair with the result and both rationales, collapsed, as text", () => {
    const { model, q, qa } = mount();
    expect(q("judge-verdicts").hidden).toBe(true);
    model.update("judge_state", STATE);
    expect(q("judge-verdicts").hidden).toBe(false);
    expect(q("judge-heading").textContent).toBe("Judge verdicts, turn 1 (smollm2-135m)");
    const rows = qa("judge-verdict");
    expect(rows.map((r) => [r.dataset.a, r.dataset.b, r.dataset.verdict])).toEqual([
      ["c1", "c2", "b"], ["c1", "c3", "tie"], ["c2", "c3", "error"]]);
    expect(rows.map((r) => q("judge-result", r).textContent)).toEqual([
      "beta wins (both orders agree)", "Tie (the two orders disagree)", "No verdict: order 1 (A/B): the judge gave no verdict"]);
    const details = q("judge-rationale", rows[0]) as HTMLDetailsElement;
    expect(details.tagName).toBe("DETAILS");
    expect(details.open).toBe(false);
    expect(details.textContent).toContain("Order A/B: Assistant A = alpha, Assistant B = beta · verdict [[B]]");
    expect(details.textContent).toContain("Order B/A: Assistant A = beta, Assistant B = alpha · verdict [[A]]");
    expect(rows[1].querySelector("img")).toBeNull();
    expect(rows[1].textContent).toContain("<img src=x onerror=alert(1)>");
  });

  it("an opened rationale stays open across updates", () => {
    const { model, q, qa } = mount({ judge_state: STATE });
    (q("judge-rationale", qa("judge-verdict")[1]) as HTMLDetailsElement).open = true;
    model.update("judge_state", { ...STATE, run: { ...STATE.run, done: 3 }, count: 4 });
    expect((q("judge-rationale", qa("judge-verdict")[1]) as HTMLDetailsElement).open).toBe(true);
    expect((q("judge-rationale", qa("judge-verdict")[0]) as HTMLDetailsElement).open).toBe(false);
  });

  it("blind: shows the labels Python sends", () => {
    const { q } = mount({ judge_state: { ...STATE, verdicts: [{ ...STATE.verdicts![0], a_name: "Model B", b_name: "Model A", winner_name: "Model A" }] } });
    expect(q("judge-verdict").textContent).toContain("Model B vs Model A");
    expect(q("judge-result").textContent).toBe("Model A wins (both orders agree)");
  });

  it("agreement with the votes once both exist, with the confusion table", () => {
    const { model, q } = mount({ judge_state: STATE });
    expect(q("judge-agreement").hidden).toBe(true);
    model.update("judge_state", { ...STATE, agreement: { n: 3, kappa: 0.5, position_bias: 1 / 3, judged: 6,
      labels: ["a wins", "b wins", "tie"], confusion: [[1, 0, 0], [0, 1, 0], [1, 0, 0]] } });
    const box = q("judge-agreement");
    expect(box.hidden).toBe(false);
    expect(box.dataset.n).toBe("3");
    expect(q("judge-agreement-text").textContent).toBe("3 pairs judged by you and the judge · Cohen's κ = 0.50 · position bias 33% (of 6 judged)");
    const cells = Array.from(q("judge-confusion").querySelectorAll("tbody tr")).map((tr) => Array.from(tr.children).map((c) => c.textContent));
    expect(cells).toEqual([["a wins", "1", "0", "0"], ["b wins", "0", "1", "0"], ["tie", "1", "0", "0"]]);
  });

  it("texts cope with missing parts", () => {
    expect(verdictText({ verdict: null })).toBe("No verdict: the judge gave none");
    expect(verdictText({ verdict: "tie", orders: ["C", "C"] })).toBe("Tie");
    expect(verdictText({ verdict: "a", a_name: "x" })).toBe("x wins (both orders agree)");
    expect(agreementText({ n: 1, kappa: null })).toBe("1 pair judged by you and the judge · κ undefined");
  });
});

describe("leaderboard source switch", () => {
  const TABLE = { rows: [{ contestant: "beta" }], source: "judge" as const, counts: { votes: 0, judge: 3 } };

  it("hidden until a judge has verdicts; shows the source in force and sends the one clicked", () => {
    const { model, q } = mount({ leaderboard_table: { rows: [{ contestant: "beta" }], source: "votes", counts: { votes: 2, judge: 0 } } });
    const sw = q("leaderboard-source");
    expect(sw.hidden).toBe(true);
    model.update("leaderboard_table", TABLE);
    expect(sw.hidden).toBe(false);
    expect(sw.dataset.source).toBe("judge");
    const pressed = Array.from(sw.querySelectorAll<HTMLElement>("[data-source]")).map((b) => [b.dataset.source, b.getAttribute("aria-pressed")]);
    expect(pressed).toEqual([["votes", "false"], ["judge", "true"], ["both", "false"]]);
    (sw.querySelector("[data-source=both]") as HTMLElement).click();
    expect(model.sent).toEqual([{ kind: "leaderboard_source", source: "both" }]);
    model.update("leaderboard_table", { rows: [], source: "votes", counts: { votes: 0, judge: 3 } });
    expect(q("leaderboard-source-note").textContent).toBe("No votes yet");
    expect(sw.hidden).toBe(false); // still there to switch back
  });
});
