// `w.check(...)` on the live conversation (the `turn_checks` trait, {column id: {turn: TurnCheck}}): a row of
// badges under that turn's reply in each column: pass/fail, the score, and a chip per check with its reason on
// hover. Applied after every redraw of the columns; a badge row already right is left as it is.
import { h } from "./dom";
import type { TurnCheck } from "./records";

export type TurnChecks = Record<string, Record<string, TurnCheck>>;

const num = (x: unknown): x is number => typeof x === "number" && Number.isFinite(x);

export function checkBadges(result: TurnCheck): HTMLElement {
  const passed = result.pass === true;
  const checks = Array.isArray(result.checks) ? result.checks : [];
  return h("div", { class: "cz-check-row", testid: "check-badges", "data-pass": String(passed) },
    h("span", { class: `cz-check-badge cz-check-${passed ? "pass" : "fail"}`, testid: "check-badge",
      text: passed ? "pass" : "fail", title: result.reason || "" }),
    num(result.score) ? h("span", { class: "cz-grid-score", testid: "check-score", text: `score ${result.score.toFixed(2)}` }) : null,
    ...checks.map((c) => h("span", {
      class: `cz-check-chip cz-check-${c.pass ? "pass" : "fail"}`, testid: "check-chip",
      text: `${c.pass ? "✓" : "✗"} ${c.type}`, title: c.error || c.reason || "",
    })));
}

/** Put each column's badge rows under its replies in `scope` (the columns' container). */
export function applyChecks(scope: ParentNode, state: TurnChecks | null | undefined): void {
  const checks = state && typeof state === "object" ? state : {};
  for (const section of Array.from(scope.querySelectorAll<HTMLElement>("[data-testid=column][data-column-id]"))) {
    const mine = checks[section.dataset.columnId ?? ""] ?? {};
    const history = section.querySelector(".cz-history");
    if (!history) continue;
    const wanted = new Set<Element>();
    for (const [turn, result] of Object.entries(mine)) {
      if (!/^\d+$/.test(turn)) continue; // turns are whole numbers (and safe in a selector)
      const reply = history.querySelector(`.cz-message[data-role=BOT][data-turn="${turn}"]`);
      if (!reply || !result) continue;
      const signature = JSON.stringify(result);
      const next = reply.nextElementSibling as HTMLElement | null;
      if (next?.classList.contains("cz-check-row") && next.dataset.signature === signature) {
        wanted.add(next);
        continue;
      }
      if (next?.classList.contains("cz-check-row")) next.remove();
      const row = checkBadges(result);
      row.dataset.signature = signature;
      reply.after(row);
      wanted.add(row);
    }
    for (const row of Array.from(history.querySelectorAll(".cz-check-row"))) if (!wanted.has(row)) row.remove();
  }
}
