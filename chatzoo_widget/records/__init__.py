"""The records ChatZoo Widget keeps, exports and reloads, declared once.

Records stay plain dicts (what `w.history`, `w.entries`, `w.stats`, `w.votes`, `w.judgments` and `df.attrs` give
you); their shapes are the TypedDicts below, and everything else follows from them:

- `check(value, Record, where)` validates a record (the loader's checks, check.py): a ValueError names the place,
  the record and the field that is missing or of the wrong type;
- the tables' columns (`TABLE_COLUMNS`, `BATCH_COLUMNS`) are the fields of `TableRow` and `BatchRow`;
- `js/src/records.ts`, the front end's copy, is generated (typescript.py):
  `python -m chatzoo_widget.records --ts > js/src/records.ts` (a test fails while it is out of date).

A field that is not `Required` may be missing: records written by older versions lack the fields added since, and
the loader fills them (`LOAD_DEFAULTS`). `Annotated[T, "text"]` documents a field; the text goes to TypeScript.
(No `from __future__ import annotations` here: Python 3.11's TypedDict would then miss `NotRequired`.)
"""

from collections.abc import Mapping
from typing import Annotated, Any, Literal, NotRequired, TypedDict

from .check import check
from .cross_scores import CROSS_SCORE_RECORDS, CrossScore, CrossScorer, CrossScores, DisputedSpan
from .shape import fields, required
from .typescript import typescript

FORMAT = "chatzoo-widget/comparison"
VERSION = 1


# ----- a reply and its history entry --------------------------------------------------------------
class Stats(TypedDict, total=False):
    """Statistics of one reply (`ReplyStats.to_dict()`: `w.stats`, a reply's `stats`)."""

    prompt_tokens: int | None
    new_tokens: int | None
    time_to_first_token: Annotated[float | None, "seconds from the call to the first text"]
    tokens_per_second: Annotated[float | None, "new tokens over the time after the first one"]
    total_time: float | None
    finish_reason: Annotated[str | None, "stop | length | cancelled | error"]
    dropped_turns: Annotated[int | None, "oldest turns left out: the history was longer than the context"]
    batched: Annotated[bool | None, "decoded in the model's shared batch (null: not a local model)"]
    error: str | None
    reasoning_tokens: Annotated[int | None, "of new_tokens, those spent thinking"]
    mean_logprob: Annotated[float | None, "mean log-probability per generated token (logprobs on)"]
    perplexity: Annotated[float | None, "exp(-mean_logprob)"]


class TokenAlternative(TypedDict):
    """One of the likeliest tokens at a position of a reply (OpenAI's TopLogprob, plus the id)."""

    token: Annotated[str, "the token's text (an incomplete UTF-8 character shows as U+FFFD)"]
    logprob: Annotated[float, "natural log of its probability (see the README: after repetition penalty, before "
                              "temperature, top-k and top-p)"]
    bytes: Annotated[list[int] | None, "the token's own UTF-8 bytes"]
    id: NotRequired[Annotated[int, "the token id in the column's vocabulary (local columns)"]]


class TokenLogprob(TypedDict):
    """One generated token of a reply with logprobs on (OpenAI's ChatCompletionTokenLogprob, plus the id)."""

    token: str
    logprob: float
    bytes: list[int] | None
    id: NotRequired[int]
    top_logprobs: Annotated[list[TokenAlternative], "the likeliest tokens at this position, best first"]


class Branch(TypedDict):
    """Where a reply was branched from an alternative token (`w.branch`): the reply before it is `alternatives[0]`."""

    token_index: Annotated[int, "the position in the old reply's tokens where the chosen token went"]
    token: Annotated[str, "the alternative chosen there"]
    replaced: Annotated[str, "the token the old reply had there"]


class Entry(TypedDict):
    """One entry of a column's history (`w.history`, `w.entries`): a prompt (HUMAN) or a reply (BOT)."""

    role: Literal["HUMAN", "BOT"]
    content: Annotated[str, "a reply's answer (its thinking is in `reasoning`)"]
    turn: int
    stats: NotRequired[Annotated[Stats | None, "BOT entries"]]
    rendered_prompt: NotRequired[Annotated[
        str | None, "the exact text the model received (remote columns: the messages sent, as JSON)"]]
    prompt_tokens: NotRequired[int | None]
    reasoning: NotRequired[Annotated[str | None, "the thinking, apart from the answer"]]
    reasoning_unfinished: NotRequired[Annotated[bool, "the thinking block was never closed"]]
    continued_with: NotRequired[Annotated[
        str | None, "the column whose reply the conversation continued with; `alternatives[0]` is this column's own"]]
    alternatives: NotRequired[list["Entry"]]
    tokens: NotRequired[Annotated[list[TokenLogprob], "BOT entries with logprobs on: each generated token"]]
    branched_from: NotRequired[Annotated[Branch, "a reply branched from an alternative token"]]
    logprobs_unavailable: NotRequired[Annotated[
        str, "logprobs were on but the model gave none (a server that returns none): why"]]
    edited: NotRequired[Annotated[list["EditedTurn"], "HUMAN entries: the turns this prompt replaced by an edit"]]


