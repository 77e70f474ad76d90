// The prompt box at the bottom: Enter sends to every column, Shift+Enter adds a line.
import { h, type Listen } from "./dom";
import type { OutMessage } from "./types";

export interface PromptContext {
  listen: Listen;
  send(msg: OutMessage): void;
  notify(text: string): void;
  isBusy(): boolean;
}

export const EMPTY_PROMPT_NOTICE = "Type a prompt first";
export const BUSY_NOTICE = "Wait for the replies to finish, or press Stop";

export class PromptBox {
  readonly el: HTMLElement;
  private input: HTMLTextAreaElement;
  private button: HTMLButtonElement;

  constructor(private ctx: PromptContext) {
    const { listen } = ctx;
    this.input = h("textarea", {
      class: "cz-prompt", testid: "prompt", rows: 2, "aria-label": "Prompt",
      placeholder: "Ask every model… (Enter sends, Shift+Enter adds a line)",
    });
    this.button = h("button", { type: "button", class: "cz-button cz-primary", testid: "send", text: "Send" });
    listen(this.input, "keydown", (event: KeyboardEvent) => {
      // isComposing: Enter that confirms an IME composition (CJK input) must not send.
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing && !event.altKey && !event.ctrlKey && !event.metaKey) {
        event.preventDefault();
        this.submit();
      }
    });
    listen(this.input, "input", () => ctx.notify(""));
    listen(this.button, "click", () => this.submit());
    this.el = h("div", { class: "cz-prompt-row" }, this.input, this.button);
  }

  submit(): void {
    const prompt = this.input.value;
    if (!prompt.trim()) {
      this.ctx.notify(EMPTY_PROMPT_NOTICE);
      this.input.focus();
      return;
    }
    if (this.ctx.isBusy()) {
      this.ctx.notify(BUSY_NOTICE);
      return;
    }
    this.ctx.notify("");
    this.ctx.send({ kind: "send", prompt });
    this.input.value = "";
  }

  setBusy(busy: boolean): void {
    this.button.disabled = busy;
    this.button.title = busy ? BUSY_NOTICE : "Send to every column";
  }
}
