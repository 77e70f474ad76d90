// ChatZoo Widget front end (anywidget module): render({ model, el }) draws the widget and returns its cleanup.
// The contract with Python (traits, messages, data-testid) is js/README.md.
import "./widget.css";
import { BatchPanel } from "./batch";
import { applyChecks } from "./check-badges";
import { ColumnStore, isEntriesMessage } from "./column-models";
import { ColumnsView } from "./columns";
import { attempt, bindInvoke, isAnswer } from "./commands";
import { CrossScoresPanel, isCrossScoresMessage } from "./cross-scores";
import { DetailCache } from "./details";
import { DiffView } from "./diff";
import { h, insertLineBreak, listener } from "./dom";
import { GridPanel, isGridRows } from "./grid";
import { saveHtml, saveJson } from "./download";
import { ArenaBadge, VoteBar } from "./judge";
import { JudgePanel, SourceSwitch } from "./judges";
import { LeaderboardPanel } from "./leaderboard";
import { copyCode } from "./markdown";
import { noticeLine } from "./notice";
import { PromptBox } from "./prompt";
import { hideSnapshot } from "./snapshot";
import { Streams } from "./stream";
import { Toolbar } from "./toolbar";
import type { InMessage, RenderProps, StreamMessage } from "./types";

function render({ model, el }: RenderProps): () => void {
  // One AbortController removes every DOM listener and pending timer of this view at cleanup.
  const controller = new AbortController();
  const { signal } = controller;
  const listen = listener(signal);
  // Every action is a command with its own answer (commands.ts); waiting ends with this view's cleanup.
  const invoke = bindInvoke(model, signal);

  // The notice line under the toolbar: outcomes of the toolbar's and the download's actions, in this view only.
  const { el: notice, say: notify } = noticeLine("notice");

  // The columns' child models (column-models.ts): each history change arrives once, as an `entries` message.
  const store = new ColumnStore(model, () => onColumns(), (column) => invoke("column_history", { column }));
  const columnsOf = () => store.list();
  const details = new DetailCache((column, turn) => invoke("entry_detail", { column, turn }));
  const streams = new Streams((id) => columns.drawStream(id));
  const columns = new ColumnsView({ listen, signal, invoke, streams, details });
  const toolbar = new Toolbar({
    listen, signal, invoke, notify,
    setSystemPrompt(text) {
      if (model.get("system_prompt") === text) return;
      model.set("system_prompt", text);
      model.save_changes();
    },
  });
  const prompt = new PromptBox({ listen, invoke, isBusy: () => Boolean(model.get("busy")) });

  // Judging (issue #5): arena badge, diff, download in a row under the toolbar; batch progress above the
  // columns; the vote bar and the diff under them; the leaderboard at the bottom.
  const arenaBadge = new ArenaBadge();
  const diff = new DiffView({ listen });
  const download = h("button", {
    type: "button", class: "cz-button", testid: "download", text: "Download JSON",
    title: "Download the comparison (columns, conversations, settings, votes) as JSON",
  });
  // The document is this click's answer: only this view saves it, once.
  listen(download, "click", async () => {
    if (download.disabled) return;
    download.disabled = true;
    const outcome = await attempt(invoke("export", {}), notify);
    download.disabled = false;
    if (outcome.ok) saveJson(outcome.result.filename, outcome.result.document);
  });
  // The standalone report (chatzoo_widget/report): the same file as `w.export("x.html")`, blind while the arena is.
  const report = h("button", {
    type: "button", class: "cz-button", testid: "download-report", text: "Download report",
    title: "Download a standalone HTML report of the comparison, to share (opens offline in any browser)",
  });
  listen(report, "click", async () => {
    if (report.disabled) return;
    report.disabled = true;
    const outcome = await attempt(invoke("export_report", {}), notify);
    report.disabled = false;
    if (outcome.ok) saveHtml(outcome.result.filename, outcome.result.html);
  });
  // Cross-scores (cross-scores.ts): each local model scoring every reply; the toggle sits with the downloads.
  const crossScores = new CrossScoresPanel({ listen, invoke });
  const compareRow = h("div", { class: "cz-compare-row" }, arenaBadge.el, diff.controls, h("span", { class: "cz-spacer" }), crossScores.toggle, download, report);
  const batch = new BatchPanel({ listen, invoke });
  // The latest batch run's results grid and its statistics (grid.ts), under the prompt box.
  const grid = new GridPanel({ listen, invoke });
  const voteBar = new VoteBar({ listen, invoke });
  const leaderboard = new LeaderboardPanel();
  // LLM judges: the Judge control and verdicts under the vote bar; the leaderboard's source switch above it.
  const judges = new JudgePanel({ listen, invoke });
  const sourceSwitch = new SourceSwitch({ listen, invoke });

  // data-lm-suppress-shortcuts: JupyterLab (Lumino) skips its keyboard shortcuts for keys typed in here, so
  // Shift+Enter in the prompt adds a line instead of running the cell, and "d d" in a box deletes no cell.
  const root = h("div", { class: "cz-root", testid: "chatzoo", "data-lm-suppress-shortcuts": "true" },
    toolbar.el, compareRow, notice, batch.el, columns.el, voteBar.el, judges.el, diff.el, prompt.el, grid.el,
    sourceSwitch.el, leaderboard.el, crossScores.el);
  // Enter that reaches here in a text box (the prompt's own handler already took plain Enter) adds a line; see
  // insertLineBreak for why the browser's own line break cannot be used inside JupyterLab.
  listen(root, "keydown", (event: KeyboardEvent) => {
    const target = event.target as Element | null;
    if (event.defaultPrevented || event.key !== "Enter" || event.isComposing || event.keyCode === 229) return;
    if (event.altKey || event.ctrlKey || event.metaKey || !(target instanceof HTMLTextAreaElement) || target.readOnly) return;
    event.preventDefault();
    insertLineBreak(target);
  });
  // Copy buttons are re-created with every markdown render: one delegated listener serves them all.
  listen(root, "click", (event) => {
    const button = (event.target as Element | null)?.closest?.(".cz-copy");
    if (button && root.contains(button)) void copyCode(button as HTMLElement);
  });
  el.replaceChildren(root);

  // Python -> JS
  const onVoteState = () => {
    const list = columnsOf();
    const state = model.get("vote_state");
    columns.setThumbs(state?.thumbs);
    columns.setVoteState(state);
    voteBar.update(state, {
      started: list.some((c) => Array.isArray(c.history) && c.history.length > 0),
      blind: list.some((c) => c.blind === true),
    });
  };
  const onArena = () => arenaBadge.update(Boolean(model.get("arena")), columnsOf());
  const onColumns = () => {
    const list = columnsOf();
    streams.reconcile(list); // first, so a reply now in the history is not drawn twice
    columns.update(list);
    diff.update(list);
    judges.setColumns(list);
    onArena();
    onVoteState();
    onTurnChecks(); // the replies may have been drawn again
  };
  const onTurnChecks = () => applyChecks(columns.el, model.get("turn_checks"));
  const onGrid = () => grid.update(model.get("grid_state"));
  const onGridSummary = () => grid.setSummary(model.get("grid_summary"));
  const onLeaderboard = () => {
    leaderboard.update(model.get("leaderboard_table"));
    sourceSwitch.update(model.get("leaderboard_table"));
  };
  const onJudges = () => judges.update(model.get("judge_state"));
  const onBatch = () => batch.update(model.get("batch_progress"));
  const onBusy = () => {
    const busy = Boolean(model.get("busy"));
    toolbar.setBusy(busy);
    prompt.setBusy(busy);
    root.dataset.busy = String(busy);
  };
  const onSystemPrompt = () => toolbar.setSystemPrompt(model.get("system_prompt") ?? "");
  const onMessage = (msg: InMessage) => {
    if (isAnswer(msg)) return; // a command's answer: the `invoke` that made its id takes it
    if (isCrossScoresMessage(msg)) return crossScores.show(msg);
    if (isEntriesMessage(msg)) store.apply(msg); // redraws through the column model's change
    else if (isGridRows(msg)) grid.handle(msg);
    else streams.handle(msg as StreamMessage, columnsOf());
  };

  const handlers: [string, (...args: any[]) => void][] = [
    ["change:columns", () => store.refresh()],
    ["change:busy", onBusy],
    ["change:system_prompt", onSystemPrompt],
    ["change:arena", onArena],
    ["change:vote_state", onVoteState],
    ["change:leaderboard_table", onLeaderboard],
    ["change:batch_progress", onBatch],
    ["change:judge_state", onJudges],
    ["change:grid_state", onGrid],
    ["change:grid_summary", onGridSummary],
    ["change:turn_checks", onTurnChecks],
    ["msg:custom", onMessage],
  ];
  for (const [event, handler] of handlers) model.on(event, handler);
  store.refresh();
  onBusy();
  onSystemPrompt();
  onLeaderboard();
  onBatch();
  onJudges();
  onGrid();
  onGridSummary();
  const showSnapshot = hideSnapshot(model.get("_snapshot_id")); // live here: the static snapshot is not needed

  return () => {
    showSnapshot();
    for (const [event, handler] of handlers) model.off(event, handler);
    controller.abort();
    store.dispose();
    streams.dispose();
    grid.dispose();
    el.replaceChildren();
  };
}

export default { render };

