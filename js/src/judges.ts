// LLM judges (`judge_state`): the Judge control (a column or an alias/URL as judge, progress, Stop), the verdict of
// each pair of the latest judged turn with the judge's two rationales collapsible, and the agreement with the
// user's votes. Also the leaderboard's source switch (votes / judge / both). Python names everything as the
// columns are shown (arena labels while blind); the judge's texts are untrusted and shown as text only.
import { attempt, type Invoke } from "./commands";
import { h, setText, type Listen } from "./dom";
import { noticeLine } from "./notice";
import type { ColumnState, JudgeAgreement, JudgeState, JudgeVerdict, LeaderboardTable } from "./types";

export interface JudgeContext {
  listen: Listen;
  invoke: Invoke;
}

const ORDER = ["A/B", "B/A"];
const isNum = (x: unknown): x is number => typeof x === "number" && Number.isFinite(x);

/** "Model A wins (both orders)", "Tie (the orders disagree)", "Tie", or the error. */
export function verdictText(v: JudgeVerdict): string {
  if (v.error || v.verdict == null) return `No verdict: ${v.error ?? "the judge gave none"}`;
  if (v.verdict === "tie") {
    const [first, second] = v.orders ?? [];
    return first && second && first !== "C" && second !== "C" ? "Tie (the two orders disagree)" : "Tie";
  }
  return `${v.winner_name ?? (v.verdict === "a" ? v.a_name : v.b_name)} wins (both orders agree)`;
}

/** "3 pairs judged by you and the judge · κ = 0.50 · position bias 33% (of 6 judged)". */
export function agreementText(a: JudgeAgreement): string {
  const parts = [`${a.n} pair${a.n === 1 ? "" : "s"} judged by you and the judge`];
  parts.push(isNum(a.kappa) ? `Cohen's κ = ${a.kappa.toFixed(2)}` : "κ undefined");
  if (isNum(a.position_bias)) {
    parts.push(`position bias ${Math.round(a.position_bias * 100)}%${isNum(a.judged) ? ` (of ${a.judged} judged)` : ""}`);
  }
  return parts.join(" · ");
}

function rationale(v: JudgeVerdict, i: number): HTMLElement {
  const [first, second] = i === 0 ? [v.a_name, v.b_name] : [v.b_name, v.a_name];
  const raw = v.orders?.[i];
  return h("div", { class: "cz-judge-order", "data-order": i },
    h("div", { class: "cz-muted", text: `Order ${ORDER[i]}: Assistant A = ${first}, Assistant B = ${second} · verdict ${raw ? `[[${raw}]]` : "none"}` }),
    h("div", { class: "cz-judge-text", text: v.rationales?.[i] ?? "" }));
}

function verdictRow(v: JudgeVerdict): HTMLElement {
  const state = v.error || v.verdict == null ? "error" : v.verdict;
  const details = h("details", { class: "cz-judge-rationale", testid: "judge-rationale" },
    h("summary", { text: "Rationale" }), rationale(v, 0), rationale(v, 1));
  return h("div", {
    class: `cz-judge-verdict${state === "error" ? " cz-judge-failed" : ""}`, testid: "judge-verdict",
    "data-a": v.a ?? "", "data-b": v.b ?? "", "data-verdict": state,
  },
  h("span", { class: "cz-judge-pair", text: `${v.a_name} vs ${v.b_name}` }),
  h("span", { class: "cz-judge-result", testid: "judge-result", text: verdictText(v) }), details);
}

export class JudgePanel {
  readonly el: HTMLElement;
  private input: HTMLInputElement;
  private options: HTMLDataListElement;
  private run: HTMLButtonElement;
  private stop: HTMLButtonElement;
  private progress: HTMLElement;
  private error: HTMLElement;
  private verdicts: HTMLElement;
  private heading: HTMLElement;
  private agreement: HTMLElement;
  private key = "";
  private namesKey = "";
  private running = false;

