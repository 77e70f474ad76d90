"""The blind filter: everything the widget sends to the browser passes here while an arena conversation is blind.

While the current conversation is blind, no string that leaves the kernel may name a column's model or name:
not the synced traits, not a custom message, not a notice or an error text from a load, a reply, a remote
server or the engine, not the download. The filter works on data, not on call sites: `state()` and `message()`
walk every string of a payload and replace each secret (a column's name, what the user named as its model, the
path, hub id or URL behind it, the model id a server reported) by the column's label ("Model A"), or by "a model"
when the secret is shared or belongs to a column no longer shown. A few payloads also get a shape of their own
while blind: the leaderboard is held back (its rows are the models), past votes and thumbs keep the labels they
had, and the download's columns are labelled, in display order, without models or settings.

Blind or not, URL credentials (user:password@) and key-bearing query values are replaced by *** in everything
that leaves, so no key reaches the browser or a saved notebook's widget state.

Lists of labels in a text ("while Model B, Model A still answering") are put in label order, so the order of a
message cannot give away the order the models were added. Deltas hold back an ending that could be the start of a
secret, so a name split over two deltas is caught too.
"""

from __future__ import annotations

import copy
import os
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence
from urllib.parse import urlparse

from ..bots.text import partial_marker_length

SHARED = "a model"  # stands for a secret that is not one shown column's own
_EDGE = "A-Za-z0-9"
# Always, blind or not: no credentials in a URL (user:password@) and no key in a query string leave the kernel,
# so neither can end up in the browser or in a saved notebook's widget state.
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@'\"<>]+@")
_KEY_PARAM = re.compile(r"(?i)([?&;](?:api[_-]?key|key|token|access[_-]?token|auth|password|secret)=)[^&\s'\"<>#]+")


