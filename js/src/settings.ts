// One column's settings panel, drawn from the column's `spec`. Controls enforce min/max/step; a typed value
// outside the range is clamped and the row says why. Every change goes to Python as `set_settings`; a refused one
// puts the value in force back in its control and says why in its row.
import { attempt } from "./commands";
import { appendAll, debounce, h, type Listen } from "./dom";
import type { ColumnState, SettingSpec } from "./types";

const SLIDER_DEBOUNCE_MS = 150;

interface Row {
  spec: SettingSpec;
  /** Show the value from Python in the controls (unless the user is busy with them, or `force`). */
  show(value: unknown, force?: boolean): void;
}

export interface SettingsContext {
  listen: Listen;
  signal: AbortSignal;
  /** Send `set_settings` for this column; rejects with Python's reason when refused. */
  send(settings: Record<string, unknown>): Promise<unknown>;
}

const isNum = (x: unknown): x is number => typeof x === "number" && Number.isFinite(x);

/** Decimal places of a step, so 0.1 + 0.2 shows as 0.3. */
function decimals(step: number | null | undefined): number {
  if (!isNum(step)) return 6;
  const text = String(step);
  if (text.includes("e-")) return Number(text.split("e-")[1]);
  return text.includes(".") ? text.split(".")[1].length : 0;
}

/** Check a typed number against the spec: returns the value to use and, when it differs, why. */
export function checkNumber(spec: SettingSpec, raw: string): { value: number | null; reason: string } {
  const typed = Number(raw.trim());
  if (raw.trim() === "" || !Number.isFinite(typed)) return { value: null, reason: `${spec.name} needs a number` };
  let value = typed;
  const reasons: string[] = [];
  if (spec.type === "int" && !Number.isInteger(value)) {
    value = Math.round(value);
    reasons.push("a whole number");
  }
  if (isNum(spec.min) && value < spec.min) {
    value = spec.min;
    reasons.push(`at least ${spec.min}`);
  }
  if (isNum(spec.max) && value > spec.max) {
    value = spec.max;
    reasons.push(`at most ${spec.max}`);
  }
  if (spec.type === "float") value = Number(value.toFixed(decimals(spec.step)));
  const reason = reasons.length ? `${spec.name} must be ${reasons.join(" and ")}: set to ${value}` : "";
  return { value, reason };
}

export class SettingsPanel {
  readonly el: HTMLElement;
  private rows = new Map<string, Row>();
  private specKey = "";
  /** The values in force (from the last `columns` update): a refused change goes back to them. */
  private values: Record<string, unknown> = {};
  /** Each row's reason line, by setting name. */
  private says = new Map<string, (text: string) => void>();

  constructor(private columnId: string, private ctx: SettingsContext) {
    this.el = h("div", { class: "cz-settings", testid: "settings-panel", hidden: true });
  }

  get open(): boolean {
    return !this.el.hidden;
  }

  toggle(open = !this.open): void {
    this.el.hidden = !open;
  }

  update(column: ColumnState): void {
    const spec = Array.isArray(column.spec) ? column.spec : [];
    const specKey = JSON.stringify(spec);
    if (specKey !== this.specKey) {
      // Rebuild only when the spec changes (e.g. the model finished loading); otherwise just move values.
      this.specKey = specKey;
      this.rows.clear();
      this.says.clear();
      this.el.replaceChildren();
      if (!spec.length) {
        const waiting = column.status === "loading" ? "Settings appear once the model has loaded." : "No settings.";
        this.el.append(h("div", { class: "cz-muted", text: waiting }));
      }
      for (const s of spec) {
        const row = this.buildRow(s);
        if (row) this.rows.set(s.name, row);
      }
    }
    this.values = column.settings ?? {};
    for (const name of this.rows.keys()) this.showInForce(name);
  }

  private showInForce(name: string, force = false): void {
    const row = this.rows.get(name);
    if (row) row.show(name in this.values ? this.values[name] : row.spec.default, force);
  }

  private async sendOne(name: string, value: unknown): Promise<void> {
    const say = this.says.get(name) ?? (() => {});
    const outcome = await attempt(this.ctx.send({ [name]: value }), (text) => text && say(text));
    if (!outcome.ok) this.showInForce(name, true);
  }

