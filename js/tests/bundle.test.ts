// Smoke test of the built artifact Python serves (skipped until `npm run build` has made it).
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { column, fakeModel } from "./fake-model";

// vitest runs from js/ (npm test); __dirname is provided by vitest for test files.
const bundle = resolve(__dirname, "../../chatzoo_widget/static/widget.js");

afterEach(() => document.body.replaceChildren());

describe.skipIf(!existsSync(bundle))("built bundle", () => {
  it("exports default { render } and renders the widget", async () => {
    const mod = await import(/* @vite-ignore */ pathToFileURL(bundle).href);
    expect(typeof mod.default.render).toBe("function");
    const model = fakeModel({ columns: [column("c1")] });
    const el = document.createElement("div");
    document.body.append(el);
    const cleanup = mod.default.render({ model, el });
    expect(el.querySelector('[data-testid="column"][data-column-id="c1"]')).toBeTruthy();
    cleanup();
    expect(model.listenerCount()).toBe(0);
  });
});
