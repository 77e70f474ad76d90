// A notice line: what became of an action, shown where the action was made (a refused prompt by the prompt box,
// a failed Stop in its column, a model the "+" form could not add in the form). Hidden when empty; its text is
// exactly the message, so tests can compare it whole.
import type { Say } from "./commands";
import { h, setText } from "./dom";

export interface NoticeLine {
  el: HTMLElement;
  say: Say;
}

export function noticeLine(testid: string, className = ""): NoticeLine {
  const el = h("div", {
    class: `cz-notice${className ? ` ${className}` : ""}`, testid, role: "status", "aria-live": "polite", hidden: true,
  });
  const say: Say = (text) => {
    setText(el, text);
    el.hidden = !text;
  };
  return { el, say };
}
