// A collapsible block (<details>) whose open state outlives re-rendering: replies are redrawn on every streamed
// frame and every history change, and a block the user opened must stay open through that.
import { h } from "./dom";

/** Which blocks are open, by key ("thinking:3", "prompt:3"...). One per column view. */
export class OpenState {
  private open = new Set<string>();

  has(key: string): boolean {
    return this.open.has(key);
  }

  set(key: string, open: boolean): void {
    if (open) this.open.add(key);
    else this.open.delete(key);
  }

  /** Delegated click handler: a click on a block's summary flips its remembered state (the browser then opens
   * or closes it; keyboard activation of a summary is a click too). */
  onClick(event: Event): void {
    const summary = (event.target as Element | null)?.closest?.("summary");
    const details = summary?.parentElement;
    if (!summary || !details || details.tagName !== "DETAILS" || !details.dataset.openKey) return;
    this.set(details.dataset.openKey, !(details as HTMLDetailsElement).open);
  }
}

/** A <details> block, open when `state` remembers it so. */
export function disclosure(
  state: OpenState, key: string, attrs: { class: string; testid: string; toggle?: string }, summary: Node | string,
  ...body: Node[]
): HTMLDetailsElement {
  const el = h("details", { class: attrs.class, testid: attrs.testid, "data-open-key": key },
    h("summary", { class: "cz-disclosure-summary", testid: attrs.toggle ?? `${attrs.testid}-toggle` }, summary), ...body);
  el.open = state.has(key);
  return el;
}
