"""Cross-model scoring: each local column's model scores every column's reply, by teacher forcing.

For a turn, a scorer reads each reply after the conversation that reply answered (its column's history up to the
prompt), rendered in the scorer's own prompt format (chat template, system prompt), and gives each of the reply's
tokens its log-probability (teacher_forcing.py): one batched forward pass per scoring model over all the replies.
Columns that share one loaded model score once. The reply is the text the column shows, tokenised by the scorer
(`retokenised: true`), except a model scoring its own reply, which reads the ids it generated when the entry kept
them (logprobs on) and they spell the reply (then its scores are the ones its generation recorded, before the
processors that shape sampling). The end-of-turn token is not scored: it differs between models.

Tokens of different tokenizers are compared by characters: each token's log-probability is spread evenly over its
characters, so any piece of the reply has a log-probability under every scorer; the "most disputed" pieces are the
tokens of a reference tokenizer (the reply's own model if it scores, else the first scorer) with the largest spread
between scorers.

A remote column scores where its server speaks vLLM's `prompt_logprobs` (remote_scoring.py); others, process
columns, seq2seq models and scripted bots do not score (their reason is in the scorer's `error`).
Scoring runs on each model's scheduler thread between two decode steps (`Scheduler.run_between_steps`), so it
never races generation, and never on the caller's thread.
"""

from __future__ import annotations

import json
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from ..manager import model_query
from ..records import CrossScore, CrossScorer, CrossScores, DisputedSpan
from .remote_scoring import score_remote
from .teacher_forcing import reply_logprobs, rows_per_pass
from .turns import finished_turn

if TYPE_CHECKING:
    import pandas

    from ..manager import ChatManager
    from .presenter import Presenter

DISPUTED_PER_REPLY = 5


@dataclass
class Text:
    """One text to score after a conversation: a column's reply, or a reference answer."""

    query: list[dict[str, str]]  # the conversation before it, ending with the HUMAN turn it answers
    text: str
    bot: Any = None  # the bot that generated it (None: not a model's)
    ids: list[int] | None = None  # the ids that bot generated, when its entry kept them


@dataclass
class Scored:
    """A text under one scorer: its tokens' character spans and log-probabilities."""

    spans: list[tuple[int, int]]
    logprobs: list[float]
    retokenised: bool

    @property
    def total(self) -> float:
        return float(sum(self.logprobs))

    @property
    def mean(self) -> float | None:
        return self.total / len(self.logprobs) if self.logprobs else None


@dataclass
class Scorer:
    """One loaded model that scores (the columns sharing it), or why it cannot (`error`)."""

    name: str
    columns: list[str]
    bot: Any
    settings: dict[str, Any] = field(default_factory=dict)  # what a turn of its first column sends (system prompt)
    error: str | None = None

    def record(self) -> CrossScorer:
        return {"name": self.name, "columns": list(self.columns), "error": self.error}


# ----- tokens and characters ----------------------------------------------------------------------------------
def _decoded_spans(tokenizer: Any, ids: Sequence[int]) -> tuple[list[tuple[int, int]], str]:
    """Each id's character span in the text the ids decode to (prefix by prefix: half a UTF-8 character decodes
    to U+FFFD until the next token completes it, so a span starts where the new text parts from the old)."""
    spans, before = [], ""
    for k in range(1, len(ids) + 1):
        now = tokenizer.decode(list(ids[:k]), skip_special_tokens=True)
        start = len(os.path.commonprefix([before, now]))
        spans.append((start, len(now)))
        before = now
    return spans, before


def _fit_spans(spans: list[tuple[int, int]], decoded: str, text: str) -> list[tuple[int, int]] | None:
    """`spans` in `decoded` moved onto `text`, or None when the two differ beyond the whitespace around them."""
    if decoded.strip() != text.strip():
        return None
    shift = (len(decoded) - len(decoded.lstrip())) - (len(text) - len(text.lstrip()))
    n = len(text)
    return [(min(max(a - shift, 0), n), min(max(b - shift, 0), n)) for a, b in spans]


def tokenise(tokenizer: Any, text: str) -> tuple[list[int], list[tuple[int, int]]]:
    """`text` in `tokenizer`'s vocabulary (no special tokens) with each token's character span."""
    try:
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        return list(enc["input_ids"]), [(int(a), int(b)) for a, b in enc["offset_mapping"]]
    except (NotImplementedError, TypeError, ValueError, KeyError):  # a slow tokenizer: no offsets
        ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
        spans, decoded = _decoded_spans(tokenizer, ids)
        return ids, _fit_spans(spans, decoded, text) or [(0, len(text))] * len(ids)


