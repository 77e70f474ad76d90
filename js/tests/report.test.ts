// The "Download report" button (chatzoo_widget/report): one click, one `export_report` command, the answer's HTML
// saved as a file and never put into the page.
import { afterEach, describe, expect, it, onTestFinished, vi } from "vitest";
import { mount, settled } from "./fake-model";
import { safeFilename } from "../src/download";

afterEach(() => {
  document.body.replaceChildren();
  vi.restoreAllMocks();
});

function fakeDownloads() {
  const created: Blob[] = [];
  const saved = { createObjectURL: URL.createObjectURL, revokeObjectURL: URL.revokeObjectURL };
  Object.assign(URL, { createObjectURL: vi.fn((blob: Blob) => (created.push(blob), `blob:fake-${created.length}`)), revokeObjectURL: vi.fn() });
  onTestFinished(() => void Object.assign(URL, saved));
  const clicks: { href: string; download: string }[] = [];
  vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(function (this: HTMLAnchorElement) {
    clicks.push({ href: this.href, download: this.download });
  });
  return { created, clicks };
}

const readText = (blob: Blob) =>
  new Promise<string>((resolve) => {
    const reader = new FileReader(); // jsdom's Blob has no .text()
    reader.onload = () => resolve(String(reader.result));
    reader.readAsText(blob);
  });

describe("report download", () => {
  it("sends export_report and saves the answer's HTML as a text/html file, not into the page", async () => {
    const { created, clicks } = fakeDownloads();
    const { model, q } = mount();
    q("download-report").click();
    expect(model.sent).toEqual([{ kind: "export_report" }]);
    const html = '<!doctype html><html><body><script>window.__pwned = 1</script>report</body></html>';
    model.answer({ ok: true, result: { kind: "export_report", filename: "chatzoo-comparison.html", html } });
    await settled();
    expect(clicks).toEqual([{ href: "blob:fake-1", download: "chatzoo-comparison.html" }]);
    expect(created[0].type).toBe("text/html");
    expect(await readText(created[0])).toBe(html);
    expect((window as any).__pwned).toBeUndefined();
    expect(document.querySelectorAll("a[download]")).toHaveLength(0);
  });

  it("a refused report shows its reason in the notice line and saves nothing", async () => {
    const { clicks } = fakeDownloads();
    const { model, q } = mount();
    q("download-report").click();
    model.answer({ ok: false, error: "cannot make the report: disk full" });
    await settled();
    expect(clicks).toEqual([]);
    expect(q("notice").textContent).toContain("disk full");
  });

  it("report file names are plain .html names", () => {
    expect(safeFilename("../x/report", ".html", "r.html")).toBe("report.html");
    expect(safeFilename("", ".html", "chatzoo-comparison.html")).toBe("chatzoo-comparison.html");
    expect(safeFilename("a.HTML", ".html")).toBe("a.HTML");
  });
});

describe("static snapshot", () => {
  it("a live view hides its snapshot output until the last view of it goes", async () => {
    const { hideSnapshot } = await import("../src/snapshot");
    const id = "0123456789abcdef0123456789abcdef";
    const out = document.createElement("div");
    out.innerHTML = `<div class="jp-OutputArea-child"><div class="chatzoo-snapshot chatzoo-snapshot-${id}">snapshot</div></div>`;
    document.body.append(out);
    const snap = out.querySelector<HTMLElement>(`.chatzoo-snapshot-${id}`)!;
    expect(getComputedStyle(snap).display).not.toBe("none");
    const first = hideSnapshot(id);
    const second = hideSnapshot(id);
    expect(getComputedStyle(snap).display).toBe("none");
    first();
    first(); // twice is once
    expect(getComputedStyle(snap).display).toBe("none");
    second();
    expect(getComputedStyle(snap).display).not.toBe("none");
    expect(hideSnapshot("x; } body { display: none")).toBeTypeOf("function"); // not an id: no rule
    expect(document.head.querySelectorAll("style[data-chatzoo-snapshot]")).toHaveLength(0);
  });
});