  private buildRow(spec: SettingSpec): Row | null {
    const id = `cz-${this.columnId}-${spec.name}-${Math.random().toString(36).slice(2, 8)}`;
    const label = h("label", { class: "cz-setting-label", for: id, text: spec.name, title: spec.description || null });
    const reason = h("div", { class: "cz-setting-reason", testid: "setting-reason", hidden: true });
    const row = h("div", { class: "cz-setting", testid: "setting", "data-name": spec.name, "data-type": spec.type });
    const help = spec.description ? h("div", { class: "cz-setting-help", text: spec.description }) : null;
    this.el.append(row);
    const say = (text: string) => {
      reason.textContent = text;
      reason.hidden = !text;
    };
    this.says.set(spec.name, say);
    const { listen } = this.ctx;

    if (spec.type === "int" || spec.type === "float") {
      const step = isNum(spec.step) && spec.step > 0 ? spec.step : spec.type === "int" ? 1 : null;
      const bounded = isNum(spec.min) && isNum(spec.max) && spec.max > spec.min;
      const box = h("input", {
        type: "number", id, class: "cz-number", testid: "setting-value",
        min: isNum(spec.min) ? spec.min : null, max: isNum(spec.max) ? spec.max : null, step: step ?? "any",
      });
      // A slider needs both ends; an open-ended setting gets the number box alone.
      const slider = bounded
        ? h("input", {
            type: "range", class: "cz-slider", min: spec.min!, max: spec.max!, "aria-label": spec.name,
            step: step ?? (spec.max! - spec.min!) / 100,
          })
        : null;
      let lastSent: number | null = null;
      const commit = (value: number) => {
        if (value !== lastSent) {
          lastSent = value;
          this.sendOne(spec.name, value);
        }
      };
      const later = debounce(commit, SLIDER_DEBOUNCE_MS, this.ctx.signal);
      const sliderValue = () => checkNumber(spec, slider!.value).value!;
      if (slider) {
        listen(slider, "input", () => {
          box.value = String(sliderValue());
          say("");
          later.call(sliderValue());
        });
        listen(slider, "change", () => {
          later.cancel();
          commit(sliderValue());
        });
      }
      const commitBox = () => {
        const { value, reason: why } = checkNumber(spec, box.value);
        say(why);
        if (value === null) {
          box.value = lastSent === null ? "" : String(lastSent); // refused: put the value in force back
          return;
        }
        box.value = String(value);
        if (slider) slider.value = String(value);
        later.cancel();
        commit(value);
      };
      listen(box, "change", commitBox);
      // Enter commits too: browsers differ on whether Enter in a number box fires `change`.
      listen(box, "keydown", (event: KeyboardEvent) => {
        if (event.key === "Enter") {
          event.preventDefault();
          commitBox();
        }
      });
      appendAll(row, h("div", { class: "cz-setting-head" }, label, box), slider, help, reason);
      return {
        spec,
        show(value, force = false) {
          if (!isNum(value)) return;
          lastSent = value;
          if (later.pending && !force) return; // the user's value is on its way to Python
          if (force || document.activeElement !== box) box.value = String(value);
          if (slider && (force || document.activeElement !== slider)) slider.value = String(value);
        },
      };
    }

    if (spec.type === "bool") {
      const box = h("input", { type: "checkbox", id, class: "cz-checkbox", testid: "setting-value" });
      listen(box, "change", () => this.sendOne(spec.name, box.checked));
      appendAll(row, h("div", { class: "cz-setting-head" }, label, box), help, reason);
      return { spec, show: (value) => void (box.checked = Boolean(value)) };
    }

    // str (and anything unknown, shown as text so it can still be changed)
    const box = spec.multiline
      ? h("textarea", { id, class: "cz-text", rows: 3, testid: "setting-value" })
      : h("input", { type: "text", id, class: "cz-text", testid: "setting-value" });
    listen(box, "change", () => this.sendOne(spec.name, box.value));
    appendAll(row, label, box, help, reason);
    return {
      spec,
      show(value, force = false) {
        if (force || document.activeElement !== box) box.value = value === null || value === undefined ? "" : String(value);
      },
    };
  }
}
