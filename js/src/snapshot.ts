// The static snapshot (chatzoo_widget/report/snapshot.py) is an output of its own under the widget, for hosts where
// the widget cannot run. While a view of the widget is live, a style rule hides it (and JupyterLab's output row
// around it), so a reader sees the live widget or the snapshot, never both. A rule, not a one-off `hidden`: the
// kernel replaces the snapshot output when the conversation changes, and the new one must stay hidden too.
const live = new Map<string, { views: number; style: HTMLStyleElement }>();

/** Hide the snapshot of `id` while this view lives; returns the cleanup (the last view's shows it again). */
export function hideSnapshot(id: unknown): () => void {
  if (typeof id !== "string" || !/^[0-9a-f]{8,64}$/.test(id)) return () => {};
  let entry = live.get(id);
  if (!entry) {
    const cls = `.chatzoo-snapshot-${id}`;
    const style = document.createElement("style");
    style.dataset.chatzooSnapshot = id;
    style.textContent = `${cls}, .jp-OutputArea-child:has(${cls}) { display: none !important; }`;
    document.head.append(style);
    entry = { views: 0, style };
    live.set(id, entry);
  }
  const held = entry;
  held.views += 1;
  let released = false;
  return () => {
    if (released) return;
    released = true;
    held.views -= 1;
    if (held.views === 0) {
      held.style.remove();
      live.delete(id);
    }
  };
}
