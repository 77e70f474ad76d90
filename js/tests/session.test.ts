// Replays a session recorded from the real Python widget (tests/fixtures/record_session.py): the trait changes
// and custom messages, in the order Python emitted them. Checks the reply is never shown twice along the way.
import { afterEach, describe, expect, it } from "vitest";
import session from "./fixtures/session.json";
import { frame, mount } from "./fake-model";
import type { ColumnState } from "../src/types";

type Event = { msg: Record<string, unknown> } | { trait: "columns" | "busy"; value: unknown };

afterEach(() => document.body.replaceChildren());

/** At most one reply per turn on screen in each column, finished or streaming. */
function assertNoDuplicates(el: HTMLElement) {
  for (const column of Array.from(el.querySelectorAll<HTMLElement>('[data-testid="column"]'))) {
    const turns = Array.from(column.querySelectorAll<HTMLElement>('[data-role="BOT"]')).map((m) => m.dataset.turn);
    expect(new Set(turns).size, `${column.dataset.columnId}: BOT turns ${turns}`).toBe(turns.length);
    expect(column.querySelectorAll('[data-testid="column-error"]').length).toBeLessThanOrEqual(1);
  }
}

async function replay(events: Event[]) {
  const view = mount({ columns: session.initial as unknown as ColumnState[] });
  for (const event of events) {
    if ("msg" in event) view.model.emit(event.msg);
    else view.model.update(event.trait, event.value as never);
    await frame();
    assertNoDuplicates(view.el);
  }
  return view;
}

function assertFinal({ el, col, qa }: Awaited<ReturnType<typeof replay>>) {
  const [good, bad] = [col("c1"), col("c2")];
  const goodBots = qa("message", good).filter((m) => m.dataset.role === "BOT");
  expect(goodBots).toHaveLength(1);
  expect(goodBots[0].querySelector("strong")?.textContent).toBe("there");
  expect(goodBots[0].querySelector("img")).toBeNull();
  expect(goodBots[0].textContent).toBe("Hello there <img src=x onerror=alert(1)>"); // raw HTML shown as text
  expect(qa("stats", good).map((s) => s.textContent)).toEqual([expect.stringMatching(/^\d+ tokens · .* tok\/s/)]);
  expect(qa("column-error", good)).toHaveLength(0);
  expect(qa("column-error", bad).map((e) => e.textContent)).toEqual(["bad failed after 2 words (scripted failure)"]);
  expect(qa("reply-streaming", el)).toHaveLength(0);
  expect(el.querySelector("[onerror]")).toBeNull();
}

describe("recorded Python session", () => {
  it("replays in the recorded order", async () => {
    assertFinal(await replay(session.events as Event[]));
  });

  it("replays with each columns update overtaking the turn_end before it", async () => {
    const events = [...(session.events as Event[])];
    for (let i = 1; i < events.length; i++) {
      const prev = events[i - 1];
      if ("trait" in events[i] && "msg" in prev && prev.msg.kind === "turn_end") {
        [events[i - 1], events[i]] = [events[i], prev];
      }
    }
    assertFinal(await replay(events));
  });
});