def _char_logprobs(length: int, scored: Scored) -> list[float]:
    """Per character of the text: the log-probability of the tokens over it, each shared evenly by its characters."""
    out = [0.0] * length
    if not length:
        return out
    for (a, b), lp in zip(scored.spans, scored.logprobs):
        if b > a:
            share = lp / (b - a)
            for i in range(a, b):
                out[i] += share
        else:  # a token with no characters of its own (half a character, a special token): on its neighbour
            out[min(a, length - 1)] += lp
    return out


def disputed_spans(reply: str, text: str, scored: Sequence[Scored | None], reference: int,
                   top: int = DISPUTED_PER_REPLY) -> list[DisputedSpan]:
    """The `top` tokens of `scored[reference]` whose characters the scorers disagree on most (see the module)."""
    present = [i for i, s in enumerate(scored) if s is not None]
    if len(present) < 2 or scored[reference] is None:
        return []
    chars = {i: _char_logprobs(len(text), scored[i]) for i in present}
    seen, out = set(), []
    for a, b in scored[reference].spans:
        if b <= a or (a, b) in seen or not text[a:b].strip():
            continue
        seen.add((a, b))
        values = [sum(chars[i][a:b]) if i in chars else None for i in range(len(scored))]
        known = [v for v in values if v is not None]
        out.append({"reply": reply, "start": a, "end": b, "text": text[a:b], "logprobs": values,
                    "spread": max(known) - min(known)})
    out.sort(key=lambda d: -d["spread"])
    return out[:top]


# ----- scoring with one model -----------------------------------------------------------------------------------
def why_not(bot: Any) -> str | None:
    """Why `bot` cannot score text (None: it can)."""
    if bot is None:
        return "cannot score: its model is not loaded"
    if type(bot).__name__ == "ProcessChatBOT":
        return "cannot score: its model runs in its own process (process=True)"
    if getattr(bot, "remote", False):
        return None  # asked: its server scores given text if it speaks vLLM's prompt_logprobs (remote_scoring.py)
    if not hasattr(bot, "model") or not hasattr(bot, "tokenizer"):
        return f"cannot score: {type(bot).__name__} has no local model"
    if getattr(bot, "model", None) is None or getattr(bot, "tokenizer", None) is None:
        return "cannot score: its model was released"
    if getattr(bot, "seq2seq", False):
        return "cannot score: a seq2seq model (it reads the reply in its decoder, not after the prompt)"
    return None


def _prompt_ids(bot: Any, query: list[dict[str, str]], prompt_kwargs: Mapping[str, Any]) -> list[int]:
    prompt = bot.build_prompt(query, prompt_kwargs)
    return [int(i) for i in bot.get_input(prompt)["input_ids"].reshape(-1).tolist()]


def _reply_ids(scorer: Scorer, item: Text) -> tuple[list[int], list[tuple[int, int]], bool]:
    """The reply's ids in the scorer's vocabulary, their spans, and whether the text was re-tokenised."""
    if item.bot is scorer.bot and item.ids:
        spans, decoded = _decoded_spans(scorer.bot.tokenizer, item.ids)
        fitted = _fit_spans(spans, decoded, item.text)
        if fitted is not None:
            return list(item.ids), fitted, False
    ids, spans = tokenise(scorer.bot.tokenizer, item.text)
    return ids, spans, True


def _on_model_thread(bot: Any, job: Callable[[], Any]) -> Any:
    """Run `job` where the model runs: its scheduler's thread, between two decode steps."""
    return bot.scheduler.run_between_steps(job).result()


