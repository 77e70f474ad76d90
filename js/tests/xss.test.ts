import { afterEach, describe, expect, it } from "vitest";
import { markdownToHtml, sanitizeHtml } from "../src/markdown";
import { column, frame, mount } from "./fake-model";

afterEach(() => {
  document.body.replaceChildren();
  delete (window as any).__pwned;
});

const PAYLOADS = [
  `<img src=x onerror="window.__pwned=1">`,
  `<script>window.__pwned=1</script>`,
  `[click me](javascript:window.__pwned=1)`,
  `<a href="javascript:window.__pwned=1">x</a>`,
  `<svg onload="window.__pwned=1"><circle r=1></circle></svg>`,
  `<iframe src="javascript:window.__pwned=1"></iframe>`,
  `[x](JaVaScRiPt:alert(1)) and <a href=" javascript:alert(1)">y</a>`,
  `<details open ontoggle="window.__pwned=1">z</details>`,
  `![alt](https://example.com/tracker.png)`,
  "```html\n<script>window.__pwned=1</script>\n```",
  `<style>body{display:none}</style><p style="position:fixed">x</p>`,
  `<javascript:window.__pwned=1>`,
  `[a](javascript&colon;window.__pwned=1) [b](&#106;avascript:alert(1))`,
  `[<img src=x onerror=window.__pwned=1>](https://example.com)`,
  `<form action="javascript:alert(1)"><button formaction="javascript:alert(1)">go</button></form>`,
  `<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>`,
];

/** The widget's own icons (the thumbs' SVGs, outside every message) are the only SVG allowed in a mounted view. */
const ownIcon = (el: Element) =>
  el.tagName.toLowerCase() === "svg" && el.classList.contains("cz-icon") && !!el.closest(".cz-thumb") &&
  !el.closest(".cz-message") && el.querySelectorAll("*").length === el.querySelectorAll(":scope > path").length;

function assertInert(root: ParentNode) {
  const found = Array.from(root.querySelectorAll("script, iframe, img, svg, style, object, embed"));
  expect(found.filter((el) => !ownIcon(el))).toHaveLength(0);
  for (const node of Array.from(root.querySelectorAll("*"))) {
    for (const attr of Array.from(node.attributes)) {
      expect(attr.name.startsWith("on"), `${node.tagName} ${attr.name}`).toBe(false);
      if (["href", "src", "action", "xlink:href"].includes(attr.name)) {
        expect(attr.value.replace(/\s/g, "").toLowerCase()).not.toContain("javascript:");
      }
    }
  }
}

describe("untrusted model output", () => {
  it.each(PAYLOADS)("markdownToHtml makes %s inert", (payload) => {
    const box = document.createElement("div");
    box.innerHTML = markdownToHtml(payload);
    assertInert(box);
  });

  it.each(PAYLOADS)("the sanitiser alone makes raw %s inert", (payload) => {
    const box = document.createElement("div");
    box.innerHTML = sanitizeHtml(payload);
    assertInert(box);
  });

  it("renders payloads inert in history, in the stream and after turn_end", async () => {
    const text = PAYLOADS.join("\n\n");
    const { model, el, col } = mount({
      columns: [column("c1", { history: [{ role: "HUMAN", content: text, turn: 0 }, { role: "BOT", content: text, turn: 0 }] }), column("c2")],
    });
    model.emit({ kind: "turn_start", column: "c2", turn: 0, prompt: text });
    model.emit({ kind: "delta", column: "c2", turn: 0, text });
    await frame();
    assertInert(el);
    model.emit({ kind: "turn_end", column: "c2", turn: 0, text, stats: { finish_reason: "stop" } });
    assertInert(el);
    await new Promise((r) => setTimeout(r, 20));
    expect((window as any).__pwned).toBeUndefined();
    // Raw HTML is shown as text, so the user still sees what the model wrote.
    expect(col("c1").textContent).toContain("<script>window.__pwned=1</script>");
  });

  it("keeps ordinary links, opening them in a new tab", () => {
    const box = document.createElement("div");
    box.innerHTML = markdownToHtml("[docs](https://example.com/a)");
    const a = box.querySelector("a")!;
    expect(a.getAttribute("href")).toBe("https://example.com/a");
    expect(a.getAttribute("target")).toBe("_blank");
    expect(a.getAttribute("rel")).toContain("noopener");
  });
});
