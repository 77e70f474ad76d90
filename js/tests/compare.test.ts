// Leaderboard, batch progress, diff and download (issue #5), against the fake model.
import { afterEach, describe, expect, it, onTestFinished, vi } from "vitest";
import { column, mount, settled } from "./fake-model";
import { wordDiff } from "../src/diff";
import { safeFilename } from "../src/download";
import { axis, methodText } from "../src/leaderboard";
import type { HistoryEntry, LeaderboardTable } from "../src/types";

afterEach(() => {
  document.body.replaceChildren();
  vi.restoreAllMocks();
});

// Shape of chatzoo_widget.compare.leaderboard_json (one vote: beta beat alpha).
const TABLE: LeaderboardTable = {
  rows: [
    { contestant: "beta", model: "beta", elo: 1002, elo_lo: 1001.5, elo_hi: 1002.5, bt: 1131.4, bt_lo: 1050, bt_hi: 1200,
      wins: 1, losses: 0, ties: 0, battles: 1 },
    { contestant: "alpha", model: "alpha", elo: 998, elo_lo: 997, elo_hi: 999, bt: 868.6, bt_lo: null, bt_hi: null,
      wins: 0, losses: 1, ties: 0, battles: 1 },
  ],
  columns: ["contestant", "model", "elo", "elo_lo", "elo_hi", "bt", "bt_lo", "bt_hi", "wins", "losses", "ties", "battles"],
  method: { elo: { k: 4, start: 1000 }, bt: { prior: 1 }, ci: { level: 0.95, rounds: 1000, seed: 1 }, votes: 1, battle_count: 1 },
  chart: { metric: "bt", bars: [{ label: "beta", value: 1131.4, lo: 1050, hi: 1200 }, { label: "alpha", value: 868.6, lo: null, hi: null }],
    min: 868.6, max: 1200 },
};

describe("leaderboard", () => {
  it("hidden until there are rows; then a table row per contestant and a bar per chart bar", () => {
    const { model, q, qa } = mount();
    expect(q("leaderboard").hidden).toBe(true);
    model.update("leaderboard_table", TABLE);
    const panel = q("leaderboard") as HTMLDetailsElement;
    expect(panel.hidden).toBe(false);
    expect(panel.tagName).toBe("DETAILS"); // collapsible
    expect(panel.open).toBe(true);
    const rows = qa("leaderboard-row");
    expect(rows.map((r) => r.dataset.contestant)).toEqual(["beta", "alpha"]);
    const cells = Array.from(rows[0].children).map((c) => c.textContent);
    expect(cells).toEqual(["1", "beta", "beta", "1002.0", "1001.5–1002.5", "1131.4", "1050.0–1200.0", "1 / 0 / 0", "1"]);
    expect(rows[1].children[6].textContent).toBe("–"); // no interval
    const bars = qa("leaderboard-bar");
    expect(bars.map((b) => b.dataset.label)).toEqual(["beta", "alpha"]);
    expect(bars[0].querySelector(".cz-lb-whisker")).toBeTruthy();
    expect(bars[1].querySelector(".cz-lb-whisker")).toBeNull();
    const width = (b: HTMLElement) => parseFloat((b.querySelector(".cz-lb-fill") as HTMLElement).style.width);
    expect(width(bars[0])).toBeGreaterThan(width(bars[1]));
    expect(q("leaderboard-method").textContent).toBe("Elo K=4, start 1000 · Bradley–Terry (prior 1) · 95% CI: 1000 bootstrap rounds · 1 vote, 1 battle");
  });

  it("keeps the user's collapsed choice across updates and hides again when emptied", () => {
    const { model, q, qa } = mount({ leaderboard_table: TABLE });
    const panel = q("leaderboard") as HTMLDetailsElement;
    panel.open = false;
    model.update("leaderboard_table", { ...TABLE, rows: TABLE.rows!.slice(0, 1) });
    expect(panel.open).toBe(false);
    expect(qa("leaderboard-row")).toHaveLength(1);
    model.update("leaderboard_table", {});
    expect(panel.hidden).toBe(true);
  });

  it("contestant names are text, never markup", () => {
    const { q } = mount({ leaderboard_table: { rows: [{ contestant: "<img src=x onerror=alert(1)>" }],
      chart: { bars: [{ label: "<b>x</b>", value: 1, lo: 0, hi: 2 }] } } });
    expect(q("leaderboard").querySelector("img, b")).toBeNull();
    expect(q("leaderboard-row").textContent).toContain("<img src=x onerror=alert(1)>");
  });

  it("method text and axis cope with missing parts", () => {
    expect(methodText(undefined)).toBe("");
    expect(methodText({ ci: { level: 0.9, rounds: 0 } })).toBe("90% CI: none (no resampling)");
    expect(axis([], null, null)).toEqual([expect.any(Number), expect.any(Number)]);
    const [lo, hi] = axis([{ label: "a", value: 1000, lo: null, hi: null }]);
    expect(lo).toBeLessThan(1000);
    expect(hi).toBeGreaterThan(1000);
  });
});