class EditedTurn(TypedDict):
    """A turn replaced by an edit of its prompt (kept in the new prompt's `edited`)."""

    turn: int
    prompt: str
    reply: Entry | None


class Message(TypedDict):
    """One message of what a model saw before a prompt."""

    role: str
    content: str


# ----- votes, thumbs, judgments ----------------------------------------------------------------------
class ReplyRecord(TypedDict):
    """What a vote or a judgment keeps of one column's reply, so the record stands alone."""

    name: str
    model: str
    settings: dict[str, Any]
    reply: str
    id: NotRequired[str]
    system_prompt: NotRequired[str]
    label: NotRequired[Annotated[str | None, "the arena label (\"Model A\"...), null outside an arena"]]
    turn: NotRequired[int]
    prompt: NotRequired[str]
    history: NotRequired[Annotated[list[Message], "what the model saw before the prompt"]]
    stats: NotRequired[Stats]
    reasoning: NotRequired[str | None]
    rendered_prompt: NotRequired[str | None]
    status: NotRequired[Annotated[str, "batch runs: done | error | cancelled | timeout"]]


class Vote(TypedDict):
    """A vote on one finished turn (`w.votes`)."""

    conversation: str
    turn: int
    choice: Annotated[str, "a column name, \"tie\" or \"bad\""]
    prompt: str
    columns: list[ReplyRecord]
    outcome: NotRequired[Literal["best", "tie", "bad"]]
    winner: NotRequired[str | None]
    blind: NotRequired[Annotated[bool, "cast while the arena hid the names"]]
    timestamp: NotRequired[str | None]


class Thumb(TypedDict):
    """A thumb up (+1) or down (-1) on one reply."""

    conversation: str
    turn: int
    column: str
    value: int
    model: NotRequired[str]
    settings: NotRequired[dict[str, Any]]
    label: NotRequired[str | None]
    prompt: NotRequired[str]
    reply: NotRequired[str]
    timestamp: NotRequired[str | None]


class Judgment(TypedDict):
    """An LLM judge's verdict on one pair of replies, judged in both orders (`w.judgments`)."""

    conversation: str
    turn: int
    a: str
    b: str
    orders: Annotated[list[Literal["A", "B", "C"] | None], "the raw verdict of each order (A/B, then B/A)"]
    rationales: list[str]
    judge: str
    verdict: NotRequired[Annotated[str | None, "a or b (won in both orders), \"tie\", or null when the judge failed"]]
    error: NotRequired[str | None]
    prompt: NotRequired[str]
    columns: NotRequired[list[ReplyRecord]]
    labels: NotRequired[dict[str, str | None]]
    blind: NotRequired[bool]
    template: NotRequired[Annotated[str, "mt-bench | custom"]]
    source: NotRequired[Annotated[str, "widget | batch"]]
    timestamp: NotRequired[str | None]
    script: NotRequired[Annotated[int, "batch runs: the script's index"]]
    sample: NotRequired[Annotated[int, "batch runs: the sample's index"]]


# ----- the reproducibility manifest -------------------------------------------------------------------
class Manifest(TypedDict):
    """What it takes to get a column's replies again (`w.manifest(column)`; Python side and files only)."""

    name: str
    model: Annotated[str, "the model as the user named it"]
    path: NotRequired[str | None]
    hub_revision: NotRequired[Annotated[str | None, "the commit of the Hugging Face cache snapshot"]]
    type: NotRequired[str | None]
    family: NotRequired[str | None]
    dtype: NotRequired[str | None]
    quantization: NotRequired[str | None]
    device_map: NotRequired[Any]
    tokenizer_path: NotRequired[str | None]
    load_options: NotRequired[dict[str, Any]]
    settings: NotRequired[dict[str, Any]]
    seed: NotRequired[int | None]
    think_tags: NotRequired[list[str] | None]
    keep_reasoning: NotRequired[bool | None]
    versions: NotRequired[dict[str, str | None]]
    status: NotRequired[str]
    error: NotRequired[str | None]
    base_url: NotRequired[str | None]
    server_model: NotRequired[str | None]


# ----- the export document ------------------------------------------------------------------------------
class SavedColumn(TypedDict):
    """A column in a saved comparison."""

    name: str
    model: str
    settings: dict[str, Any]
    history: list[Entry]


