"""How well a judge agrees with a person: Cohen's kappa over the pairs both judged, and the judge's position bias.

A person's vote on a turn says, for a pair (a, b) of that turn's columns: "a wins" when a was voted best, "b
wins" when b was, "tie" for a "tie" or "bad" vote (every pair ties); a vote for a third column says nothing
about a against b (no battle between the losers, as in the leaderboard). The judge's verdict says "a wins",
"b wins" or "tie". Kappa = (p_o - p_e) / (1 - p_e) over the pairs with both.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import pandas as pd

from .votes import BAD, TIE

CLASSES = ("a wins", "b wins", "tie")


def _person(vote: Mapping[str, Any], a: str, b: str) -> str | None:
    names = {c["name"] for c in vote.get("columns") or []}
    if a not in names or b not in names:
        return None
    outcome = vote.get("outcome") or ("best" if vote["choice"] not in (TIE, BAD) else vote["choice"])
    if outcome != "best":
        return "tie"
    winner = vote.get("winner") or vote["choice"]
    return "a wins" if winner == a else "b wins" if winner == b else None


def _judged(j: Mapping[str, Any]) -> str | None:
    if j.get("verdict") is None or j.get("error"):
        return None
    return "tie" if j["verdict"] == TIE else "a wins" if j["verdict"] == j["a"] else "b wins"


def _orders_disagree(j: Mapping[str, Any]) -> bool | None:
    """Whether the two orders named different winners (None when an order has no verdict)."""
    raw = list(j.get("orders") or [])
    if len(raw) != 2 or None in raw:
        return None
    first = {"A": "a", "B": "b", "C": "tie"}[raw[0]]
    second = {"A": "b", "B": "a", "C": "tie"}[raw[1]]
    return first != second


def cohen_kappa(pairs: Iterable[tuple[str, str]], classes: Iterable[str] = CLASSES) -> float | None:
    """Cohen's kappa of (rater 1, rater 2) labels; None when there are none or chance agreement is certain."""
    pairs = list(pairs)
    classes = list(classes)
    n = len(pairs)
    if not n:
        return None
    observed = sum(x == y for x, y in pairs) / n
    expected = sum((sum(x == c for x, _ in pairs) / n) * (sum(y == c for _, y in pairs) / n) for c in classes)
    if expected >= 1.0:
        return None  # both raters always gave the same single class: kappa is undefined
    return (observed - expected) / (1.0 - expected)


def agreement(votes: Any, judgments: Iterable[Mapping[str, Any]], *, judge: str | None = None) -> dict[str, Any]:
    """Agreement between people's votes and the judge's verdicts.

    Returns {"n": pairs judged both by a vote and by the judge, "kappa": Cohen's kappa over them (None when
    undefined), "position_bias": the share of judged pairs whose two orders disagree (None when none),
    "confusion": DataFrame person x judge over the classes "a wins", "b wins", "tie"}, plus "judged" (pairs
    with both orders parsed). `votes` is a VoteBook or a list of vote records; `judge` keeps one judge's
    verdicts (default: all).
    """
    vote_list = list(votes.votes if hasattr(votes, "votes") else votes)
    by_turn = {(v["conversation"], v["turn"]): v for v in vote_list}
    pairs: list[tuple[str, str]] = []
    disagree: list[bool] = []
    for j in judgments:
        if judge is not None and j.get("judge") != judge:
            continue
        d = _orders_disagree(j)
        if d is not None and not j.get("error"):
            disagree.append(d)
        mine = _judged(j)
        vote = by_turn.get((j["conversation"], j["turn"]))
        theirs = _person(vote, j["a"], j["b"]) if vote is not None else None
        if mine is not None and theirs is not None:
            pairs.append((theirs, mine))
    confusion = pd.DataFrame(0, index=pd.Index(CLASSES, name="person"), columns=pd.Index(CLASSES, name="judge"))
    for person, judged in pairs:
        confusion.loc[person, judged] += 1
    return {
        "n": len(pairs),
        "kappa": cohen_kappa(pairs),
        "position_bias": (sum(disagree) / len(disagree)) if disagree else None,
        "judged": len(disagree),
        "confusion": confusion,
    }


def agreement_json(result: Mapping[str, Any], digits: int = 3) -> dict[str, Any]:
    """`agreement(...)` as JSON for the widget (the confusion table as labels and rows of counts)."""
    conf: pd.DataFrame = result["confusion"]
    rnd = lambda x: None if x is None else round(float(x), digits)  # noqa: E731
    return {"n": result["n"], "kappa": rnd(result["kappa"]), "position_bias": rnd(result["position_bias"]),
            "judged": result.get("judged"), "labels": list(conf.columns),
            "confusion": [[int(x) for x in row] for row in conf.to_numpy().tolist()]}