describe("batch progress", () => {
  it("a bar of done/total with Stop while running; Stop sends stop_batch", () => {
    const { model, q } = mount();
    expect(q("batch-progress").hidden).toBe(true);
    model.update("batch_progress", { running: true, done: 0, total: 4, stopped: false, error: null });
    const panel = q("batch-progress");
    expect(panel.hidden).toBe(false);
    expect([panel.dataset.done, panel.dataset.total, panel.dataset.state]).toEqual(["0", "4", "running"]);
    model.update("batch_progress", { running: true, done: 1, total: 4, stopped: false, error: null });
    expect(panel.dataset.done).toBe("1");
    expect((panel.querySelector(".cz-batch-fill") as HTMLElement).style.width).toBe("25%");
    expect(q("batch-text").textContent).toBe("1 / 4 turns");
    q("batch-stop").click();
    expect(model.sent).toEqual([{ kind: "stop_batch" }]);
    expect(panel.dataset.state).toBe("stopping");
    expect((q("batch-stop") as HTMLButtonElement).disabled).toBe(true);
    model.update("batch_progress", { running: false, done: 2, total: 4, stopped: true, error: null });
    expect(panel.dataset.state).toBe("stopped");
    expect(q("batch-stop").hidden).toBe(true);
    expect(q("batch-text").textContent).toBe("2 / 4 turns · stopped");
  });

  it("shows done and error states; dismiss hides it until the next run", () => {
    const { model, q } = mount({ batch_progress: { running: false, done: 3, total: 3, stopped: false, error: null } });
    expect(q("batch-progress").dataset.state).toBe("done");
    expect(q("batch-text").textContent).toContain("done");
    q("batch-dismiss").click();
    expect(q("batch-progress").hidden).toBe(true);
    model.update("batch_progress", { running: true, done: 0, total: 2, stopped: false, error: null });
    expect(q("batch-progress").hidden).toBe(false);
    model.update("batch_progress", { running: false, done: 1, total: 2, stopped: false, error: "CUDA out of memory" });
    expect(q("batch-progress").dataset.state).toBe("error");
    expect(q("batch-error").hidden).toBe(false);
    expect(q("batch-error").textContent).toBe("CUDA out of memory");
  });
});

const withReply = (id: string, reply: string, extra: Partial<HistoryEntry> = {}) =>
  column(id, { history: [{ role: "HUMAN", content: "q", turn: 0 }, { role: "BOT", content: reply, turn: 0, ...extra }] });