def score_texts_with(scorer: Scorer, items: Sequence[Text]) -> list[Scored | str]:
    """Every item under one scoring model (an error text for an item that failed), in as few forward passes as
    the logits budget allows (one for a turn's replies)."""
    bot = scorer.bot
    if getattr(bot, "remote", False):
        return score_remote(bot, scorer.settings, items)
    _, prompt_kwargs, _ = bot.merge_settings(scorer.settings)
    rows: list[tuple[list[int], list[int], list[tuple[int, int]], bool] | str] = []
    for item in items:
        try:
            if not item.text.strip():
                raise ValueError("an empty reply has nothing to score")
            ids, spans, retokenised = _reply_ids(scorer, item)
            rows.append((_prompt_ids(bot, item.query, prompt_kwargs), ids, spans, retokenised))
        except Exception as exc:  # noqa: BLE001 - this text only
            rows.append(f"cannot score: {exc}")
    ready = [i for i, r in enumerate(rows) if not isinstance(r, str)]
    pad = bot.tokenizer.pad_token_id if bot.tokenizer.pad_token_id is not None else bot.tokenizer.eos_token_id
    vocab = int(getattr(bot.model.config, "vocab_size", None) or len(bot.tokenizer))
    out: list[Scored | str] = [r if isinstance(r, str) else "" for r in rows]
    ready.sort(key=lambda i: len(rows[i][0]) + len(rows[i][1]))  # similar lengths share a pass: less padding
    start = 0
    while start < len(ready):
        per_pass = rows_per_pass(max(len(rows[i][1]) for i in ready[start:]), vocab)
        chunk = ready[start:start + per_pass]
        start += per_pass
        pairs = [(rows[i][0], rows[i][1]) for i in chunk]
        try:
            values = _on_model_thread(bot, lambda pairs=pairs: reply_logprobs(bot.model, pairs, pad or 0))
        except Exception as exc:  # noqa: BLE001 - this model's pass failed: its texts say why
            for i in chunk:
                out[i] = f"cannot score: {type(exc).__name__}: {exc}"
            continue
        for i, lps in zip(chunk, values):
            out[i] = Scored(spans=rows[i][2], logprobs=lps, retokenised=rows[i][3])
    return out


def score_all(scorers: Sequence[Scorer], items: Sequence[Text]) -> list[list[Scored | str]]:
    """`[scorer][item]`: every item under every scorer; the models score at the same time (each on its own
    scheduler thread). A scorer that cannot score gives its `error` for every item."""
    able = [s for s in scorers if s.error is None]
    results: dict[int, list[Scored | str]] = {}
    if able:
        with ThreadPoolExecutor(max_workers=len(able), thread_name_prefix="chatzoo-cross-score") as pool:
            futures = {id(s): pool.submit(score_texts_with, s, items) for s in able}
            results = {k: f.result() for k, f in futures.items()}
    for scorer in able:  # a server that scores nothing cannot score: its row says why
        scored = results[id(scorer)]
        if scored and all(isinstance(x, str) for x in scored) and getattr(scorer.bot, "remote", False):
            scorer.error = scored[0]
    return [results.get(id(s)) or [s.error or "cannot score"] * len(items) for s in scorers]


# ----- the widget's columns as scorers --------------------------------------------------------------------------
def column_scorers(manager: "ChatManager", order: Sequence[Any] | None = None) -> list[Scorer]:
    """One scorer per loaded model among the columns (columns sharing a model score once, named by the first)."""
    columns = list(order) if order is not None else list(manager.columns.values())
    by_bot: dict[int, Scorer] = {}
    out: list[Scorer] = []
    for column in columns:
        bot = column.bot
        key = id(bot) if bot is not None else id(column)
        if key in by_bot:
            by_bot[key].columns.append(column.name)
            continue
        scorer = Scorer(column.name, [column.name], bot, error=why_not(bot))
        if bot is not None:
            scorer.settings = manager.turn_settings(bot, column.settings)
        by_bot[key] = scorer
        out.append(scorer)
    return out


def _ordered_columns(manager: "ChatManager", presenter: "Presenter | None") -> list[Any]:
    columns = list(manager.columns.values())
    if presenter is not None:  # left to right as shown (while blind: label order, which gives nothing away)
        columns = presenter.sort(columns, key=lambda c: c.id)
    return columns


def turn_index(manager: "ChatManager", turn: int | None) -> int:
    """The turn to score (turns.py): the latest finished one, or `turn`."""
    return finished_turn(manager.snapshot(), turn, verb="score")


def reply_of(column: Any, index: int) -> Text | None:
    """The column's finished reply to turn `index`, after the conversation it answered; None when it has none."""
    history = list(column.history)
    at = next((i for i, e in enumerate(history) if e["role"] == "BOT" and e["turn"] == index), None)
    if at is None:
        return None
    entry = history[at]
    if (entry.get("stats") or {}).get("finish_reason") == "error" or not entry["content"].strip():
        return None
    query = model_query(history[:at], keep_reasoning=column.keep_reasoning, think_tags=column.think_tags)
    if not query or query[-1]["role"] != "HUMAN":
        return None
    tokens = entry.get("tokens") or []
    ids = [int(t["id"]) for t in tokens if isinstance(t.get("id"), int)]
    return Text(query=query, text=entry["content"], bot=column.bot,
                ids=ids if tokens and len(ids) == len(tokens) else None)


