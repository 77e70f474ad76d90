// Judging: the vote bar under the columns, the thumbs under each finished reply, and the arena badge.
// Python keeps the votes (`vote_state`); clicks only send `vote` / `thumb` and the next `vote_state` shows them.
import { attempt, type CommandArgs, type Invoke } from "./commands";
import { h, setText, type Listen } from "./dom";
import { noticeLine } from "./notice";
import type { ColumnState, VoteState } from "./types";

/** Button text of a vote choice: column names as they are, "tie" -> "Tie", "bad" -> "All bad". */
export function choiceLabel(choice: string): string {
  if (choice === "tie") return "Tie";
  if (choice === "bad") return "All bad";
  return choice;
}

/** Shown instead of Python's reason while names are hidden (Python's reason may name the models). */
export const BLIND_REASON = "Vote when every reply has finished";

export interface VoteBarContext {
  listen: Listen;
  invoke: Invoke;
}

export class VoteBar {
  readonly el: HTMLElement;
  private buttons: HTMLElement;
  private reason: HTMLElement;
  private key = "";

  constructor(ctx: VoteBarContext) {
    this.buttons = h("div", { class: "cz-vote-choices", role: "group", "aria-label": "Vote" });
    this.reason = h("span", { class: "cz-muted cz-vote-reason", testid: "vote-reason" });
    const notice = noticeLine("vote-notice", "cz-vote-notice");
    this.el = h("div", { class: "cz-vote-bar", testid: "vote-bar", hidden: true },
      h("span", { class: "cz-vote-title", text: "Which reply is best?" }), this.buttons, this.reason, notice.el);
    ctx.listen(this.buttons, "click", (event) => {
      const button = (event.target as Element | null)?.closest?.<HTMLButtonElement>("[data-choice]");
      if (!button || !this.buttons.contains(button) || button.disabled) return;
      void attempt(ctx.invoke("vote", { choice: button.dataset.choice! }), notice.say);
    });
  }

  /**
   * Show the choices while the latest turn can be voted on. Otherwise the reason, muted, once there is a
   * conversation (`started`), never while names are hidden (`blind`) since the reason may name the models.
   */
  update(state: VoteState | null | undefined, opts: { started: boolean; blind: boolean }): void {
    const vs = state && typeof state === "object" ? state : {};
    const choices = vs.can_vote && Array.isArray(vs.choices) ? vs.choices.filter((c) => typeof c === "string") : [];
    const current = vs.current ?? null;
    const key = JSON.stringify([choices, current]);
    if (key !== this.key) {
      this.key = key;
      this.buttons.replaceChildren(...choices.map((choice) => {
        const active = choice === current;
        return h("button", {
          type: "button", class: `cz-button cz-vote-choice${active ? " cz-selected" : ""}`, testid: "vote-choice",
          "data-choice": choice, "data-active": String(active), "aria-pressed": String(active),
          title: choice === "tie" ? "The replies are about as good" : choice === "bad" ? "Every reply is bad"
            : `${choice} gave the best reply`,
          text: choiceLabel(choice),
        });
      }));
    }
    const reason = choices.length || !opts.started ? "" : opts.blind ? BLIND_REASON : String(vs.reason ?? "");
    setText(this.reason, reason);
    this.reason.hidden = !reason;
    this.el.hidden = !choices.length && !reason;
    this.el.dataset.canVote = String(choices.length > 0);
  }
}

// A thumb icon (drawn, not an emoji: emoji fonts are missing on many hosts). Thumbs down is it turned over.
const THUMB_PATH = "M2 21h3.5V9.5H2V21zm19.5-10.5c0-1.1-.9-2-2-2h-5.6l.9-4.3v-.3c0-.4-.2-.8-.4-1.1L13.3 1.8 " +
  "7.3 7.8c-.3.4-.5.9-.5 1.4V19c0 1.1.9 2 2 2h8.3c.8 0 1.5-.5 1.8-1.2l2.7-6.4c.1-.2.1-.5.1-.7v-2.2z";

function thumbIcon(down: boolean): SVGSVGElement {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "cz-icon");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "14");
  svg.setAttribute("height", "14");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", THUMB_PATH);
  path.setAttribute("fill", "currentColor");
  if (down) path.setAttribute("transform", "rotate(180 12 12)");
  svg.append(path);
  return svg;
}

/** Thumbs up/down for one finished BOT reply; `applyThumbs` sets which one is active. */
export function thumbButtons(turn: number): HTMLElement {
  const button = (value: 1 | -1, testid: string, title: string) =>
    h("button", {
      type: "button", class: "cz-icon-button cz-thumb", testid, "data-value": value, "data-turn": turn,
      "data-active": "false", "aria-pressed": "false", title, "aria-label": title,
    }, thumbIcon(value === -1));
  return h("div", { class: "cz-thumbs", "data-turn": turn },
    button(1, "thumb-up", "Good reply"), button(-1, "thumb-down", "Bad reply"));
}

/** Mark the active thumb of each reply in `scope` from {turn: ±1}. */
export function applyThumbs(scope: ParentNode, thumbs: Record<string, number> | undefined): void {
  for (const button of Array.from(scope.querySelectorAll<HTMLElement>(".cz-thumb"))) {
    const value = thumbs?.[button.dataset.turn ?? ""] ?? 0;
    const active = String(Number(button.dataset.value) === value);
    if (button.dataset.active !== active) {
      button.dataset.active = active;
      button.setAttribute("aria-pressed", active);
    }
  }
}

/** The `thumb` command's arguments for a click: clicking the active thumb again takes it back (value 0). */
export function thumbArgs(columnId: string, button: HTMLElement): CommandArgs["thumb"] | null {
  const turn = Number(button.dataset.turn);
  const value = Number(button.dataset.value);
  if (!Number.isInteger(turn) || (value !== 1 && value !== -1)) return null;
  return { column: columnId, value: button.dataset.active === "true" ? 0 : (value as 1 | -1), turn };
}

/** The arena badge: hidden outside arena mode; "blind" while any column's name is hidden, else "revealed". */
export class ArenaBadge {
  readonly el = h("span", { class: "cz-arena-badge", testid: "arena-badge", hidden: true });

  update(arena: boolean, columns: ColumnState[]): void {
    this.el.hidden = !arena;
    if (!arena) return;
    const blind = !columns.length || columns.some((c) => c.blind !== false);
    this.el.dataset.state = blind ? "blind" : "revealed";
    setText(this.el, blind ? "Arena · blind: vote to reveal the names" : "Arena · names revealed");
    this.el.title = blind
      ? "Blind comparison: the models are shown as Model A, Model B… in a random order until you vote"
      : "The names were revealed by your vote; the next conversation is blind again";
  }
}