class ComparisonDocument(TypedDict):
    """A saved comparison (`w.export("x.json")`, `ChatZooWidget.load`)."""

    format: Literal[FORMAT]
    version: Literal[VERSION]
    columns: list[SavedColumn]
    votes: list[Vote]
    exported_at: NotRequired[str]
    system_prompt: NotRequired[str]
    conversation: NotRequired[Annotated[str | None, "the conversation the histories belong to"]]
    thumbs: NotRequired[list[Thumb]]
    judgments: NotRequired[list[Judgment]]
    arena: NotRequired[Annotated[dict[str, Any] | None, "Arena.state()"]]
    manifests: NotRequired[Annotated[dict[str, Manifest], "by column name; files only, never the browser"]]


# ----- table rows -----------------------------------------------------------------------------------------
#: the statistics the tables show, in their column order
TABLE_STATS = ("new_tokens", "prompt_tokens", "time_to_first_token", "tokens_per_second", "total_time",
               "finish_reason", "mean_logprob", "perplexity")


class TableRow(TypedDict):
    """One row of `to_dataframe()` (and a line of a .jsonl export): one reply."""

    conversation: str | None
    turn: int | None
    column: str
    label: str | None
    model: str
    settings: dict[str, Any]
    prompt: str
    reply: str
    new_tokens: int | None
    prompt_tokens: int | None
    time_to_first_token: float | None
    tokens_per_second: float | None
    total_time: float | None
    finish_reason: str | None
    mean_logprob: Annotated[float | None, "mean log-probability per token (logprobs on)"]
    perplexity: Annotated[float | None, "exp(-mean_logprob)"]
    error: str | None
    vote: Annotated[str | None, "the turn's choice"]
    vote_result: Annotated[str | None, "this reply's part in it: best | worse | tie | bad"]
    thumb: int | None
    source: Annotated[str, "current | alternative | edited | vote | thumb"]
    reasoning: str | None
    reasoning_tokens: int | None
    rendered_prompt: str | None
    continued_with: str | None


class BatchRow(TypedDict):
    """One row of `run_batch()`'s DataFrame: one reply."""

    script: int
    id: Annotated[int | str, "the data row's id: its `id` field, else its index in the data"]
    prompt: str
    turn: int
    sample: int
    column: str
    model: str
    settings: dict[str, Any]
    reply: str
    new_tokens: int | None
    prompt_tokens: int | None
    time_to_first_token: float | None
    tokens_per_second: float | None
    total_time: float | None
    finish_reason: str | None
    mean_logprob: Annotated[float | None, "mean log-probability per token (logprobs on)"]
    perplexity: Annotated[float | None, "exp(-mean_logprob)"]
    status: Annotated[str, "done | error | cancelled | timeout"]
    error: str | None


class JudgedBatchRow(BatchRow):
    """A batch row of a run with a judge."""

    judge_verdicts: Annotated[dict[str, Literal["win", "loss", "tie"] | None], "against each other column"]
    judge_score: Annotated[float | None, "(wins + ties / 2) / judged pairs"]


# `pass` is a Python keyword: the check records are declared with TypedDict's call form.
CheckResult = TypedDict("CheckResult", {
    "type": Annotated[str, "the check's type (promptfoo's names; not-<type> inverted)"],
    "pass": bool,
    "score": float,
    "reason": str,
    "metric": Annotated[str | None, "the named metric it counts towards"],
    "weight": float,
    "error": Annotated[str | None, "why the check could not run (a python check raised, a grader unreachable)"],
    "checks": NotRequired[Annotated[list["CheckResult"], "an assert-set's own checks"]],
})
CheckResult.__doc__ = "One check's result on one reply (`run_batch(checks=...)`'s `checks`, `w.check`)."

#: the fields a batch row gains when checks ran
CHECKED_FIELDS = {
    "pass": Annotated[bool | None, "every check passed (or the score reached the row's threshold); null: the "
                                  "reply did not finish, or an earlier turn of a script"],
    "score": Annotated[float | None, "the checks' weighted mean score"],
    "checks": list[CheckResult],
}
CheckedBatchRow = TypedDict("CheckedBatchRow", {**BatchRow.__annotations__, **CHECKED_FIELDS})
CheckedBatchRow.__doc__ = "A batch row of a run with checks (the final turn of each row is checked)."

# ----- the widget's results grid and summary (compare/grid.py) -------------------------------------------
GridCell = TypedDict("GridCell", {
    "reply": Annotated[str, "the row's final reply, whole (the grid truncates it)"],
    "status": Annotated[str, "done | error | cancelled | timeout"],
    "error": str | None,
    "pass": Annotated[bool | None, "null: no checks ran"],
    "score": float | None,
    "checks": list[CheckResult],
})
GridCell.__doc__ = "One column's reply to one row of a batch run, as the results grid shows it."