  constructor(ctx: JudgeContext) {
    const listId = `cz-judges-${Math.random().toString(36).slice(2, 10)}`;
    this.options = h("datalist", { id: listId });
    this.input = h("input", {
      type: "text", class: "cz-input cz-judge-input", testid: "judge-input", list: listId,
      placeholder: "Judge: a column, or a model alias or URL", "aria-label": "Judge model",
      title: "Pick a column as judge, or type a model alias, a folder or the URL of an OpenAI-compatible server",
    });
    this.run = h("button", { type: "button", class: "cz-button", testid: "judge-run", text: "Judge",
      title: "Judge every pair of the latest replies, in both orders (MT-Bench)" });
    this.stop = h("button", { type: "button", class: "cz-button", testid: "judge-stop", text: "Stop", hidden: true,
      title: "Stop judging (the pairs judged so far are kept)" });
    this.progress = h("span", { class: "cz-muted cz-judge-progress", testid: "judge-progress", hidden: true });
    this.error = h("div", { class: "cz-error", testid: "judge-error", role: "alert", hidden: true });
    this.heading = h("div", { class: "cz-judge-heading cz-muted", testid: "judge-heading" });
    this.verdicts = h("div", { class: "cz-judge-verdicts", testid: "judge-verdicts", hidden: true }, this.heading);
    this.agreement = h("div", { class: "cz-judge-agreement", testid: "judge-agreement", hidden: true });
    // Why a judge could not start or stop shows here; a run's own failure shows in `judge-error`.
    const notice = noticeLine("judge-notice");
    const start = () => {
      const judge = this.input.value.trim();
      if (!judge) {
        notice.say("Pick a column or type a model alias or URL to judge with");
        return;
      }
      void attempt(ctx.invoke("judge", { judge }), notice.say);
    };
    ctx.listen(this.run, "click", start);
    ctx.listen(this.input, "keydown", (event: KeyboardEvent) => {
      if (event.key === "Enter" && !event.isComposing) {
        event.preventDefault();
        start();
      }
    });
    ctx.listen(this.stop, "click", () => void attempt(ctx.invoke("stop_judge", {}), notice.say));
    this.el = h("div", { class: "cz-judge", testid: "judge-panel" },
      h("div", { class: "cz-judge-row" }, this.input, this.options, this.run, this.stop, this.progress),
      notice.el, this.error, this.verdicts, this.agreement);
  }

  /** The judge choices: the columns by the names shown (labels while blind). */
  setColumns(columns: ColumnState[]): void {
    const names = columns.map((c) => c.name).filter((n) => typeof n === "string" && n);
    const key = JSON.stringify(names);
    if (key === this.namesKey) return;
    this.namesKey = key;
    this.options.replaceChildren(...names.map((name) => h("option", { value: name })));
  }

