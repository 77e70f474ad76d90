"""The Penn Treebank tokenizer of js-rouge 3.2 (`treeBankTokenize`), which promptfoo's rouge-n splits words with.

A port, rule for rule, so that a ROUGE score here is promptfoo's: quotes become `` and '', punctuation other than
a word-final `.` or `'` is split off, a sentence-final period only at the very end, contractions (n't, 's, cannot,
gonna...) are split. Differences left: js-rouge's footnote-marker quote rule (quotes after superscript letters),
and "word character" is Python's `\\w` where js-rouge uses Unicode ID_Continue (they differ on rare marks).
"""

from __future__ import annotations

import re
import unicodedata

_WORD = r"[\w\u200c\u200d]"
_CONTRACTIONS = [re.compile(rf"(?<!{_WORD}){p}(?!{_WORD})", re.IGNORECASE) for p in (
    r"(can)(not)", r"(d)('ye)", r"(gim)(me)", r"(gon)(na)", r"(got)(ta)", r"(lem)(me)", r"(more)('n)",
    r"(wan)(na)(?= )", r"('t)(is)", r"('t)(was)")]
_QUOTES = re.compile(r"``|''|\"")
_PUNCT_STEPS = [  # (pattern, replacement), in js-rouge's order
    (re.compile(r"\.{3}"), " ... "),
    (re.compile(r"[:,](?!\d)"), r" \g<0> "),
    (re.compile(r"[;@#$%&]"), r" \g<0> "),
    (re.compile(r"([^.])(?<!(?a:\b)[A-Za-z]\.[A-Za-z])(\.)([\])}>'\s]*)\Z"), r"\1 \2\3 "),
    (re.compile(r"[?!]"), r" \g<0> "),
    (re.compile(r"[\][(){}<>]"), r" \g<0> "),
    (re.compile(r"--"), " -- "),
]
_SPLITS = [
    (re.compile(r"([^'])' "), r"\1 ' "),
    (re.compile(r"'([sSmMdD]) "), r" '\1 "),
    (re.compile(r"('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) "), r" \1 "),
]


def _category(ch: str) -> str:
    return unicodedata.category(ch) if ch else ""


def _opens_quote(text: str, index: int, inside: bool) -> bool:
    """js-rouge's opensDoubleQuote (without the footnote-marker case)."""
    if inside:
        return False
    before = text[index - 1] if index > 0 else ""
    return index == 0 or before.isspace() or _category(before).startswith("P") or before == "<" \
        or text[max(0, index - 2):index] == "``"


def _classify_quotes(text: str) -> str:
    """Each `"`, `` or '' as an opening (``) or closing ('') quote, spaced out."""
    inside = False

    def quote(m: re.Match) -> str:
        nonlocal inside
        q, i = m.group(0), m.start()
        before = text[i - 1] if i > 0 else ""
        if q == "``":
            inside = True
        else:
            after = text[i + 2] if i + 2 < len(text) else ""
            nxt = _QUOTES.search(text, i + 2)
            inside = ((i + len(q) < len(text) or i == 0 or before.isspace() or _category(before) == "Ps"
                       or before == "<")
                      and _opens_quote(text, i, inside) and not (before and before in ".!?")
                      and (q == '"' or (i > 0 and (_category(after)[:1] in ("L", "N")
                                                   or _category(after) in ("Sc", "Ps"))
                                        and nxt is not None and nxt.group(0) == "''")))
        return " `` " if inside else " '' "
    return _QUOTES.sub(quote, text)


def treebank_tokens(text: str) -> list[str]:
    """`text` split into Penn Treebank tokens, as js-rouge's treeBankTokenize splits it."""
    text = re.sub(r"[\s\u0085]+", " ", text).strip()
    if not text:
        return []
    parse = _classify_quotes(text)
    for pattern, replacement in _PUNCT_STEPS:
        parse = pattern.sub(replacement, parse)
    parse = f" {parse} "
    for pattern, replacement in _SPLITS:
        parse = pattern.sub(replacement, parse)
    for pattern in _CONTRACTIONS:
        parse = pattern.sub(r" \1 \2 ", parse)
    parse = re.sub(r"^ | $", "", re.sub(r" {2,}", " ", parse))
    return parse.split(" ")