class GridRow(TypedDict):
    """One finished row of a batch run in the results grid (the widget's `grid_rows` messages)."""

    key: Annotated[str, "unique within the run: '<script>:<sample>'"]
    script: Annotated[int, "the row's position in the data"]
    sample: int
    id: Annotated[int | str, "the data row's id"]
    prompt: Annotated[str, "the prompt of the row's last turn"]
    cells: Annotated[dict[str, GridCell], "column name -> its reply"]


class SummaryColumn(TypedDict):
    """One row of `Summary.columns`: a column's pass rate or mean score with its interval and method."""

    column: str
    measure: Annotated[str, "pass | score"]
    n: int
    prompts: int
    estimate: Annotated[float | None, "null: no value (see note)"]
    lo: float | None
    hi: float | None
    method: str
    note: str


class SummaryPair(TypedDict):
    """One row of `Summary.pairs`: two columns compared on the same rows, the test named, the verdict."""

    measure: Annotated[str, "pass | score | votes | judge"]
    a: str
    b: str
    n: int | None
    prompts: int | None
    estimate: float | None
    estimate_of: str
    lo: float | None
    hi: float | None
    interval_method: str
    p_value: float | None
    test: str
    p_adjusted: float | None
    correction: str
    verdict: Annotated[str, "'a > b', 'no detectable difference' or 'too few paired rows'"]
    a_only: int | None
    b_only: int | None
    ties: int | None
    prompts_needed: Annotated[int | None, "null: not computed, or no number of prompts would tell them apart"]
    note: str


class SummaryRecord(TypedDict):
    """`Summary.to_record()`: the statistics as JSON (NaN as null), what the widget's summary table draws."""

    columns: list[SummaryColumn]
    pairs: list[SummaryPair]
    method: dict[str, Any]


TurnCheck = TypedDict("TurnCheck", {
    "pass": bool,
    "score": float,
    "reason": str,
    "checks": list[CheckResult],
})
TurnCheck.__doc__ = "`w.check(...)`'s result for one column's reply, as the badges under that reply show it."


#: every record type, in the order `js/src/records.ts` declares them
RECORDS: tuple[type, ...] = (Stats, TokenAlternative, TokenLogprob, Branch, Entry, EditedTurn, Message, ReplyRecord,
                             Vote, Thumb, Judgment, Manifest, SavedColumn, ComparisonDocument, TableRow, BatchRow,
                             JudgedBatchRow)
RECORDS += (CheckResult, CheckedBatchRow)  # the batch checks' records, declared after the others
RECORDS += CROSS_SCORE_RECORDS  # cross-model scoring (cross_scores.py)
RECORDS += (GridCell, GridRow, SummaryColumn, SummaryPair, SummaryRecord, TurnCheck)  # the results grid's

#: what the loader fills in for optional fields missing from a file
LOAD_DEFAULTS: dict[type, dict[str, Any]] = {
    ReplyRecord: {"history": [], "stats": {}, "system_prompt": "", "label": None},
    Vote: {"timestamp": None, "blind": False},
    Judgment: {"error": None, "columns": [], "prompt": "", "labels": {}, "blind": False, "timestamp": None},
    ComparisonDocument: {"system_prompt": "", "conversation": None, "thumbs": [], "judgments": [], "arena": None},
}


TABLE_COLUMNS: list[str] = list(fields(TableRow))
BATCH_COLUMNS: list[str] = list(fields(BatchRow))
JUDGED_BATCH_COLUMNS: list[str] = list(fields(JudgedBatchRow))
CHECK_COLUMNS: list[str] = list(CHECKED_FIELDS)


def with_defaults(record: type, value: Mapping[str, Any]) -> dict[str, Any]:
    """`value` with the optional fields it lacks filled as the loader does (copies of the defaults)."""
    out = dict(value)
    for key, default in LOAD_DEFAULTS.get(record, {}).items():
        out.setdefault(key, default.copy() if isinstance(default, (dict, list)) else default)
    return out



__all__ = [
    "BATCH_COLUMNS", "FORMAT", "JUDGED_BATCH_COLUMNS", "LOAD_DEFAULTS", "RECORDS", "TABLE_COLUMNS", "TABLE_STATS",
    "VERSION", "BatchRow", "Branch", "ComparisonDocument", "EditedTurn", "Entry", "JudgedBatchRow", "Judgment",
    "Manifest",
    "Message", "ReplyRecord", "SavedColumn", "Stats", "TableRow", "Thumb", "TokenAlternative", "TokenLogprob",
    "Vote", "check", "fields", "required",
    "typescript", "with_defaults",
]