def redact(text: str) -> str:
    """`text` with URL credentials and key-bearing query values replaced by ***."""
    if "://" not in text and "=" not in text:
        return text
    return _KEY_PARAM.sub(r"\1***", _URL_CREDENTIALS.sub(r"\1***@", text))


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {k: _redacted(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redacted(v) for v in value]
    return value


def variants(secret: str) -> set[str]:
    """The forms a name, path or URL takes in error texts: as given, its last path part, a URL without /v1 or
    a trailing slash, and its host:port."""
    s = secret.strip()
    out = {s}
    if "://" in s:
        bare = s.rstrip("/")
        out |= {bare, bare.removesuffix("/v1")}
        netloc = urlparse(bare).netloc
        if netloc:
            out.add(netloc.rpartition("@")[2])  # never the user:password part on its own
    elif "/" in s or os.sep in s:
        out.add(os.path.basename(s.rstrip("/" + os.sep)))
        if s.startswith(("~", ".", "/")):
            out.add(os.path.abspath(os.path.expanduser(s)))
    return {v for v in out if len(v) >= 2}


def secrets_of(state: Mapping[str, Any], column: Any = None) -> list[str]:
    """What names a column: its name and model as the user gave them, the registry path of an alias, and what the
    loaded bot knows of itself (path, hub id, URL, the model id a server reported)."""
    out = [state.get("name"), state.get("model")]
    model = state.get("model")
    if isinstance(model, str):
        from .. import registry  # light: no transformers

        entry = next((v for k, v in registry.ALIASES.items() if k.lower() == model.lower()), None) or {}
        out += [entry.get("path"), entry.get("name")]
    bot = getattr(column, "bot", None)
    if bot is not None:
        try:
            info = bot.describe()
        except Exception:  # a bot that cannot describe itself still has the attributes below
            info = {}
        out += [info.get(k) for k in ("name", "url", "model")]
        out += [getattr(bot, k, None) for k in ("name", "model_name_or_path", "tokenizer_path", "base_url", "model")]
    return [s for s in out if isinstance(s, str) and s.strip()]


@dataclass(frozen=True)
class View:
    """What the browser may see right now (replaced whole on every change, read without locks)."""

    blind: bool = False
    conversation: str | None = None
    labels: tuple[str, ...] = ()  # the shown columns' labels, in label order
    names: Mapping[str, str] = field(default_factory=dict)  # shown column name -> label
    mapping: Mapping[str, str] = field(default_factory=dict)  # secret (lower case) -> replacement
    pattern: re.Pattern | None = None
    label_list: re.Pattern | None = None


def _label_key(label: str) -> tuple[int, str]:
    return (len(label), label)  # "Model B" < "Model Z" < "Model AA"


def _pattern(secrets: Sequence[str]) -> re.Pattern | None:
    if not secrets:
        return None
    alts = "|".join(re.escape(s) for s in sorted(secrets, key=len, reverse=True))  # longest first
    return re.compile(f"(?<![{_EDGE}])(?:{alts})(?![{_EDGE}])", re.IGNORECASE)


def _label_list(labels: Sequence[str]) -> re.Pattern | None:
    if len(labels) < 2:
        return None
    one = "(?:" + "|".join(re.escape(x) for x in sorted(labels, key=len, reverse=True)) + ")"
    return re.compile(f"{one}(?:(?:, | and |, and ){one})+")


class BlindFilter:
    """Scrubs outgoing payloads while the arena's current conversation is blind; passes them through otherwise.

    `update(secrets, labels, ...)` is called by the widget whenever its state changes; `state(dict)` filters
    synced traits and `message(dict)` custom messages (None: send nothing). Secrets seen once stay secrets.
    """

    def __init__(self) -> None:
        self.view = View()
        self._known: set[str] = set()
        self._held: dict[tuple[Any, Any], str] = {}  # (column, turn) -> delta text held back
        self._records: dict[tuple[str, int], Mapping[str, str]] = {}  # (conversation, turn) -> name -> label
        self._lock = threading.Lock()

    # ----- what is secret -------------------------------------------------------------------------------
    def update(self, *, blind: bool, conversation: str | None, columns: Sequence[Mapping[str, Any]],
               past: Sequence[str] = (), records: Mapping[tuple[str, int], Mapping[str, str]] | None = None) -> bool:
        """columns: the shown columns in display order, each {"id", "name", "label", "secrets"}; past: other
        names ever seen (old vote records); records: (conversation, turn) -> {name: label} of past votes.
        Returns True when the blind state or the conversation changed (everything should be sent again)."""
        with self._lock:
            owner: dict[str, str] = {}
            for col in columns:
                for secret in [col["name"], *col.get("secrets", ())]:
                    for v in variants(str(secret)):
                        key, label = v.lower(), col["label"]
                        owner[key] = label if owner.get(key, label) == label else SHARED
            self._known |= set(owner) | {v.lower() for p in past for v in variants(str(p))}
            labels = [col["label"] for col in columns]
            shown = {x.lower() for x in labels}
            mapping = {k: SHARED for k in self._known if k not in shown}
            mapping.update({k: v for k, v in owner.items() if k not in shown})
            old = self.view
            self.view = View(blind=blind, conversation=conversation, labels=tuple(sorted(labels, key=_label_key)),
                             names={col["name"]: col["label"] for col in columns}, mapping=mapping,
                             pattern=_pattern(list(mapping)), label_list=_label_list(labels))
            if records is not None:
                self._records = dict(records)
            return (old.blind, old.conversation) != (blind, conversation)

    # ----- scrubbing ------------------------------------------------------------------------------------
    def scrub(self, value: Any, mapping: Mapping[str, str] | None = None) -> Any:
        """`value` with every secret in every string (dict keys too) replaced; `mapping` overrides replacements."""
        view = self.view
        if not view.blind or view.pattern is None:
            return _redacted(value)
        table = {**view.mapping, **{k.lower(): v for k, v in (mapping or {}).items()}}
        pattern = view.pattern if mapping is None else _pattern(list(table))
        return self._walk(value, pattern, table, view.label_list)

    def _walk(self, value: Any, pattern: re.Pattern, table: Mapping[str, str], lists: re.Pattern | None) -> Any:
        if isinstance(value, str):
            text = pattern.sub(lambda m: table.get(m.group(0).lower(), SHARED), redact(value))
            return lists.sub(self._sorted_labels, text) if lists is not None else text
        if isinstance(value, Mapping):
            return {self._walk(k, pattern, table, lists) if isinstance(k, str) else k:
                    self._walk(v, pattern, table, lists) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._walk(v, pattern, table, lists) for v in value]
        return value

    def _sorted_labels(self, match: re.Match) -> str:
        labels = self.view.labels
        one = "|".join(re.escape(x) for x in sorted(labels, key=len, reverse=True))
        text = match.group(0)
        found = sorted(re.findall(one, text), key=labels.index)
        seps = re.split(one, text)[1:-1]
        return found[0] + "".join(sep + label for sep, label in zip(seps, found[1:]))

    # ----- the boundary ---------------------------------------------------------------------------------
    def state(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """Synced traits as the browser may see them (private traits such as `_esm` pass untouched)."""
        out = {}
        for key, value in state.items():
            if key.startswith("_") or key == "layout":
                out[key] = value
            elif not self.view.blind:
                out[key] = _redacted(value)
            elif key == "leaderboard_table":
                out[key] = {}  # its rows are the models: shown again after the vote
            elif key == "vote_state" and isinstance(value, Mapping):
                out[key] = self.scrub(self._vote_state(value))
            else:
                out[key] = self.scrub(value)
        return out

    def message(self, content: Any) -> Any:
        """A custom message as the browser may see it; None when there is nothing to send yet."""
        if not isinstance(content, Mapping):
            return self.scrub(content)
        kind = content.get("kind")
        key = (content.get("column"), content.get("turn"), content.get("part"))  # thinking is held apart
        if kind in ("turn_end", "turn_error", "turn_start"):
            with self._lock:
                for part in (None, "reasoning"):
                    self._held.pop(key[:2] + (part,), None)
        if not self.view.blind:
            return _redacted(content)
        if kind == "delta" and isinstance(content.get("text"), str):
            return self._delta(content, key)
        if kind == "answer" and isinstance(content.get("result"), Mapping):  # a command's answer: the download
            content = {**content, "result": self.message(content["result"])}
        if kind == "export_data" and isinstance(content.get("document"), Mapping):
            content = {**content, "document": self._document(content["document"])}
        return self.scrub(content)

    def _delta(self, content: Mapping[str, Any], key: tuple[Any, Any]) -> dict[str, Any] | None:
        with self._lock:
            text = self._held.pop(key, "") + content["text"]
            lower = text.lower()
            keep = partial_marker_length(lower, self.view.mapping)
            if keep:
                self._held[key] = text[-keep:]
                text = text[:-keep]
        if not text:
            return None
        return self.scrub({**content, "text": text})

    def _vote_state(self, state: Mapping[str, Any]) -> dict[str, Any]:
        # Past votes keep the labels their own round showed (the current labels would link them to columns).
        votes = []
        for v in state.get("votes") or []:
            own = self._records.get((v.get("conversation"), v.get("turn")), {})
            choice = v.get("choice")
            votes.append({**v, "choice": own.get(choice, choice if choice in ("tie", "bad") else SHARED)})
        return {**state, "votes": votes}

    def _document(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        """The download while blind: columns labelled in display order, no models or settings; each past vote
        and thumb labelled as its own round was."""
        doc = copy.deepcopy(dict(doc))
        names, order = self.view.names, self.view.labels
        columns = [{**col, "name": names.get(col.get("name"), SHARED), "model": "", "settings": {}}
                   for col in doc.get("columns") or []]
        columns.sort(key=lambda c: order.index(c["name"]) if c["name"] in order else len(order))
        doc["columns"] = columns
        doc["votes"] = [self._record(v, {c.get("name"): c.get("label") for c in v.get("columns") or []})
                        for v in doc.get("votes") or []]
        doc["thumbs"] = [self._record(t, {t.get("column"): t.get("label")}) for t in doc.get("thumbs") or []]
        return doc

    def _record(self, record: Mapping[str, Any], own: Mapping[Any, Any]) -> Any:
        own = {k: v for k, v in own.items() if isinstance(k, str) and isinstance(v, str)}
        record = dict(record)
        record.pop("model", None)
        record.pop("settings", None)
        if isinstance(record.get("columns"), list):
            record["columns"] = [{k: v for k, v in c.items() if k not in ("model", "settings", "system_prompt")}
                                 for c in record["columns"]]
        # Everything secret becomes "a model" except this record's own names, which become its own labels.
        return self.scrub(record, {**{k: SHARED for k in self.view.mapping}, **own})
