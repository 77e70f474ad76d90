"""Export and reload a comparison: a table of replies, files (.jsonl, .json, .csv), DPO preference pairs.

The .json export is a versioned document (`records.ComparisonDocument`: columns with their histories of
`records.Entry`, votes, thumbs, judgments, the arena's state, and in files each column's manifest, never sent to the
browser) that `load` validates and `restore` puts back into a manager. The table (`records.TableRow`) shows each
reply its own column's model wrote: replaced replies as source "alternative", edited-away turns as source "edited".

.jsonl and .csv hold the flat table of `to_dataframe` (one reply a row), for analysis; they are not reloadable.
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import tempfile
from typing import Any, Mapping, Sequence

import pandas as pd

from ..bots.base import openai_messages
from ..history import original_reply
from ..manager import ChatManager
from ..records import (FORMAT, TABLE_COLUMNS, TABLE_STATS, VERSION, ComparisonDocument, Judgment, ReplyRecord,
                       TableRow, Vote, check, with_defaults)
from .arena import Arena
from .manifest import manifests
from .votes import VoteBook, now_iso

SUPPORTED = (".jsonl", ".json", ".csv")


def _split(votes: Any) -> tuple[list[dict], list[dict], str | None, Arena | None]:
    """votes: a VoteBook or a list of vote records -> (votes, thumbs, current conversation, arena)."""
    if votes is None:
        return [], [], None, None
    if isinstance(votes, VoteBook):
        return list(votes.votes), list(votes.thumbs), votes.conversation_id, votes.arena
    return list(votes), [], None, None


# ----- the table ----------------------------------------------------------------------------------
def _vote_result(vote: Mapping[str, Any] | None, name: str) -> str | None:
    if vote is None:
        return None
    if vote["outcome"] == "best":
        return "best" if vote["winner"] == name else "worse"
    return vote["outcome"]


def to_dataframe(manager: ChatManager | None = None, votes: Any = None, arena: Arena | None = None, *,
                 thumbs: Sequence[Mapping[str, Any]] | None = None, include_past: bool = True) -> pd.DataFrame:
    """One row per reply: its conversation, turn, column, model, settings, prompt, reply, statistics and votes.

    Rows come from the manager's current histories (source "current"; settings are the column's current ones),
    and, with `include_past`, from the vote and thumb records of earlier conversations (source "vote"/"thumb"),
    so nothing voted on is lost after `clear()`. `votes` is a VoteBook (thumbs, conversation id and arena come
    with it) or a list of vote records. `vote` is the turn's choice; `vote_result` is this reply's part in it
    ("best", "worse", "tie" or "bad"); `thumb` is +1/-1.
    """
    vote_list, thumb_list, conversation, book_arena = _split(votes)
    if thumbs is not None:
        thumb_list = list(thumbs)
    arena = arena or book_arena
    vote_at = {(v["conversation"], v["turn"]): v for v in vote_list}
    thumb_at = {(t["conversation"], t["turn"], t["column"]): t["value"] for t in thumb_list}
    rows: list[TableRow] = []
    seen: set[tuple] = set()

    def add(conv, turn, name, label, model, settings, prompt, reply, stats, source, entry=None):
        key = (conv, turn, name)
        if key in seen:
            return
        seen.add(key)
        vote = vote_at.get((conv, turn))
        stats = stats or {}
        entry = entry or {}
        rows.append(TableRow(conversation=conv, turn=turn, column=name, label=label, model=model,
                     settings=dict(settings or {}), prompt=prompt, reply=reply,
                     **{f: stats.get(f) for f in TABLE_STATS}, error=stats.get("error"),
                     vote=vote["choice"] if vote else None, vote_result=_vote_result(vote, name),
                     thumb=thumb_at.get(key), source=source, reasoning=entry.get("reasoning"),
                     reasoning_tokens=stats.get("reasoning_tokens"),
                     rendered_prompt=entry.get("rendered_prompt"), continued_with=entry.get("continued_with")))

    if manager is not None:
        for col in manager.snapshot():
            label = None
            if arena is not None and conversation is not None:
                try:
                    label = arena.label(col["id"], conversation)
                except KeyError:
                    pass
            prompts: dict[int, str] = {}
            for entry in col["history"]:
                if entry["role"] == "HUMAN":
                    prompts[entry["turn"]] = entry["content"]
                    for old in entry.get("edited") or ():  # turns replaced by an edit of their prompt
                        if old.get("reply"):
                            reply = original_reply(old["reply"])
                            add(conversation, old["turn"], col["name"], label, col["model"], col["settings"],
                                old.get("prompt", ""), reply["content"], reply.get("stats"), "edited", reply)
                else:
                    # a reply replaced by continue-with shows as the column's own reply, an "alternative"
                    own = original_reply(entry)
                    replaced = entry.get("continued_with") not in (None, col["name"])
                    add(conversation, entry["turn"], col["name"], label, col["model"], col["settings"],
                        prompts.get(entry["turn"], ""), own["content"], own.get("stats"),
                        "alternative" if replaced else "current", {**own, "continued_with": entry.get("continued_with")})
    if include_past:
        for vote in vote_list:
            for c in vote["columns"]:
                add(vote["conversation"], vote["turn"], c["name"], c.get("label"), c.get("model", ""),
                    c.get("settings"), vote.get("prompt", c.get("prompt", "")), c.get("reply", ""), c.get("stats"),
                    "vote", c)
        for t in thumb_list:
            add(t["conversation"], t["turn"], t["column"], t.get("label"), t.get("model", ""), t.get("settings"),
                t.get("prompt", ""), t.get("reply", ""), None, "thumb")
    df = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    for name in ("turn", "thumb", "new_tokens", "prompt_tokens", "reasoning_tokens"):
        df[name] = df[name].astype("Int64")  # integers with missing values, not floats
    return df


# ----- the document -------------------------------------------------------------------------------
def comparison_document(manager: ChatManager | None = None, votes: Any = None, arena: Arena | None = None, *,
                        thumbs: Sequence[Mapping[str, Any]] | None = None,
                        judgments: Sequence[Mapping[str, Any]] | None = None,
                        with_manifests: bool = False) -> ComparisonDocument:
    """The versioned JSON document of a comparison (see the module docstring). `with_manifests` adds each
    column's reproducibility manifest (files only: the manifests name the models)."""
    vote_list, thumb_list, conversation, book_arena = _split(votes)
    if thumbs is not None:
        thumb_list = list(thumbs)
    arena = arena or book_arena
    columns = []
    if manager is not None:
        for col in manager.snapshot():
            columns.append({"name": col["name"], "model": col["model"], "settings": dict(col["settings"]),
                            "history": [dict(e) for e in col["history"]]})
    doc = ComparisonDocument(
        format=FORMAT, version=VERSION, exported_at=now_iso(),
        system_prompt=manager.system_prompt if manager is not None else "", conversation=conversation,
        columns=columns, votes=vote_list, thumbs=thumb_list, judgments=[dict(j) for j in judgments or []],
        arena=arena.state() if arena is not None else None)
    if with_manifests:
        doc["manifests"] = manifests(manager) if manager is not None else {}
    return doc


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        return _jsonable(value.item())
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def _target(path: str | os.PathLike, supported: tuple[str, ...] = SUPPORTED) -> tuple[pathlib.Path, str]:
    path = pathlib.Path(path).expanduser()
    ext = path.suffix.lower()
    if ext not in supported:
        raise ValueError(f"cannot export to {path.name!r}: unsupported extension {ext or '(none)'!r}; "
                         f"supported: {', '.join(supported)}")
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"cannot export to {str(path)!r}: the folder {str(folder)!r} does not exist "
                                "(nothing was written; the comparison is unchanged)")
    if path.is_dir():
        raise IsADirectoryError(f"cannot export to {str(path)!r}: it is a folder")
    return path, ext


