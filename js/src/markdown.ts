// Model output is untrusted: markdown -> HTML with `marked`, then sanitised by DOMPurify before it reaches the DOM.
import DOMPurify from "dompurify";
import { Marked } from "marked";

const escapeHtml = (text: string): string =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

// Our own Marked instance, so other markdown users on the page keep their settings.
const marked = new Marked({ gfm: true, breaks: true, async: false });
marked.use({
  renderer: {
    // Raw HTML in a reply is shown as text: people compare what the model wrote, and nothing of it runs.
    html: ({ text }) => escapeHtml(text),
    // Images would make the browser fetch from wherever the model points: show the alt text and address instead.
    image: ({ href, text }) => `<span class="cz-image">[image: ${escapeHtml(text || "")}${href ? ` ${escapeHtml(href)}` : ""}]</span>`,
  },
});

const PURIFY_CONFIG = {
  USE_PROFILES: { html: true }, // no SVG / MathML
  FORBID_TAGS: ["style", "img", "picture", "source", "video", "audio", "iframe", "form", "input", "button", "link", "meta"],
  FORBID_ATTR: ["style", "srcset", "action", "formaction"],
};

// Links open in a new tab and give the target page no handle on the notebook.
DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A" && node.hasAttribute("href")) {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer nofollow");
  }
});

/** Sanitise an HTML string (defence in depth: marked already escapes raw HTML, this catches the rest). */
export function sanitizeHtml(html: string): string {
  return DOMPurify.sanitize(html, PURIFY_CONFIG) as unknown as string;
}

/** Markdown to sanitised HTML (a string safe to assign to innerHTML). */
export function markdownToHtml(text: string): string {
  return sanitizeHtml((marked.parse(text) as string).trim());
}

/** Render markdown into `target` (replacing its content) and give every code block a copy button. */
export function renderMarkdown(target: HTMLElement, text: string): void {
  target.innerHTML = markdownToHtml(text);
  for (const pre of Array.from(target.querySelectorAll("pre"))) {
    const wrap = document.createElement("div");
    wrap.className = "cz-code";
    const button = document.createElement("button");
    button.type = "button";
    button.className = "cz-copy";
    button.dataset.testid = "code-copy";
    // The label comes from CSS (::before), so a reply's text stays exactly what the model wrote.
    button.setAttribute("aria-label", "Copy code");
    button.title = "Copy code";
    pre.replaceWith(wrap);
    wrap.append(button, pre);
  }
}

/** Copy a code block's text; the click is delegated from the widget root (see index.ts). */
export async function copyCode(button: HTMLElement): Promise<void> {
  const code = button.parentElement?.querySelector("pre")?.textContent ?? "";
  let ok = false;
  try {
    await navigator.clipboard.writeText(code);
    ok = true;
  } catch {
    // Clipboard API missing or refused (insecure context, iframe): fall back to a hidden textarea.
    const area = document.createElement("textarea");
    area.value = code;
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.append(area);
    area.select();
    try {
      ok = document.execCommand("copy");
    } catch {
      ok = false;
    }
    area.remove();
  }
  button.dataset.state = ok ? "copied" : "failed";
  setTimeout(() => delete button.dataset.state, 1500);
}
