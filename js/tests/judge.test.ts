// Arena mode, the vote bar and thumbs (issue #5), against the fake model.
import { afterEach, describe, expect, it } from "vitest";
import { column, mount } from "./fake-model";
import { BLIND_REASON } from "../src/judge";
import type { ColumnState, HistoryEntry, VoteState } from "../src/types";

afterEach(() => document.body.replaceChildren());

const turn0 = (reply: string): HistoryEntry[] => [
  { role: "HUMAN", content: "hi", turn: 0 },
  { role: "BOT", content: reply, turn: 0, stats: { new_tokens: 3, finish_reason: "stop" } },
];

/** As Python's Arena.display sends them: blind columns carry the label as name, nothing else about the model. */
const blindColumn = (id: string, label: string, extra: Partial<ColumnState> = {}) =>
  column(id, { name: label, model: "", family: "", settings: {}, spec: [], label, blind: true, real_name: null, ...extra });
const revealedColumn = (id: string, label: string, name: string, extra: Partial<ColumnState> = {}) =>
  column(id, { name, model: `${name}-model`, family: "scripted", label, blind: false, real_name: name, ...extra });

const canVote = (choices: string[], extra: Partial<VoteState> = {}): VoteState => ({
  conversation: "conv-1", can_vote: true, reason: null, turn: 0, choices, current: null, thumbs: {}, votes: [], ...extra,
});

describe("arena mode", () => {
  it("blind columns: label as name, no settings toggle, no model line; the badge says blind", () => {
    const { q, qa, col } = mount({ arena: true, columns: [blindColumn("c2", "Model A"), blindColumn("c1", "Model B")] });
    expect(qa("column-name").map((n) => n.textContent)).toEqual(["Model A", "Model B"]);
    for (const id of ["c1", "c2"]) {
      expect(q("settings-toggle", col(id)).hidden).toBe(true);
      expect(q("settings-panel", col(id)).hidden).toBe(true);
      expect((col(id).querySelector(".cz-column-model") as HTMLElement).hidden).toBe(true);
      expect(q("column-revealed", col(id)).hidden).toBe(true);
      expect(col(id).dataset.blind).toBe("true");
    }
    expect(q("arena-badge").hidden).toBe(false);
    expect(q("arena-badge").dataset.state).toBe("blind");
  });

  it("after the vote, real names with their label and a revealed badge; settings come back", () => {
    const { model, q, col } = mount({ arena: true, columns: [blindColumn("c2", "Model A"), blindColumn("c1", "Model B")] });
    model.update("columns", [revealedColumn("c2", "Model A", "beta"), revealedColumn("c1", "Model B", "alpha")]);
    expect(q("column-name", col("c2")).textContent).toBe("beta");
    expect(q("column-revealed", col("c2")).hidden).toBe(false);
    expect(col("c2").querySelector(".cz-column-model")?.textContent).toBe("Model A · scripted · beta-model");
    expect(q("settings-toggle", col("c2")).hidden).toBe(false);
    expect(col("c2").dataset.blind).toBe("false");
    expect(q("arena-badge").dataset.state).toBe("revealed");
    // a new conversation is blind again: an open settings panel closes
    q("settings-toggle", col("c1")).click();
    expect(q("settings-panel", col("c1")).hidden).toBe(false);
    model.update("columns", [blindColumn("c1", "Model A"), blindColumn("c2", "Model B")]);
    expect(q("settings-panel", col("c1")).hidden).toBe(true);
    expect(q("settings-toggle", col("c1")).hidden).toBe(true);
    expect(q("arena-badge").dataset.state).toBe("blind");
  });

  it("outside arena mode there is no badge and no revealed state", () => {
    const { q, col } = mount({ columns: [column("c1")] });
    expect(q("arena-badge").hidden).toBe(true);
    expect(q("column-revealed", col("c1")).hidden).toBe(true);
    expect(col("c1").dataset.blind).toBeUndefined();
    expect(q("settings-toggle", col("c1")).hidden).toBe(false);
  });
});