def _write_atomic(path: pathlib.Path, text: str) -> None:
    """Write to a temporary file beside `path`, then rename: a failed export never leaves half a file."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:  # a read-only folder: say which path, not the temporary file's name
        raise type(exc)(exc.errno, f"cannot export to {str(path)!r}: {exc.strerror} (nothing was written)") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def export(path: str | os.PathLike, manager: ChatManager | None = None, votes: Any = None,
           arena: Arena | None = None, *, thumbs: Sequence[Mapping[str, Any]] | None = None,
           judgments: Sequence[Mapping[str, Any]] | None = None) -> pathlib.Path:
    """Write the comparison to `path`; the extension picks the format:

    .json  the versioned document (reload with `load`, put back with `restore`);
    .jsonl one reply a line (the `to_dataframe` rows, settings as objects);
    .csv   the same table (settings as JSON text).

    Raises ValueError for another extension and FileNotFoundError when the folder does not exist; either way
    nothing is written and nothing in the manager or the votes changes. Returns the path written.
    """
    target, ext = _target(path)
    if ext == ".json":
        doc = _jsonable(comparison_document(manager, votes, arena, thumbs=thumbs, judgments=judgments,
                                            with_manifests=True))
        text = json.dumps(doc, ensure_ascii=False, indent=1) + "\n"
    else:
        table = to_dataframe(manager, votes, arena, thumbs=thumbs)
        records = [_jsonable(r) for r in table.astype(object).where(table.notna(), None).to_dict("records")]
        if ext == ".jsonl":
            text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        else:
            flat = pd.DataFrame(records, columns=TABLE_COLUMNS)
            flat["settings"] = [json.dumps(s, ensure_ascii=False, sort_keys=True) for s in flat["settings"]]
            text = flat.to_csv(index=False, lineterminator="\n")
    _write_atomic(target, text)
    return target


# ----- loading ------------------------------------------------------------------------------------
def validate(doc: Any, source: str = "document") -> dict[str, Any]:
    """Check a comparison document against `records.ComparisonDocument`; return it with optional fields filled.
    ValueError says where, which record and which field ("run.json: votes[0].turn: expected int, got str
    (Vote.turn)")."""
    if not isinstance(doc, Mapping):
        raise ValueError(f"{source}: not a ChatZoo Widget comparison (expected a JSON object)")
    if doc.get("format") != FORMAT:
        raise ValueError(f"{source}: not a ChatZoo Widget comparison (format is {doc.get('format')!r}, "
                         f"expected {FORMAT!r})")
    if doc.get("version") != VERSION:
        raise ValueError(f"{source}: comparison version {doc.get('version')!r} is not supported; "
                         f"this ChatZoo Widget reads version {VERSION}")
    check(doc, ComparisonDocument, source)
    # what the types cannot say: a choice or a verdict names one of its own columns
    for i, vote in enumerate(doc["votes"]):
        names = [c["name"] for c in vote["columns"]]
        if vote["choice"] not in ("tie", "bad") and vote["choice"] not in names:
            raise ValueError(f"{source}: votes[{i}].choice: {vote['choice']!r} is none of its columns "
                             f"({', '.join(names)}), 'tie' or 'bad'")
    for i, j in enumerate(doc.get("judgments") or []):
        if j.get("verdict") not in (None, "tie", j["a"], j["b"]):
            raise ValueError(f"{source}: judgments[{i}].verdict: {j.get('verdict')!r} is neither of its columns "
                             f"({j['a']}, {j['b']}), 'tie' nor null")
    out = with_defaults(ComparisonDocument, doc)
    out["votes"] = [_complete_vote(v) for v in doc["votes"]]
    out["judgments"] = [with_defaults(Judgment, j) for j in out["judgments"]]
    return out


def _complete_vote(vote: Mapping[str, Any]) -> dict[str, Any]:
    v = with_defaults(Vote, vote)
    v.setdefault("outcome", v["choice"] if v["choice"] in ("tie", "bad") else "best")
    v.setdefault("winner", v["choice"] if v["outcome"] == "best" else None)
    v["columns"] = [with_defaults(ReplyRecord, c) for c in v["columns"]]
    return v


def load(path: str | os.PathLike) -> dict[str, Any]:
    """Read a .json comparison written by `export` and validate it. ValueError names a wrong format or version,
    or a missing field and where it is; FileNotFoundError when there is no such file."""
    path = pathlib.Path(path).expanduser()
    if path.suffix.lower() in (".jsonl", ".csv"):
        raise ValueError(f"{path.name}: {path.suffix} exports are flat tables of replies and cannot be reloaded; "
                         "export to .json to keep a comparison you can load")
    if not path.is_file():
        raise FileNotFoundError(f"no comparison file at {str(path)!r}")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path.name}: not valid JSON ({exc})") from None
    return validate(doc, path.name)