def cross_scores_turn(manager: "ChatManager", turn: int | None = None, *,
                      presenter: "Presenter | None" = None) -> CrossScores:
    """The `CrossScores` record of a turn (default: the latest, once every column has answered)."""
    index = turn_index(manager, turn)
    columns = _ordered_columns(manager, presenter)
    replies = [(c.name, reply_of(c, index)) for c in columns]
    replies = [(name, item) for name, item in replies if item is not None]
    if not replies:
        raise ValueError(f"turn {index} has no finished reply to score")
    scorers = column_scorers(manager, columns)
    if all(s.error for s in scorers):
        raise ValueError("no column can score: " + "; ".join(f"{s.name}: {s.error}" for s in scorers))
    results = score_all(scorers, [item for _, item in replies])
    scores: list[CrossScore] = []
    disputed: list[DisputedSpan] = []
    for r, (name, item) in enumerate(replies):
        column_scores = [results[s][r] for s in range(len(scorers))]
        for scorer, result in zip(scorers, column_scores):
            scores.append(_score_record(scorer.name, name, result))
        scored = [x if isinstance(x, Scored) else None for x in column_scores]
        own = next((s for s, scorer in enumerate(scorers) if scorer.bot is item.bot and scored[s]), None)
        reference = own if own is not None else next((s for s, x in enumerate(scored) if x), 0)
        disputed += disputed_spans(name, item.text, scored, reference)
    return {"conversation": manager.conversation_id, "turn": index, "scorers": [s.record() for s in scorers],
            "replies": [name for name, _ in replies], "scores": scores, "disputed": disputed}


def _score_record(scorer: str, reply: str, result: Scored | str) -> CrossScore:
    if isinstance(result, Scored):
        return {"scorer": scorer, "reply": reply, "tokens": len(result.logprobs), "mean_logprob": result.mean,
                "total_logprob": result.total, "retokenised": result.retokenised, "error": None}
    return {"scorer": scorer, "reply": reply, "tokens": None, "mean_logprob": None, "total_logprob": None,
            "retokenised": None, "error": result}


def as_dataframe(record: CrossScores) -> "pandas.DataFrame":
    """The record as `w.cross_scores()` returns it: the matrix of mean log-probability per token (scorer x reply),
    with `attrs`: total (the same matrix of totals), tokens, retokenised, disputed (reply -> its spans, each with
    its log-probability per scorer), cannot_score (scorer -> why) and record (the record itself)."""
    import pandas as pd

    names = [s["name"] for s in record["scorers"]]

    def matrix(value: str) -> "pandas.DataFrame":
        frame = pd.DataFrame(index=pd.Index(names, name="scorer"), columns=pd.Index(record["replies"], name="reply"),
                             dtype=object if value == "retokenised" else float)
        for s in record["scores"]:
            frame.loc[s["scorer"], s["reply"]] = s[value] if s[value] is not None else math.nan
        return frame

    out = matrix("mean_logprob")
    out.attrs.update(
        total=matrix("total_logprob"), tokens=matrix("tokens"), retokenised=matrix("retokenised"),
        disputed={reply: [{**{k: d[k] for k in ("start", "end", "text", "spread")},
                           "logprobs": dict(zip(names, d["logprobs"]))}
                          for d in record["disputed"] if d["reply"] == reply] for reply in record["replies"]},
        cannot_score={s["name"]: s["error"] for s in record["scorers"] if s["error"]},
        record=record,
    )
    return out


