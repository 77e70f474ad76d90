// Steering one shared conversation from the replies: "Continue with this reply" after a vote, the note and the
// replaced reply once it continued, and the pencil that edits and resends the last prompt. Clicks only send
// commands (`continue_with`, `edit_last`); the next `columns` update from Python shows the result.
import type { Say } from "./commands";
import { disclosure, type OpenState } from "./disclosure";
import { h, setText } from "./dom";
import { renderMarkdown } from "./markdown";
import type { HistoryEntry, VoteState } from "./types";

/** The button under a column's latest reply; shown by `applyContinue` once that turn has a vote. */
export function continueButton(turn: number): HTMLElement {
  return h("button", {
    type: "button", class: "cz-button cz-continue", testid: "continue-with", "data-turn": turn, hidden: true,
    title: "Make this reply every column's reply, and go on from it with the next prompt", text: "Continue with this reply",
  });
}

/** Show the Continue buttons of `turn` when it has been voted on (`vote_state.current`). */
export function applyContinue(scope: ParentNode, state: VoteState | null | undefined): void {
  const turn = state?.can_vote && state.current ? state.turn : null;
  for (const button of Array.from(scope.querySelectorAll<HTMLElement>(".cz-continue"))) {
    button.hidden = turn === null || turn === undefined || Number(button.dataset.turn) !== turn;
  }
}

/** What a reply shows once the conversation continued with a reply: whose, and this column's own (replaced). */
export function continuedParts(entry: HistoryEntry, columnName: string, open: OpenState): HTMLElement[] {
  if (typeof entry.continued_with !== "string") return [];
  const own = entry.continued_with === columnName;
  const parts: HTMLElement[] = [h("div", {
    class: "cz-muted cz-continued", testid: "continued-note",
    text: own ? "The conversation continues with this reply" : `Continued with ${entry.continued_with}'s reply`,
  })];
  const replaced = Array.isArray(entry.alternatives) ? entry.alternatives[0] : undefined;
  if (!own && replaced && typeof replaced.content === "string") {
    const body = h("div", { class: "cz-markdown cz-alternative-text", testid: "alternative-text" });
    renderMarkdown(body, replaced.content);
    parts.push(disclosure(open, `alternative:${entry.turn}`, { class: "cz-alternative", testid: "alternative" },
      "This column's own reply (replaced)", body));
  }
  return parts;
}

export function editPencil(turn: number): HTMLElement {
  return h("button", {
    type: "button", class: "cz-icon-button cz-edit-prompt", testid: "edit-prompt", "data-turn": turn,
    title: "Edit this prompt and send it again to every column", "aria-label": "Edit prompt", text: "✎",
  });
}

/** Send the edited prompt (`edit_last`), telling `say` why when refused; resolves to whether it was accepted. */
export type EditSubmit = (prompt: string, say: Say) => Promise<{ ok: boolean }>;

/**
 * Replace `bubble` (the last user prompt) by an editor: Enter or Send sends `edit_last`, Escape or Cancel puts
 * the bubble back. It closes once Python accepted the prompt; an empty or refused prompt stays, a note says why.
 */
export function openEditor(bubble: HTMLElement, text: string, send: EditSubmit): HTMLElement {
  const input = h("textarea", { class: "cz-edit-input", testid: "edit-input", rows: 3, "aria-label": "Edited prompt" });
  input.value = text;
  const note = h("span", { class: "cz-muted cz-edit-note", testid: "edit-note", hidden: true });
  const sendButton = h("button", { type: "button", class: "cz-button cz-primary", testid: "edit-send", text: "Send" });
  const cancel = h("button", { type: "button", class: "cz-button", testid: "edit-cancel", text: "Cancel" });
  const editor = h("div", { class: "cz-edit", testid: "prompt-editor" }, input,
    h("div", { class: "cz-edit-actions" }, note, sendButton, cancel));
  const close = () => editor.replaceWith(bubble);
  const say: Say = (message) => {
    setText(note, message);
    note.hidden = !message;
  };
  const submit = async () => {
    const prompt = input.value;
    if (sendButton.disabled) return;
    if (!prompt.trim()) {
      say("Type the new prompt first");
      return;
    }
    sendButton.disabled = true;
    const outcome = await send(prompt, say);
    sendButton.disabled = false;
    if (outcome.ok) close();
  };
  // Listeners live as long as the editor: it is dropped whole on close or the next history redraw.
  sendButton.addEventListener("click", () => void submit());
  cancel.addEventListener("click", close);
  input.addEventListener("keydown", (event: KeyboardEvent) => {
    if (event.isComposing || event.keyCode === 229) return;
    if (event.key === "Escape") {
      event.preventDefault();
      close();
    } else if (event.key === "Enter" && !event.shiftKey && !event.altKey && !event.ctrlKey && !event.metaKey) {
      event.preventDefault();
      void submit();
    }
  });
  bubble.replaceWith(editor);
  input.focus();
  return editor;
}