  update(state: JudgeState | null | undefined): void {
    const s = state && typeof state === "object" ? state : {};
    const key = JSON.stringify(s);
    if (key === this.key) return;
    this.key = key;
    const run = s.run ?? {};
    this.running = Boolean(run.running);
    const total = isNum(run.total) ? run.total : 0;
    const done = isNum(run.done) ? run.done : 0;
    const runState = run.running ? "running" : run.error ? "error" : run.stopped ? "stopped" : total ? "done" : "";
    this.progress.hidden = !runState;
    Object.assign(this.progress.dataset, { state: runState, done: String(done), total: String(total) });
    const judge = run.judge ? ` by ${run.judge}` : "";
    const tail = { running: " …", stopped: " · stopped", error: " · failed", done: " · done", "": "" }[runState];
    setText(this.progress, runState ? `Judging${judge}: ${done} / ${total} pair${total === 1 ? "" : "s"}${tail}` : "");
    this.stop.hidden = !this.running;
    this.run.disabled = this.running;
    setText(this.error, run.error ? String(run.error) : "");
    this.error.hidden = !run.error;

    const verdicts = Array.isArray(s.verdicts) ? s.verdicts.filter((v) => v && typeof v === "object") : [];
    this.verdicts.hidden = verdicts.length === 0;
    const judges = Array.from(new Set(verdicts.map((v) => v.judge).filter(Boolean)));
    setText(this.heading, verdicts.length
      ? `Judge verdicts, turn ${isNum(s.turn) ? s.turn + 1 : "?"}${judges.length ? ` (${judges.join(", ")})` : ""}` : "");
    const open = new Set(Array.from(this.verdicts.querySelectorAll<HTMLElement>("[data-testid=judge-verdict]"))
      .filter((row) => row.querySelector("details")?.open).map((row) => `${row.dataset.a}|${row.dataset.b}`));
    this.verdicts.replaceChildren(this.heading, ...verdicts.map((v) => {
      const row = verdictRow(v);
      if (open.has(`${v.a ?? ""}|${v.b ?? ""}`)) (row.querySelector("details") as HTMLDetailsElement).open = true;
      return row;
    }));

    const a = s.agreement;
    this.agreement.hidden = !a;
    if (a) {
      const labels = Array.isArray(a.labels) ? a.labels : [];
      const rows = Array.isArray(a.confusion) ? a.confusion : [];
      const table = h("table", { class: "cz-judge-confusion", testid: "judge-confusion" },
        h("thead", {}, h("tr", {}, h("th", { text: "you \\ judge" }), ...labels.map((l) => h("th", { scope: "col", text: l })))),
        h("tbody", {}, ...rows.map((row, i) => h("tr", {}, h("th", { scope: "row", text: labels[i] ?? "" }),
          ...row.map((n) => h("td", { class: "cz-num", text: String(n) }))))));
      this.agreement.dataset.n = String(a.n);
      this.agreement.dataset.kappa = isNum(a.kappa) ? String(a.kappa) : "";
      this.agreement.replaceChildren(h("div", { testid: "judge-agreement-text", text: agreementText(a) }), table);
    }
  }
}

const SOURCES: [string, string][] = [["votes", "Your votes"], ["judge", "Judge"], ["both", "Both"]];

/** Which battles the leaderboard ranks; shown once a judge has verdicts in it. Clicks only send. */
export class SourceSwitch {
  readonly el: HTMLElement;
  private note: HTMLElement;

  constructor(ctx: { listen: Listen; invoke: Invoke }) {
    this.note = h("span", { class: "cz-muted", testid: "leaderboard-source-note" });
    this.el = h("div", { class: "cz-lb-source", testid: "leaderboard-source", role: "group", "aria-label": "Leaderboard from", hidden: true },
      h("span", { class: "cz-muted", text: "Leaderboard from" }),
      ...SOURCES.map(([source, text]) => h("button", {
        type: "button", class: "cz-button", "data-source": source, "aria-pressed": "false", "data-active": "false", text,
      })), this.note);
    ctx.listen(this.el, "click", (event) => {
      const button = (event.target as Element | null)?.closest?.<HTMLButtonElement>("[data-source]");
      if (!button || !this.el.contains(button)) return;
      void attempt(ctx.invoke("leaderboard_source", { source: button.dataset.source as "votes" }), (text) => {
        if (text) setText(this.note, text); // a refusal; the next leaderboard update writes the note anew
      });
    });
  }

  update(table: LeaderboardTable | null | undefined): void {
    const t = table && typeof table === "object" ? table : {};
    const counts = t.counts ?? {};
    this.el.hidden = !(isNum(counts.judge) && counts.judge > 0);
    const source = t.source ?? "votes";
    this.el.dataset.source = source;
    for (const button of Array.from(this.el.querySelectorAll<HTMLElement>("[data-source]"))) {
      const active = String(button.dataset.source === source);
      button.dataset.active = active;
      button.setAttribute("aria-pressed", active);
      button.classList.toggle("cz-selected", active === "true");
    }
    const rows = Array.isArray(t.rows) ? t.rows.length : 0;
    setText(this.note, rows ? "" : source === "votes" ? "No votes yet" : "No verdicts yet");
  }
}
