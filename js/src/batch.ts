// Batch run progress (`batch_progress`): a bar of done/total turns with a Stop button while it runs, then
// its outcome (done, stopped or failed) until dismissed or the next run starts.
import { attempt, type Invoke } from "./commands";
import { h, setText, type Listen } from "./dom";
import { noticeLine } from "./notice";
import type { BatchProgress } from "./types";

export type BatchState = "running" | "stopping" | "stopped" | "error" | "done";

export interface BatchContext {
  listen: Listen;
  invoke: Invoke;
}

const count = (x: unknown): number => (typeof x === "number" && Number.isFinite(x) && x > 0 ? Math.floor(x) : 0);

export function batchState(p: BatchProgress, stopping: boolean): BatchState {
  if (p.running) return stopping ? "stopping" : "running";
  if (p.error) return "error";
  return p.stopped ? "stopped" : "done";
}

export class BatchPanel {
  readonly el: HTMLElement;
  private fill: HTMLElement;
  private bar: HTMLElement;
  private text: HTMLElement;
  private error: HTMLElement;
  private stop: HTMLButtonElement;
  private dismiss: HTMLButtonElement;
  private stopping = false;
  private dismissedKey: string | null = null;
  private key = "";
  private last: BatchProgress = {};

  constructor(ctx: BatchContext) {
    this.fill = h("div", { class: "cz-batch-fill" });
    this.bar = h("div", { class: "cz-batch-bar", role: "progressbar", "aria-valuemin": 0 }, this.fill);
    this.text = h("span", { class: "cz-batch-text", testid: "batch-text" });
    this.error = h("div", { class: "cz-error", testid: "batch-error", role: "alert", hidden: true });
    this.stop = h("button", { type: "button", class: "cz-button", testid: "batch-stop", text: "Stop", title: "Stop the batch run (the rows so far are kept)" });
    this.dismiss = h("button", { type: "button", class: "cz-icon-button", testid: "batch-dismiss", title: "Hide", "aria-label": "Hide", text: "×" });
    const notice = noticeLine("batch-notice");
    ctx.listen(this.stop, "click", async () => {
      if (this.stop.disabled) return;
      this.stopping = true;
      this.draw(this.last);
      if (!(await attempt(ctx.invoke("stop_batch", {}), notice.say)).ok) {
        this.stopping = false; // refused: Stop is offered again, with the reason
        this.draw(this.last);
      }
    });
    ctx.listen(this.dismiss, "click", () => {
      this.dismissedKey = this.key;
      this.el.hidden = true;
    });
    this.el = h("div", { class: "cz-batch", testid: "batch-progress", hidden: true },
      h("div", { class: "cz-batch-row" }, h("span", { class: "cz-batch-title", text: "Batch run" }), this.bar, this.text,
        this.stop, this.dismiss),
      this.error, notice.el);
  }

  update(progress: BatchProgress | null | undefined): void {
    const p = progress && typeof progress === "object" ? progress : {};
    const key = JSON.stringify(p);
    if (!p.running) this.stopping = false;
    if (key !== this.key) {
      this.key = key;
      if (p.running) this.dismissedKey = null; // a run in progress is always shown
    }
    this.last = p;
    this.draw(p);
  }

  private draw(p: BatchProgress): void {
    const total = count(p.total);
    const done = Math.min(count(p.done), total || count(p.done));
    const visible = Boolean(p.running) || total > 0;
    this.el.hidden = !visible || this.dismissedKey === this.key;
    const state = batchState(p, this.stopping);
    Object.assign(this.el.dataset, { done: String(done), total: String(total), state });
    this.bar.setAttribute("aria-valuemax", String(total));
    this.bar.setAttribute("aria-valuenow", String(done));
    this.fill.style.width = `${total ? (done / total) * 100 : 0}%`;
    const label = {
      running: "", stopping: " · stopping…", stopped: " · stopped", error: " · failed", done: " · done",
    }[state];
    const phase = p.running && typeof p.phase === "string" && p.phase ? ` · ${p.phase}` : "";
    setText(this.text, `${done} / ${total} turn${total === 1 ? "" : "s"}${phase}${label}`);
    setText(this.error, state === "error" ? String(p.error) : "");
    this.error.hidden = state !== "error";
    this.stop.hidden = !p.running;
    this.stop.disabled = state === "stopping";
    this.dismiss.hidden = Boolean(p.running);
  }
}
