// The prompt box at the bottom: Enter sends to every column, Shift+Enter adds a line. The box clears only once
// Python accepted the prompt; a refused one (busy, empty) stays in the box with the reason beside it.
import { attempt, type Invoke } from "./commands";
import { h, type Listen } from "./dom";
import { noticeLine } from "./notice";

export interface PromptContext {
  listen: Listen;
  invoke: Invoke;
  isBusy(): boolean;
}

export const EMPTY_PROMPT_NOTICE = "Type a prompt first";
export const BUSY_NOTICE = "Wait for the replies to finish, or press Stop";

export class PromptBox {
  readonly el: HTMLElement;
  private input: HTMLTextAreaElement;
  private button: HTMLButtonElement;
  private say: (text: string) => void;
  /** A prompt on its way to Python: Enter again sends nothing. */
  private pending = false;
  private busy = false;

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
    const notice = noticeLine("prompt-notice", "cz-prompt-notice");
    this.say = notice.say;
    listen(this.input, "input", () => this.say(""));
    listen(this.button, "click", () => void this.submit());
    this.el = h("div", { class: "cz-prompt-area" }, h("div", { class: "cz-prompt-row" }, this.input, this.button), notice.el);
  }

  /** Send the prompt; resolves once Python answered (the box is then cleared, or keeps the refused prompt). */
  async submit(): Promise<void> {
    const prompt = this.input.value;
    if (this.pending) return;
    if (!prompt.trim()) {
      this.say(EMPTY_PROMPT_NOTICE);
      this.input.focus();
      return;
    }
    if (this.ctx.isBusy()) {
      this.say(BUSY_NOTICE);
      return;
    }
    this.setPending(true);
    const outcome = await attempt(this.ctx.invoke("send", { prompt }), this.say);
    this.setPending(false);
    // Clear only what was sent: text typed meanwhile stays.
    if (outcome.ok && this.input.value === prompt) this.input.value = "";
  }

  setBusy(busy: boolean): void {
    this.busy = busy;
    this.drawButton();
  }

  private setPending(pending: boolean): void {
    this.pending = pending;
    this.el.dataset.pending = String(pending);
    this.drawButton();
  }

  private drawButton(): void {
    this.button.disabled = this.busy || this.pending;
    this.button.title = this.busy ? BUSY_NOTICE : "Send to every column";
  }
}