describe("vote bar", () => {
  it("one button per choice, tie and bad as Tie / All bad; a click sends the vote", () => {
    const { model, q, qa } = mount({ columns: [column("c1", { history: turn0("a") }), column("c2", { history: turn0("b") })] });
    expect(q("vote-bar").hidden).toBe(true);
    model.update("vote_state", canVote(["bot-c1", "bot-c2", "tie", "bad"]));
    expect(q("vote-bar").hidden).toBe(false);
    const buttons = qa("vote-choice");
    expect(buttons.map((b) => b.dataset.choice)).toEqual(["bot-c1", "bot-c2", "tie", "bad"]);
    expect(buttons.map((b) => b.textContent)).toEqual(["bot-c1", "bot-c2", "Tie", "All bad"]);
    buttons[1].click();
    buttons[3].click();
    expect(model.sent).toEqual([{ kind: "vote", choice: "bot-c2" }, { kind: "vote", choice: "bad" }]);
  });

  it("highlights the current choice", () => {
    const { model, qa } = mount({ columns: [column("c1", { history: turn0("a") })] });
    model.update("vote_state", canVote(["bot-c1", "tie", "bad"], { current: "tie" }));
    expect(qa("vote-choice").map((b) => b.dataset.active)).toEqual(["false", "true", "false"]);
    expect(qa("vote-choice")[1].getAttribute("aria-pressed")).toBe("true");
    expect(qa("vote-choice")[1].classList.contains("cz-selected")).toBe(true);
    model.update("vote_state", canVote(["bot-c1", "tie", "bad"], { current: "bot-c1" }));
    expect(qa("vote-choice").map((b) => b.dataset.active)).toEqual(["true", "false", "false"]);
  });

  it("while voting is not possible: nothing before a conversation, then the reason muted", () => {
    const reason = "cannot vote while bot-c1 still answering: wait for every reply";
    const { model, q, qa } = mount({ columns: [column("c1")], vote_state: { can_vote: false, reason: "nothing to vote on yet" } });
    expect(q("vote-bar").hidden).toBe(true);
    model.update("columns", [column("c1", { status: "generating", history: [{ role: "HUMAN", content: "hi", turn: 0 }] })]);
    model.update("vote_state", { can_vote: false, reason, choices: [] });
    expect(q("vote-bar").hidden).toBe(false);
    expect(qa("vote-choice")).toHaveLength(0);
    expect(q("vote-reason").textContent).toBe(reason);
    expect(q("vote-reason").classList.contains("cz-muted")).toBe(true);
  });

  it("while names are hidden the reason (which may name the models) is replaced by a generic one", () => {
    const { model, q } = mount({ arena: true, columns: [blindColumn("c1", "Model A", { history: [{ role: "HUMAN", content: "hi", turn: 0 }] })] });
    model.update("vote_state", { can_vote: false, reason: "cannot vote while alpha still answering" });
    expect(q("vote-reason").textContent).toBe(BLIND_REASON);
    expect(q("chatzoo").textContent).not.toContain("alpha");
  });
});

describe("thumbs", () => {
  it("every finished reply has thumbs; clicks send thumb with column id, value and turn; active again takes it back", () => {
    const history: HistoryEntry[] = [...turn0("first"), { role: "HUMAN", content: "again", turn: 1 },
      { role: "BOT", content: "second", turn: 1, stats: { finish_reason: "stop" } }];
    const { model, q, qa, col } = mount({ columns: [column("c1", { history })] });
    expect(qa("thumb-up", col("c1")).map((b) => b.dataset.turn)).toEqual(["0", "1"]);
    qa("thumb-up", col("c1"))[1].click();
    qa("thumb-down", col("c1"))[0].click();
    expect(model.sent).toEqual([
      { kind: "thumb", column: "c1", value: 1, turn: 1 },
      { kind: "thumb", column: "c1", value: -1, turn: 0 },
    ]);
    model.update("vote_state", { thumbs: { c1: { "1": 1, "0": -1 } } });
    expect(qa("thumb-up", col("c1")).map((b) => b.dataset.active)).toEqual(["false", "true"]);
    expect(qa("thumb-down", col("c1")).map((b) => b.dataset.active)).toEqual(["true", "false"]);
    model.sent.length = 0;
    qa("thumb-up", col("c1"))[1].click(); // the active one again: take it back
    q("thumb-up", col("c1")).click(); // turn 0 is thumbed down: up replaces it
    expect(model.sent).toEqual([
      { kind: "thumb", column: "c1", value: 0, turn: 1 },
      { kind: "thumb", column: "c1", value: 1, turn: 0 },
    ]);
  });

  it("thumb state survives a history redraw and reaches columns added later", () => {
    const { model, q, col } = mount({ columns: [column("c1", { history: turn0("a") })], vote_state: { thumbs: { c1: { "0": 1 }, c2: { "0": -1 } } } });
    expect(q("thumb-up", col("c1")).dataset.active).toBe("true");
    model.update("columns", [column("c1", { history: turn0("a changed") }), column("c2", { history: turn0("b") })]);
    expect(q("thumb-up", col("c1")).dataset.active).toBe("true");
    expect(q("thumb-down", col("c2")).dataset.active).toBe("true");
  });

  it("no thumbs on failed replies or on the reply still streaming", () => {
    const failed: HistoryEntry = { role: "BOT", content: "", turn: 0, stats: { finish_reason: "error", error: "boom" } };
    const { model, qa, col } = mount({ columns: [column("c1", { history: [{ role: "HUMAN", content: "x", turn: 0 }, failed] }), column("c2")] });
    expect(qa("thumb-up", col("c1"))).toHaveLength(0);
    model.emit({ kind: "turn_start", column: "c2", turn: 0, prompt: "x" });
    model.emit({ kind: "delta", column: "c2", turn: 0, text: "partial" });
    expect(qa("thumb-up", col("c2"))).toHaveLength(0);
  });
});
