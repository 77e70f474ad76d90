"""The records of cross-model scoring (compare/cross_scores.py): each model scoring every column's reply.

Lists, not dicts keyed by column name, so the blind filter (which rewrites strings) can label every name.
"""

from typing import Annotated, TypedDict


class CrossScorer(TypedDict):
    """A model that scored the replies: columns sharing one loaded model score once, as one scorer."""

    name: Annotated[str, "the first of its columns, left to right"]
    columns: Annotated[list[str], "every column that uses this model"]
    error: Annotated[str | None, "'cannot score: <why>' (a remote server that cannot score text, a scripted bot)"]


class CrossScore(TypedDict):
    """One reply under one scoring model, by teacher forcing: the reply's text after the conversation the reply
    answered, in the scoring model's own prompt format."""

    scorer: str
    reply: Annotated[str, "the column whose reply was scored"]
    tokens: Annotated[int | None, "the reply's tokens in the scorer's vocabulary"]
    mean_logprob: Annotated[float | None, "mean natural log-probability per token"]
    total_logprob: Annotated[float | None, "the reply's log-probability: comparable across tokenizers"]
    retokenised: Annotated[bool | None, "the reply's text was tokenised by the scorer (false: the ids its own "
                                        "model generated)"]
    error: str | None


class DisputedSpan(TypedDict):
    """A piece of a reply (one token of the reference tokenizer) where the scoring models disagree most."""

    reply: str
    start: Annotated[int, "character offset in the reply"]
    end: int
    text: str
    logprobs: Annotated[list[float | None], "per scorer (CrossScores.scorers order): the log-probability of these "
                                            "characters (each token's share, spread evenly over its characters)"]
    spread: Annotated[float, "largest minus smallest of `logprobs`"]


class CrossScores(TypedDict):
    """`w.cross_scores()`'s record: every local model scoring every column's reply to one turn."""

    conversation: str | None
    turn: Annotated[int | None, "index of the conversation's prompts"]
    scorers: list[CrossScorer]
    replies: Annotated[list[str], "the columns whose replies were scored, left to right"]
    scores: list[CrossScore]
    disputed: Annotated[list[DisputedSpan], "per reply, its most disputed spans, the largest spread first"]


CROSS_SCORE_RECORDS: tuple[type, ...] = (CrossScorer, CrossScore, DisputedSpan, CrossScores)
