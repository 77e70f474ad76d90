// The download buttons: ask Python for the comparison (the `export` command: JSON; `export_report`: the standalone
// HTML report), then save the answer as a file in the browser (a Blob, an object URL and a temporary
// <a download>: no network).

export const DEFAULT_FILENAME = "chatzoo-comparison.json";
export const DEFAULT_REPORT_FILENAME = "chatzoo-comparison.html";

/** A plain file name ending in `ext` (no folders, no control or reserved characters). */
export function safeFilename(name: unknown, ext = ".json", fallback = DEFAULT_FILENAME): string {
  let base = typeof name === "string" ? name.split(/[\\/]/).pop()!.trim() : "";
  base = base.replace(/[\u0000-\u001f\u007f<>:"|?*]+/g, "_").replace(/^\.+/, "");
  if (!base) return fallback;
  return base.toLowerCase().endsWith(ext) ? base : `${base}${ext}`;
}

function saveBlob(name: string, blob: Blob): string {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  a.rel = "noopener";
  a.hidden = true;
  document.body.append(a);
  try {
    a.click();
  } finally {
    a.remove();
    // Revoke after the click has been handled (revoking at once can cancel the download in some browsers).
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }
  return name;
}

/** Save `document` as pretty-printed JSON under `filename`. Returns the name used. */
export function saveJson(filename: unknown, document_: unknown): string {
  const blob = new Blob([JSON.stringify(document_ ?? null, null, 2)], { type: "application/json" });
  return saveBlob(safeFilename(filename), blob);
}

/** Save the report's HTML under `filename` (.html). It is never put into this page: it is only a file. */
export function saveHtml(filename: unknown, html: unknown): string {
  const blob = new Blob([typeof html === "string" ? html : ""], { type: "text/html" });
  return saveBlob(safeFilename(filename, ".html", DEFAULT_REPORT_FILENAME), blob);
}
