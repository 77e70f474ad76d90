"""Replies as safe HTML: markdown rendered as the widget renders it (js/src/markdown.ts), then sanitised.

Model output is untrusted. As in the widget, raw HTML in a reply shows as text (markdown-it with `html` off
escapes it) and images show as their alt text and address (an image would make the report fetch from
elsewhere). Then nh3 (the ammonia sanitiser) keeps an allow-list of plain formatting tags: no script, no style,
no event handler, no form or media element, and links only to http(s) and mailto, opening in a new tab with no
handle on the report.
"""

from __future__ import annotations

import functools
import html

import nh3
from markdown_it import MarkdownIt

ALLOWED_TAGS = {
    "p", "br", "hr", "strong", "em", "del", "s", "code", "pre", "blockquote", "ul", "ol", "li",
    "h1", "h2", "h3", "h4", "h5", "h6", "a", "table", "thead", "tbody", "tr", "th", "td", "span",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "span": {"class"}, "code": {"class"}}
URL_SCHEMES = {"http", "https", "mailto"}


def _image_as_text(_renderer, tokens, idx, options, env) -> str:  # a markdown-it renderer rule
    token = tokens[idx]
    alt = "".join(child.content for child in token.children or ())
    src = token.attrGet("src") or ""
    return f'<span class="cz-image">[image: {html.escape(alt)}{" " + html.escape(src) if src else ""}]</span>'


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "breaks": True}).enable(["table", "strikethrough"])
    md.add_render_rule("image", _image_as_text)
    return md


_MD = _parser()


def sanitize(fragment: str) -> str:
    """An HTML fragment with everything outside the allow-list removed (tags kept as text are escaped)."""
    return nh3.clean(fragment, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, url_schemes=URL_SCHEMES,
                     link_rel="noopener noreferrer nofollow",
                     set_tag_attribute_values={"a": {"target": "_blank"}})


@functools.lru_cache(maxsize=4096)
def _cached(text: str) -> str:
    return sanitize(_MD.render(text))


def markdown_to_html(text: str) -> str:
    """Markdown (a reply, a thinking block) to sanitised HTML, safe to put in a page as is."""
    # The snapshot renders the whole conversation again at every turn's end: replies of ordinary size are cached.
    return _cached(text) if len(text or "") <= 65_536 else sanitize(_MD.render(text))


__all__ = ["markdown_to_html", "sanitize"]