def restore(document: Mapping[str, Any], manager: ChatManager, votes: VoteBook | None = None, *,
            timeout: float | None = 600, judges: Any = None) -> None:
    """Put a loaded comparison back: columns (added when no column has that name; settings set), histories,
    system prompt, the votes and thumbs into `votes` (the current conversation continues), and the judgments
    into `judges` (a JudgeBook).

    Refuses (BusyError) while columns are answering. Added columns load their model as usual. An arena gets a
    fresh order for the restored conversation (revealed when it was voted on already).
    """
    doc = validate(document)
    manager.refuse_if_busy("restore a comparison")
    manager.system_prompt = doc.get("system_prompt") or ""
    restored: dict[str, list[dict[str, Any]]] = {}
    for spec in doc["columns"]:
        try:
            column = manager.get(spec["name"])
        except KeyError:
            column = manager.add({"name": spec["name"], "model": spec["model"], "settings": spec["settings"]})
        else:
            if spec["settings"]:
                manager.set_settings(column.id, timeout=timeout, **spec["settings"])
        restored[column.id] = [dict(e) for e in spec["history"]]
    manager.set_histories(restored)
    if votes is not None:
        known = {(v["conversation"], v["turn"]) for v in votes.votes}
        votes.votes.extend(v for v in doc["votes"] if (v["conversation"], v["turn"]) not in known)
        known_t = {(t["conversation"], t["turn"], t["column"]) for t in votes.thumbs}
        votes.thumbs.extend(t for t in doc["thumbs"] if (t["conversation"], t["turn"], t["column"]) not in known_t)
        if judges is not None:
            judges.add(doc["judgments"])
        if doc.get("conversation"):
            votes.set_conversation(doc["conversation"])
            # Saved arena rounds name columns by id, which another session does not share: the restored
            # conversation gets a new order, shown with names if it was already voted on.
            if votes.arena is not None and any(v["conversation"] == doc["conversation"] for v in doc["votes"]):
                votes.arena.reveal(doc["conversation"])


