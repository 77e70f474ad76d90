// The report's only script (allowed by its hash in the page's Content-Security-Policy): a filter for the columns
// and expand/collapse for every folded block. The page reads the same without it.
(() => {
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
