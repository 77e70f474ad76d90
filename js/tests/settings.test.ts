import { afterEach, describe, expect, it, vi } from "vitest";
import { checkNumber } from "../src/settings";
import { column, mount } from "./fake-model";

afterEach(() => {
  vi.useRealTimers();
  document.body.replaceChildren();
});

const row = (root: ParentNode, name: string) => root.querySelector(`[data-testid="setting"][data-name="${name}"]`) as HTMLElement;

describe("settings panel", () => {
  it("draws controls from spec with the current values", () => {
    const { q, col } = mount({ columns: [column("c1")] });
    const panel = q("settings-panel", col("c1"));
    expect(panel.hidden).toBe(true);
    q("settings-toggle", col("c1")).click();
    expect(panel.hidden).toBe(false);
    const tokens = row(panel, "max_new_tokens");
    const slider = tokens.querySelector('input[type="range"]') as HTMLInputElement;
    const box = tokens.querySelector('[data-testid="setting-value"]') as HTMLInputElement;
    expect([slider.min, slider.max, slider.step, slider.value]).toEqual(["1", "4096", "1", "64"]);
    expect([box.type, box.value]).toEqual(["number", "64"]);
    expect((row(panel, "do_sample").querySelector("input") as HTMLInputElement).checked).toBe(true);
    expect((row(panel, "stop").querySelector("input") as HTMLInputElement).type).toBe("text");
  });

  it("a slider sends set_settings with a number in range, debounced on input, at once on change", () => {
    vi.useFakeTimers();
    const { model, col } = mount({ columns: [column("c1")] });
    const slider = row(col("c1"), "temperature").querySelector('input[type="range"]') as HTMLInputElement;
    slider.value = "1.3";
    slider.dispatchEvent(new Event("input"));
    slider.value = "1.5";
    slider.dispatchEvent(new Event("input"));
    expect(model.sent).toEqual([]);
    vi.advanceTimersByTime(200);
    expect(model.sent).toEqual([{ kind: "set_settings", column: "c1", settings: { temperature: 1.5 } }]);
    slider.value = "99"; // the browser clamps a range input to its max
    slider.dispatchEvent(new Event("change"));
    const last = model.sent.at(-1)!;
    expect(last).toEqual({ kind: "set_settings", column: "c1", settings: { temperature: 2 } });
  });

  it("an out-of-range typed value is clamped, with the reason shown", () => {
    const { model, col } = mount({ columns: [column("c1")] });
    const tokens = row(col("c1"), "max_new_tokens");
    const box = tokens.querySelector('[data-testid="setting-value"]') as HTMLInputElement;
    box.value = "100000";
    box.dispatchEvent(new Event("change"));
    expect(model.sent).toEqual([{ kind: "set_settings", column: "c1", settings: { max_new_tokens: 4096 } }]);
    expect(box.value).toBe("4096");
    const reason = tokens.querySelector('[data-testid="setting-reason"]') as HTMLElement;
    expect(reason.hidden).toBe(false);
    expect(reason.textContent).toContain("at most 4096");
    box.value = "abc";
    box.dispatchEvent(new Event("change"));
    expect(model.sent).toHaveLength(1);
    expect(reason.textContent).toContain("needs a number");
  });

  it("Enter in the number box sends once (a later change event is not sent again)", () => {
    const { model, col } = mount({ columns: [column("c1")] });
    const tokens = row(col("c1"), "max_new_tokens");
    const box = tokens.querySelector('[data-testid="setting-value"]') as HTMLInputElement;
    const slider = tokens.querySelector('input[type="range"]') as HTMLInputElement;
    box.value = "3";
    box.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true, cancelable: true }));
    box.dispatchEvent(new Event("change"));
    expect(model.sent).toEqual([{ kind: "set_settings", column: "c1", settings: { max_new_tokens: 3 } }]);
    expect(slider.value).toBe("3");
  });

  it("checkbox and text settings send at once", () => {
    const { model, col } = mount({ columns: [column("c1")] });
    const check = row(col("c1"), "do_sample").querySelector("input") as HTMLInputElement;
    check.click();
    const text = row(col("c1"), "stop").querySelector("input") as HTMLInputElement;
    text.value = "###";
    text.dispatchEvent(new Event("change"));
    expect(model.sent).toEqual([
      { kind: "set_settings", column: "c1", settings: { do_sample: false } },
      { kind: "set_settings", column: "c1", settings: { stop: "###" } },
    ]);
  });

  it("moves controls when Python's settings change", () => {
    const { model, col } = mount({ columns: [column("c1")] });
    model.update("columns", [column("c1", { settings: { max_new_tokens: 128, temperature: 0.2, do_sample: false, stop: "x" } })]);
    const tokens = row(col("c1"), "max_new_tokens");
    expect((tokens.querySelector('[data-testid="setting-value"]') as HTMLInputElement).value).toBe("128");
    expect((row(col("c1"), "do_sample").querySelector("input") as HTMLInputElement).checked).toBe(false);
  });

  it("checkNumber rounds ints and float noise", () => {
    const int = column("c").spec[0];
    const float = column("c").spec[1];
    expect(checkNumber(int, "12.6")).toMatchObject({ value: 13 });
    expect(checkNumber(int, "0").value).toBe(1);
    expect(checkNumber(float, String(0.1 + 0.2))).toEqual({ value: 0.3, reason: "" });
  });
});
