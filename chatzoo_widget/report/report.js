// The report's only script (allowed by its hash in the page's Content-Security-Policy): a filter for the columns,
// expand/collapse for every folded block, and the batch grid's filters. The page reads the same without it.
(() => {
  // The batch grid's filters, as the widget's (js/src/grid-model.ts): every row, the rows where a column failed,
  // the rows where some columns pass and others fail (grid.py sets data-fail and data-disagree).
  const grid = document.querySelector(".cz-grid");
  const gridTools = document.querySelector(".cz-grid-tools");
  if (grid && gridTools) {
    const rows = Array.from(grid.querySelectorAll(".cz-grid-row[data-fail]"));
    const count = document.querySelector("[data-testid=grid-count]");
    const total = count ? count.textContent : "";
    const filters = [
      ["all", "All rows", () => true],
      ["failures", "Failures", (row) => row.dataset.fail === "1"],
      ["disagree", "Columns disagree", (row) => row.dataset.disagree === "1"],
    ];
    const buttons = filters.map(([name, text, keep]) => {
      const b = document.createElement("button");
      b.type = "button";
      b.dataset.testid = `grid-filter-${name}`;
      b.textContent = `${text} (${rows.filter(keep).length})`;
      b.setAttribute("aria-pressed", String(name === "all"));
      b.addEventListener("click", () => {
        let shown = 0;
        for (const row of rows) {
          const hide = !keep(row);
          row.classList.toggle("cz-hidden", hide);
          if (!hide) shown++;
        }
        for (const other of buttons) other.setAttribute("aria-pressed", String(other === b));
        if (count) count.textContent = name === "all" ? total : `${shown.toLocaleString("en")} shown (${text.toLowerCase()}); ${total}`;
      });
      return b;
    });
    gridTools.append(...buttons);
    gridTools.hidden = false;
  }

  const tools = document.querySelector(".cz-tools");
  if (!tools) return;
  const filter = document.createElement("input");
  filter.type = "search";
  filter.placeholder = "Filter columns by name";
  filter.setAttribute("aria-label", "Filter columns by name");
  filter.dataset.testid = "column-filter";
  filter.addEventListener("input", () => {
    const wanted = filter.value.trim().toLowerCase();
    for (const column of document.querySelectorAll(".cz-column")) {
      column.classList.toggle("cz-hidden", wanted !== "" && !(column.dataset.name || "").includes(wanted));
    }
  });
  const fold = (open) => {
    for (const details of document.querySelectorAll("details")) details.open = open;
  };
  const button = (text, testid, onClick) => {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = text;
    b.dataset.testid = testid;
    b.addEventListener("click", onClick);
    return b;
  };
  tools.append(filter, button("Expand all", "expand-all", () => fold(true)),
    button("Collapse all", "collapse-all", () => fold(false)));
  tools.hidden = false;
})();