# ----- preference pairs ---------------------------------------------------------------------------

def preference_pairs(votes: Any = (), *, metadata: bool = False, judgments: Sequence[Mapping[str, Any]] = (),
                     source: str = "votes") -> list[dict[str, Any]]:
    """DPO rows in TRL's conversational preference format, one per (chosen, rejected) pair of each "best" vote
    (source "votes"), of each judge verdict with a winner (source "judge": a win both orders agreed on; ties
    give none), or of both ("both"):

        {"prompt": [{"role": "system"|"user"|"assistant", "content": ...}, ...],
         "chosen": [{"role": "assistant", "content": best reply}],
         "rejected": [{"role": "assistant", "content": other reply}]}

    The prompt is the winning column's conversation before the reply (its system prompt, earlier turns, then
    the prompt voted on). In a multi-turn conversation the rejected reply was written after its own column's
    earlier turns. "tie" and "bad" votes, and pairs of identical replies, give no rows. With `metadata`, each
    row also has conversation, turn, chosen_column/model, rejected_column/model and source ("vote" or the
    judge's name).
    """
    from .leaderboard import SOURCES

    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(map(repr, SOURCES))}, got {source!r}")
    vote_list, _, _, _ = _split(votes)
    if source == "judge":
        vote_list = []
    if source in ("judge", "both"):
        vote_list = vote_list + [
            {"conversation": j["conversation"], "turn": j["turn"], "choice": j["verdict"], "outcome": "best",
             "winner": j["verdict"], "prompt": j.get("prompt") or "", "columns": j["columns"], "judge": j["judge"]}
            for j in judgments if j.get("verdict") not in (None, "tie") and not j.get("error") and j.get("columns")]
    rows = []
    for vote in vote_list:
        outcome = vote.get("outcome") or ("best" if vote["choice"] not in ("tie", "bad") else vote["choice"])
        if outcome != "best":
            continue
        winner = vote.get("winner") or vote["choice"]
        best = next((c for c in vote["columns"] if c["name"] == winner), None)
        if best is None:
            continue
        prompt = openai_messages(best.get("history") or [], best.get("system_prompt") or "")
        prompt.append({"role": "user", "content": best.get("prompt") or vote["prompt"]})
        for other in vote["columns"]:
            if other is best or other["reply"] == best["reply"]:
                continue
            row = {"prompt": [dict(m) for m in prompt],
                   "chosen": [{"role": "assistant", "content": best["reply"]}],
                   "rejected": [{"role": "assistant", "content": other["reply"]}]}
            if metadata:
                row.update(conversation=vote["conversation"], turn=vote["turn"], chosen_column=best["name"],
                           chosen_model=best.get("model", ""), rejected_column=other["name"],
                           rejected_model=other.get("model", ""), source=vote.get("judge") or "vote")
            rows.append(row)
    return rows


def export_preference_pairs(path: str | os.PathLike, votes: Any = (), *, metadata: bool = False,
                            judgments: Sequence[Mapping[str, Any]] = (), source: str = "votes") -> pathlib.Path:
    """Write `preference_pairs(votes)` as .jsonl (one row a line, what `datasets.load_dataset("json")` reads)
    or .json (a list). Same errors as `export` for other extensions or a missing folder."""
    target, ext = _target(path)
    if ext == ".csv":
        raise ValueError("preference pairs hold lists of messages: export them to .jsonl or .json, not .csv")
    rows = preference_pairs(votes, metadata=metadata, judgments=judgments, source=source)
    text = ("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows) if ext == ".jsonl"
            else json.dumps(rows, ensure_ascii=False, indent=1) + "\n")
    _write_atomic(target, text)
    return target
