// ChatZoo Widget front end (anywidget module): render({ model, el }) draws the widget and returns its cleanup.
// The contract with Python (traits, messages, data-testid) is js/README.md.
import "./widget.css";
import { ColumnsView } from "./columns";
import { h, listener } from "./dom";
import { copyCode } from "./markdown";
import { PromptBox } from "./prompt";
import { Streams } from "./stream";
import { Toolbar } from "./toolbar";
import type { ColumnState, InMessage, OutMessage, RenderProps, WidgetModel } from "./types";

const columnsOf = (model: WidgetModel): ColumnState[] => {
  const value = model.get("columns");
  return Array.isArray(value) ? value : [];
};

function render({ model, el }: RenderProps): () => void {
  // One AbortController removes every DOM listener and pending timer of this view at cleanup.
  const controller = new AbortController();
  const { signal } = controller;
  const listen = listener(signal);
  const send = (msg: OutMessage) => model.send(msg);

  // The notice line shows a local notice (this view only, e.g. "Type a prompt first") over Python's `notice`.
  let localNotice = "";
  // Its text is exactly the notice (no extra buttons inside), so tests can compare it whole.
  const notice = h("div", { class: "cz-notice", testid: "notice", role: "status", "aria-live": "polite" });
  const drawNotice = () => {
    const text = localNotice || model.get("notice") || "";
    notice.textContent = text;
    notice.hidden = !text;
  };
  const notify = (text: string) => {
    localNotice = text;
    drawNotice();
  };

  const streams = new Streams((id) => columns.drawStream(id));
  const columns = new ColumnsView({ listen, signal, send, streams });
  const toolbar = new Toolbar({
    listen, signal, send, notify,
    setSystemPrompt(text) {
      if (model.get("system_prompt") === text) return;
      model.set("system_prompt", text);
      model.save_changes();
    },
  });
  const prompt = new PromptBox({ listen, send, notify, isBusy: () => Boolean(model.get("busy")) });

  // data-lm-suppress-shortcuts: JupyterLab (Lumino) skips its keyboard shortcuts for keys typed in here, so
  // Shift+Enter in the prompt adds a line instead of running the cell, and "d d" in a box deletes no cell.
  const root = h("div", { class: "cz-root", testid: "chatzoo", "data-lm-suppress-shortcuts": "true" },
    toolbar.el, notice, columns.el, prompt.el);
  // Copy buttons are re-created with every markdown render: one delegated listener serves them all.
  listen(root, "click", (event) => {
    const button = (event.target as Element | null)?.closest?.(".cz-copy");
    if (button && root.contains(button)) void copyCode(button as HTMLElement);
  });
  el.replaceChildren(root);

  // Python -> JS
  const onColumns = () => {
    const list = columnsOf(model);
    streams.reconcile(list); // first, so a reply now in the history is not drawn twice
    columns.update(list);
  };
  const onBusy = () => {
    const busy = Boolean(model.get("busy"));
    toolbar.setBusy(busy);
    prompt.setBusy(busy);
    root.dataset.busy = String(busy);
  };
  const onNotice = () => {
    localNotice = "";
    drawNotice();
  };
  const onSystemPrompt = () => toolbar.setSystemPrompt(model.get("system_prompt") ?? "");
  const onMessage = (msg: InMessage) => streams.handle(msg, columnsOf(model));

  const handlers: [string, (...args: any[]) => void][] = [
    ["change:columns", onColumns],
    ["change:busy", onBusy],
    ["change:notice", onNotice],
    ["change:system_prompt", onSystemPrompt],
    ["msg:custom", onMessage],
  ];
  for (const [event, handler] of handlers) model.on(event, handler);
  onColumns();
  onBusy();
  onNotice();
  onSystemPrompt();

  return () => {
    for (const [event, handler] of handlers) model.off(event, handler);
    controller.abort();
    streams.dispose();
    el.replaceChildren();
  };
}

export default { render };

