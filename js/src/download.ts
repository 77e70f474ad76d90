// The download button: ask Python for the comparison (the `export` command), then save the answer's document as
// a JSON file in the browser (a Blob, an object URL and a temporary <a download>: no network).

export const DEFAULT_FILENAME = "chatzoo-comparison.json";

/** A plain file name ending in .json (no folders, no control or reserved characters). */
export function safeFilename(name: unknown): string {
  let base = typeof name === "string" ? name.split(/[\\/]/).pop()!.trim() : "";
  base = base.replace(/[\u0000-\u001f\u007f<>:"|?*]+/g, "_").replace(/^\.+/, "");
  if (!base) return DEFAULT_FILENAME;
  return /\.json$/i.test(base) ? base : `${base}.json`;
}

/** Save `document` as pretty-printed JSON under `filename`. Returns the name used. */
export function saveJson(filename: unknown, document_: unknown): string {
  const name = safeFilename(filename);
  const blob = new Blob([JSON.stringify(document_ ?? null, null, 2)], { type: "application/json" });
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
