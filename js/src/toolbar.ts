// The toolbar: system prompt, the "+" add-model form, Clear, Regenerate, Stop all. A model the form could not add
// leaves the form open with the reason in it; the buttons' errors go to the notice line under the toolbar.
import { attempt, type Invoke } from "./commands";
import { debounce, h, type Listen } from "./dom";
import { noticeLine } from "./notice";

export interface ToolbarContext {
  listen: Listen;
  signal: AbortSignal;
  invoke: Invoke;
  /** Push a new system prompt to Python (model.set + save_changes). */
  setSystemPrompt(text: string): void;
  /** Show a notice in this view only (the line under the toolbar). */
  notify(text: string): void;
}

export class Toolbar {
  readonly el: HTMLElement;
  private system: HTMLTextAreaElement;
  private regenerate: HTMLButtonElement;
  private stopAll: HTMLButtonElement;

  constructor(ctx: ToolbarContext) {
    const { listen } = ctx;
    this.system = h("textarea", {
      class: "cz-system", testid: "system-prompt", rows: 1, placeholder: "System prompt (every column)",
      "aria-label": "System prompt",
    });
    // Typing pushes the prompt after a pause; leaving the box pushes it at once (before a Send click lands).
    const push = debounce(() => ctx.setSystemPrompt(this.system.value), 400, ctx.signal);
    listen(this.system, "input", () => push.call());
    listen(this.system, "change", () => {
      push.cancel();
      ctx.setSystemPrompt(this.system.value);
    });

    const addToggle = h("button", {
      type: "button", class: "cz-button", testid: "add-toggle", title: "Add a model column", "aria-expanded": "false", text: "+",
    });
    const name = h("input", { type: "text", class: "cz-input", testid: "add-name", placeholder: "Display name (optional)", "aria-label": "Display name" });
    const model = h("input", {
      type: "text", class: "cz-input cz-wide", testid: "add-model", placeholder: "Model alias, path or http(s) URL", "aria-label": "Model",
    });
    const submit = h("button", { type: "submit", class: "cz-button cz-primary", testid: "add-submit", text: "Add" });
    const addNotice = noticeLine("add-notice", "cz-add-notice");
    const form = h("form", { class: "cz-add-form", hidden: true }, name, model, submit, addNotice.el);
    const showForm = (open: boolean) => {
      form.hidden = !open;
      if (!open) addNotice.say("");
      addToggle.setAttribute("aria-expanded", String(open));
      if (open) model.focus();
    };
    listen(addToggle, "click", () => showForm(form.hidden));
    listen(form, "submit", async (event) => {
      event.preventDefault();
      if (submit.disabled) return;
      const spec = model.value.trim();
      if (!spec) {
        addNotice.say("Enter a model alias, path or URL to add a column");
        model.focus();
        return;
      }
      submit.disabled = true;
      const outcome = await attempt(ctx.invoke("add_model", { name: name.value.trim(), model: spec }), addNotice.say);
      submit.disabled = false;
      if (!outcome.ok) return; // the form keeps what was typed, with the reason
      name.value = model.value = "";
      showForm(false);
    });
    listen(form, "keydown", (event: KeyboardEvent) => {
      if (event.key === "Escape") showForm(false);
    });

    const clear = h("button", { type: "button", class: "cz-button", testid: "clear", text: "Clear", title: "Stop and clear every conversation" });
    this.regenerate = h("button", { type: "button", class: "cz-button", testid: "regenerate", text: "Regenerate", title: "Answer the last prompt again" });
    this.stopAll = h("button", { type: "button", class: "cz-button", testid: "stop-all", text: "Stop all", title: "Stop every reply" });
    listen(clear, "click", () => void attempt(ctx.invoke("clear", {}), ctx.notify));
    listen(this.regenerate, "click", () => void attempt(ctx.invoke("regenerate", {}), ctx.notify));
    listen(this.stopAll, "click", () => void attempt(ctx.invoke("stop", { column: null }), ctx.notify));

    this.el = h(
      "div", { class: "cz-toolbar" },
      h("div", { class: "cz-toolbar-row" }, this.system, addToggle, clear, this.regenerate, this.stopAll),
      form,
    );
  }

  setSystemPrompt(text: string): void {
    if (document.activeElement !== this.system && this.system.value !== text) this.system.value = text ?? "";
  }

  setBusy(busy: boolean): void {
    // Python refuses Regenerate while busy; Stop all stays usable at all times (a no-op when idle).
    this.regenerate.disabled = busy;
    this.stopAll.classList.toggle("cz-active", busy);
  }
}