describe("diff", () => {
  it("wordDiff (jsdiff diffWords) splits into same / delete / insert, keeping each side's text", () => {
    const d = wordDiff("alpha says hi there", "alpha says hello there")!;
    expect(d.left.filter((s) => s.kind === "delete").map((s) => s.text)).toEqual(["hi"]);
    expect(d.right.filter((s) => s.kind === "insert").map((s) => s.text)).toEqual(["hello"]);
    expect(d.left.map((s) => s.text).join("")).toBe("alpha says hi there");
    expect(d.right.map((s) => s.text).join("")).toBe("alpha says hello there");
  });

  it("the toggle shows two column choosers and the highlighted latest replies", () => {
    const { model, q, qa } = mount({ columns: [withReply("c1", "the cat sat"), withReply("c2", "the dog sat"), withReply("c3", "a cat sat")] });
    expect(q("diff-view").hidden).toBe(true);
    q("diff-toggle").click();
    expect(q("diff-toggle").getAttribute("aria-pressed")).toBe("true");
    const [left, right] = [q("diff-left") as HTMLSelectElement, q("diff-right") as HTMLSelectElement];
    expect([left.value, right.value]).toEqual(["c1", "c2"]);
    expect(Array.from(left.options).map((o) => o.textContent)).toEqual(["bot-c1", "bot-c2", "bot-c3"]);
    expect(q("diff-view").hidden).toBe(false);
    expect(qa("diff-delete").map((e) => e.textContent)).toEqual(["cat"]);
    expect(qa("diff-insert").map((e) => e.textContent)).toEqual(["dog"]);
    expect(q("diff-delete").tagName).toBe("DEL");
    expect(q("diff-insert").tagName).toBe("INS");
    right.value = "c3";
    right.dispatchEvent(new Event("change"));
    expect(qa("diff-delete").map((e) => e.textContent)).toEqual(["the"]);
    expect(qa("diff-insert").map((e) => e.textContent)).toEqual(["a"]);
    // a new reply updates the view
    model.update("columns", [withReply("c1", "the cat sat"), withReply("c2", "the dog sat"), withReply("c3", "the cat ran")]);
    expect(qa("diff-insert").map((e) => e.textContent)).toEqual(["ran"]);
    q("diff-toggle").click();
    expect(q("diff-view").hidden).toBe(true);
  });

  it("says why there is nothing to compare", () => {
    const { q } = mount({ columns: [withReply("c1", "x"), column("c2")] });
    q("diff-toggle").click();
    expect(q("diff-note").textContent).toBe("No finished reply yet in bot-c2");
    const right = q("diff-right") as HTMLSelectElement;
    right.value = "c1";
    right.dispatchEvent(new Event("change"));
    expect(q("diff-note").textContent).toMatch(/two different columns/);
  });

  it("model output in a diff stays text: markup is shown, never parsed", () => {
    const evil = '<img src=x onerror="window.__pwned=1"> <script>window.__pwned=1</script>';
    const { q } = mount({ columns: [withReply("c1", "safe text"), withReply("c2", `safe ${evil}`)] });
    q("diff-toggle").click();
    const view = q("diff-view");
    expect(view.querySelector("img, script")).toBeNull();
    expect(view.textContent).toContain("<img src=x");
    expect((window as unknown as { __pwned?: number }).__pwned).toBeUndefined();
  });
});

describe("download", () => {
  it("the button sends export; the answer's document is saved as a JSON blob through a temporary <a download>", async () => {
    const created: Blob[] = [];
    const createObjectURL = vi.fn((blob: Blob) => (created.push(blob), "blob:fake-1"));
    const revokeObjectURL = vi.fn();
    // jsdom has no object URLs: give URL the two functions for this test only.
    const saved = { createObjectURL: URL.createObjectURL, revokeObjectURL: URL.revokeObjectURL };
    Object.assign(URL, { createObjectURL, revokeObjectURL });
    onTestFinished(() => void Object.assign(URL, saved));
    const clicks: { href: string; download: string; inDom: boolean }[] = [];
    vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(function (this: HTMLAnchorElement) {
      clicks.push({ href: this.href, download: this.download, inDom: document.body.contains(this) });
    });
    const { model, q } = mount();
    q("download").click();
    expect(model.sent).toEqual([{ kind: "export" }]);
    const doc = { format: "chatzoo-widget/comparison", columns: [{ name: "alpha" }] };
    model.answer({ ok: true, result: { kind: "export_data", filename: "chatzoo-comparison.json", document: doc } });
    await settled();
    expect(clicks).toEqual([{ href: "blob:fake-1", download: "chatzoo-comparison.json", inDom: true }]);
    expect(document.querySelectorAll("a[download]")).toHaveLength(0); // removed again
    expect(created[0].type).toBe("application/json");
    const text = await new Promise<string>((resolve) => {
      const reader = new FileReader(); // jsdom's Blob has no .text()
      reader.onload = () => resolve(String(reader.result));
      reader.readAsText(created[0]);
    });
    expect(JSON.parse(text)).toEqual(doc);
  });

  it("file names are plain .json names", () => {
    expect(safeFilename("../../etc/passwd")).toBe("passwd.json");
    expect(safeFilename("a:b?.JSON")).toBe("a_b_.JSON");
    expect(safeFilename("")).toBe("chatzoo-comparison.json");
    expect(safeFilename(undefined)).toBe("chatzoo-comparison.json");
    expect(safeFilename("..")).toBe("chatzoo-comparison.json");
  });
});
