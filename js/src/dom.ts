// Tiny DOM helpers: building elements by hand stays readable without a framework.

type Attrs = Record<string, string | number | boolean | null | undefined>;
type Child = Node | string | null | undefined | false;

/** Create an element. Attributes: `class`, `text`, `testid`, data-* and the rest set as attributes. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") el.textContent = String(value);
    else if (key === "testid") el.dataset.testid = String(value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child);
  }
  return el;
}

/** addEventListener bound to the view's AbortSignal, so cleanup removes every DOM listener at once. */
export type Listen = <E extends Event = Event>(
  target: EventTarget,
  type: string,
  handler: (event: E) => void,
) => void;

export function listener(signal: AbortSignal): Listen {
  return (target, type, handler) => target.addEventListener(type, handler as EventListener, { signal });
}

/** Set textContent only when it changed (keeps text selections and avoids needless layout). */
export function setText(el: Element, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}

/** Debounce `fn`; a call still pending when the view is cleaned up never runs. `flush` runs it now. */
export function debounce<A extends unknown[]>(fn: (...args: A) => void, ms: number, signal: AbortSignal) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let pending: A | undefined;
  const cancel = () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = pending = undefined;
  };
  signal.addEventListener("abort", cancel);
  const run = () => {
    const args = pending;
    cancel();
    if (args && !signal.aborted) fn(...args);
  };
  return {
    call(...args: A) {
      if (timer !== undefined) clearTimeout(timer);
      pending = args;
      timer = setTimeout(run, ms);
    },
    flush: run,
    cancel,
    get pending() {
      return pending !== undefined;
    },
  };
}

/** Append children, skipping the absent ones (optional parts of a row). */
export function appendAll(parent: Element, ...children: Child[]): void {
  for (const child of children) if (child !== null && child !== undefined && child !== false) parent.append(child);
}

/**
 * Insert a line break at the caret of a textarea, as typing Enter would. JupyterLab 4 cancels the native
 * `insertLineBreak` input of any element inside a notebook cell (output widgets included), so the widget's
 * text boxes add the line themselves. `execCommand` keeps the browser's undo history; where it is missing
 * (jsdom, some hosts) `setRangeText` does it. Fires `input` like typing does.
 */
export function insertLineBreak(area: HTMLTextAreaElement): void {
  let done = false;
  try {
    done = typeof document.execCommand === "function" && document.activeElement === area &&
      document.execCommand("insertText", false, "\n");
  } catch {
    done = false;
  }
  if (done) return;
  const start = area.selectionStart ?? area.value.length;
  const end = area.selectionEnd ?? start;
  area.setRangeText("\n", start, end, "end");
  area.dispatchEvent(new Event("input", { bubbles: true }));
}