# ----- batch frames ------------------------------------------------------------------------------------------
def _frame_items(manager: "ChatManager", frame: "pandas.DataFrame", text_column: str) -> list[Text | None]:
    """Per row: its text after the conversation of its script so far (its own column's replies to the earlier
    turns), or None for a row with nothing to score."""
    missing = [c for c in ("prompt", text_column) if c not in frame.columns]
    if missing:
        raise ValueError(f"the frame has no {', '.join(repr(c) for c in missing)} column (it has "
                         f"{', '.join(map(str, frame.columns))})")
    bots = {c.name: c.bot for c in manager.columns.values()}
    group_keys = [k for k in ("script", "sample", "column") if k in frame.columns]
    earlier: dict[tuple, list[tuple[int, str, str]]] = {}
    if "turn" in frame.columns and "reply" in frame.columns:
        for _, row in frame.iterrows():
            key = tuple(row[k] for k in group_keys)
            earlier.setdefault(key, []).append((int(row["turn"]), str(row["prompt"]), str(row["reply"] or "")))
    items: list[Text | None] = []
    for _, row in frame.iterrows():
        text = row[text_column]
        if not isinstance(text, str) or not text.strip() or row.get("status", "done") not in ("done", None):
            items.append(None)
            continue
        query: list[dict[str, str]] = []
        turn = int(row["turn"]) if "turn" in frame.columns else 0
        for t, prompt, reply in sorted(earlier.get(tuple(row[k] for k in group_keys), [])):
            if t < turn:
                query += [{"role": "HUMAN", "content": prompt}, {"role": "BOT", "content": reply}]
        query.append({"role": "HUMAN", "content": str(row["prompt"])})
        own = bots.get(row["column"]) if text_column == "reply" and "column" in frame.columns else None
        items.append(Text(query=query, text=text, bot=own))
    return items


def _unique(items: Sequence[Text | None]) -> tuple[list[Text], list[int | None]]:
    """The distinct texts to score (a reference repeated for every column is scored once) and each row's index."""
    seen: dict[str, int] = {}
    unique: list[Text] = []
    where: list[int | None] = []
    for item in items:
        if item is None:
            where.append(None)
            continue
        key = json.dumps([item.query, item.text, id(item.bot)])
        if key not in seen:
            seen[key] = len(unique)
            unique.append(item)
        where.append(seen[key])
    return unique, where


def score_frame(manager: "ChatManager", frame: "pandas.DataFrame", text_column: str = "reply",
                prefix: str = "") -> "pandas.DataFrame":
    """A copy of `frame` with, per local model, `<prefix>logprob_<scorer>` (mean per token) and
    `<prefix>total_logprob_<scorer>` for each row's `text_column`, and `<prefix>likeliest`: the scorer that finds
    the row's text most likely (highest total: a total, unlike a mean per token, compares across tokenizers).
    `attrs["cannot_score"]` says which columns could not score."""
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"expected a DataFrame (run_batch's result), got {type(frame).__name__}")
    if text_column not in frame.columns:
        raise ValueError(f"the frame has no {text_column!r} column (it has {', '.join(map(str, frame.columns))})")
    scorers = column_scorers(manager)
    if not scorers or all(s.error for s in scorers):
        raise ValueError("no column can score: " + ("; ".join(f"{s.name}: {s.error}" for s in scorers)
                                                    or "the widget has no column"))
    unique, where = _unique(_frame_items(manager, frame, text_column))
    results = score_all(scorers, unique)
    out = frame.copy()
    totals = {}
    for scorer, scored in zip(scorers, results):
        if scorer.error:
            continue
        means = [scored[i].mean if i is not None and isinstance(scored[i], Scored) else math.nan for i in where]
        total = [scored[i].total if i is not None and isinstance(scored[i], Scored) else math.nan for i in where]
        out[f"{prefix}logprob_{scorer.name}"] = pd.array(means, dtype="float64")
        out[f"{prefix}total_logprob_{scorer.name}"] = totals[scorer.name] = pd.array(total, dtype="float64")
    best = pd.DataFrame(totals, index=out.index)
    out[f"{prefix}likeliest"] = best.idxmax(axis=1, skipna=True).where(best.notna().any(axis=1), None)
    out.attrs = {**frame.attrs, "cannot_score": {s.name: s.error for s in scorers if s.error}}
    return out


class CrossScoreRun:
    """Cross scores computed in a background thread (the widget's command): `on_done(record or None, error)`."""

    def __init__(self, work: Callable[[], CrossScores], on_done: Callable[[CrossScores | None, str | None], None]):
        self.thread = threading.Thread(target=self._run, args=(work, on_done), daemon=True,
                                       name="chatzoo-cross-scores")
        self.thread.start()

    @staticmethod
    def _run(work: Callable[[], CrossScores], on_done: Callable[..., None]) -> None:
        try:
            record = work()
        except Exception as exc:  # noqa: BLE001 - the panel shows it
            on_done(None, str(exc) if isinstance(exc, (ValueError, RuntimeError)) else f"{type(exc).__name__}: {exc}")
            return
        on_done(record, None)
