"""JavaScript regular expressions (what promptfoo's `regex` check compiles with `new RegExp(value)`, no flags) run
on Python's `re`, so a pattern matches here exactly where it matches in promptfoo.

Translated: `$` is the end of the text only (Python's also matches before a final newline); `.` excludes every JS
line terminator; `\\d`, `\\w`, `\\b` are ASCII, `\\s` is JS's Unicode whitespace; `(?<name>...)` and `\\k<name>` are
named groups; `[^]` is any character and `[]` nothing. Refused, as JS refuses them ("Invalid regular expression"):
Python-only syntax such as inline flags `(?i)`, `(?P<...>)`, `(?#...)`, atomic groups `(?>...)` and possessive
quantifiers (`a*+`).
"""

from __future__ import annotations

import functools
import re

JS_SPACE = r"\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_LINE_END = r"\n\r\u2028\u2029"
_JS_ESCAPES = "bBdDfnrsStvwWxuck"  # letters a JS escape gives a meaning; others stand for themselves
_NAME = re.compile(r"<([A-Za-z_$][\w$]*)>")


class JSRegexError(ValueError):
    """A pattern JavaScript's RegExp would not compile."""


@functools.lru_cache(maxsize=256)  # a batch checks every reply with the same few patterns: translate them once
def compile_js(pattern: str) -> re.Pattern[str]:
    """`pattern` as JavaScript reads it (see the module docstring), compiled for Python; JSRegexError when
    JavaScript would refuse it."""
    try:
        return re.compile(_translate(pattern), re.ASCII)
    except re.error as exc:
        raise JSRegexError(f"Invalid regular expression: /{pattern}/: {exc}") from None


def _translate(p: str) -> str:
    out: list[str] = []
    i, in_class = 0, False
    while i < len(p):
        ch = p[i]
        if ch == "\\" and i + 1 < len(p):
            nxt = p[i + 1]
            if nxt == "s":
                out.append(JS_SPACE if in_class else f"[{JS_SPACE}]")
            elif nxt == "S" and not in_class:
                out.append(f"[^{JS_SPACE}]")
            elif nxt == "k" and not in_class and (m := _NAME.match(p, i + 2)):
                out.append(f"(?P={m.group(1)})")
                i = m.end()
                continue
            elif nxt == "c" and p[i + 2:i + 3].isalpha():  # \cJ: a control character
                out.append(f"\\x{ord(p[i + 2]) % 32:02x}")
                i += 3
                continue
            elif nxt.isalpha() and nxt not in _JS_ESCAPES:  # JS reads \A, \Z, \e, \a... as the letter itself
                out.append(nxt)
            else:
                out.append(p[i:i + 2])
            i += 2
            continue
        if in_class:
            if ch == "]":
                in_class = False
            elif ch in "[&~|":
                ch = "\\" + ch  # literals in a JS set; Python warns of nested sets and set operations
            out.append(ch)
        elif ch == "[":
            if p.startswith("[^]", i):
                out.append(r"[\s\S]")
                i += 3
                continue
            if p.startswith("[]", i):
                out.append("(?!)")
                i += 2
                continue
            in_class = True
            out.append(ch)
        elif ch == "$":
            out.append(r"\Z")
        elif ch == ".":
            out.append(f"[^{_LINE_END}]")
        elif ch == "(" and p.startswith("(?", i):
            rest = p[i + 2:i + 3]
            if rest == "<" and (m := _NAME.match(p, i + 2)):
                out.append(f"(?P<{m.group(1)}>")
                i = m.end()
                continue
            if rest not in (":", "=", "!", "<"):
                raise JSRegexError(f"Invalid regular expression: /{p}/: Invalid group")
            out.append(ch)
        elif ch == "+" and out and _after_quantifier(p, i):
            raise JSRegexError(f"Invalid regular expression: /{p}/: Nothing to repeat")
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def _after_quantifier(p: str, i: int) -> bool:
    """Whether the `+` at i follows a quantifier (`*`, `+`, `?` or `{n,m}`, themselves not escaped)."""
    prev = p[i - 1] if i > 0 else ""
    escaped = i >= 2 and p[i - 2] == "\\"
    if prev in "*+" and not escaped:
        return True
    if prev == "?" and not escaped and i >= 2 and p[i - 2] != "(":
        return True
    return prev == "}" and re.search(r"\{\d+(,\d*)?\}$", p[:i]) is not None
