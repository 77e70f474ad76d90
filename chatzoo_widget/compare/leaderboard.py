"""A leaderboard from votes: pairwise battles, sequential Elo and Bradley–Terry, with bootstrap intervals.

Battles. A vote on a turn of n columns gives pairwise battles: "best" beats each other column (n-1 battles);
"tie" and "bad" make every pair of columns tie (n(n-1)/2 battles). Contestants are column names.

Elo. Sequential updates in vote order (battles of one vote in column order), each on the ratings left by the
previous battle: E_a = 1 / (1 + 10^((R_b - R_a)/400)), R_a += K (S_a - E_a), R_b -= K (S_a - E_a), S_a in
{1, 0.5, 0}. Defaults as the original ChatZoo: K = 4, start 1000.

Bradley–Terry. P(i beats j) = p_i / (p_i + p_j); a tie counts as half a win each way. Strengths are found by
Newton's method on the log-likelihood in theta = ln p and shown as Elo-like points 1000 + 400 log10(p).
With `bt_prior = 0` it is the plain maximum-likelihood estimate, anchored so the mean of the log-strengths is
1000 points; it exists only when the "won or tied against" graph is strongly connected (NaN otherwise).
With `bt_prior = c > 0` (default 1) every contestant also plays c virtual ties against a fixed reference of
1000 points: a maximum a posteriori estimate that is always finite, pulls small samples gently toward 1000,
and is anchored on that reference.

Intervals. Percentile bootstrap: `rounds` resamples of the battles with replacement (seedable); Elo is replayed
on each resample in chronological order; the interval is the central `ci` share (default 95 %).
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

LEADERBOARD_COLUMNS = ["contestant", "model", "elo", "elo_lo", "elo_hi", "bt", "bt_lo", "bt_hi", "wins", "losses",
                       "ties", "battles"]


# ----- battles ------------------------------------------------------------------------------------
def battles(votes: Iterable[Mapping[str, Any]], replies: bool = False) -> pd.DataFrame:
    """One row per pairwise battle: vote (index), conversation, turn, a, b, score_a (1 a won, 0.5 tie), model_a, model_b
    (and reply_a, reply_b with `replies=True`)."""
    rows = []
    for i, vote in enumerate(_records(votes)):
        cols = vote["columns"]
        outcome = vote.get("outcome") or ("best" if vote["choice"] not in ("tie", "bad") else vote["choice"])
        if outcome == "best":
            winner = vote.get("winner") or vote["choice"]
            win = next((c for c in cols if c["name"] == winner), None)
            if win is None:
                raise ValueError(f"vote {i}: the best column {winner!r} is not among its columns")
            pairs = [(win, c, 1.0) for c in cols if c is not win]
        else:
            pairs = [(a, b, 0.5) for k, a in enumerate(cols) for b in cols[k + 1:]]
        for a, b, s in pairs:
            rows.append({"vote": i, "conversation": vote.get("conversation"), "turn": vote.get("turn"),
                         "a": a["name"], "b": b["name"], "score_a": s, "model_a": a.get("model", ""),
                         "model_b": b.get("model", ""), "reply_a": a.get("reply"), "reply_b": b.get("reply")})
    names = ["vote", "conversation", "turn", "a", "b", "score_a", "model_a", "model_b"]
    return pd.DataFrame(rows, columns=names + (["reply_a", "reply_b"] if replies else []))


def _records(votes: Any) -> list[Mapping[str, Any]]:
    return list(votes.votes if hasattr(votes, "votes") else votes)


SOURCES = ("votes", "judge", "both")


def judgment_votes(judgments: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Judge verdicts as vote-like records of their two columns: one battle per pair (errors are left out)."""
    out = []
    for j in judgments:
        if j.get("verdict") is None or j.get("error"):
            continue
        tie = j["verdict"] == "tie"
        out.append({"conversation": j.get("conversation"), "turn": j.get("turn"), "choice": j["verdict"],
                    "outcome": "tie" if tie else "best", "winner": None if tie else j["verdict"],
                    "columns": [{"name": c["name"], "model": c.get("model", ""), "reply": c.get("reply")}
                                for c in j["columns"]]
                    if j.get("columns") else [{"name": j["a"]}, {"name": j["b"]}],
                    "timestamp": j.get("timestamp"), "judge": j.get("judge")})
    return out


def battle_records(votes: Any = (), judgments: Iterable[Mapping[str, Any]] = (), source: str = "votes") -> list:
    """The records a leaderboard ranks: people's votes, the judge's verdicts, or both (in time order)."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(map(repr, SOURCES))}, got {source!r}")
    people = _records(votes) if source in ("votes", "both") else []
    judged = judgment_votes(judgments or []) if source in ("judge", "both") else []
    if source != "both":
        return list(people) + judged
    # Elo is sequential: merge by time (ISO timestamps sort as text), votes first on a tie
    merged = [(str(r.get("timestamp") or ""), 0, i, r) for i, r in enumerate(people)]
    merged += [(str(r.get("timestamp") or ""), 1, i, r) for i, r in enumerate(judged)]
    return [r for *_, r in sorted(merged, key=lambda t: t[:3])]


def _encode(table: pd.DataFrame) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    names = list(dict.fromkeys(list(table["a"]) + list(table["b"])))
    index = {n: i for i, n in enumerate(names)}
    a = np.array([index[x] for x in table["a"]], dtype=int)
    b = np.array([index[x] for x in table["b"]], dtype=int)
    return names, a, b, table["score_a"].to_numpy(dtype=float)


# ----- Elo ----------------------------------------------------------------------------------------
def _elo_runs(n: int, a: np.ndarray, b: np.ndarray, s: np.ndarray, idx: np.ndarray, k: float,
              start: float) -> np.ndarray:
    """Sequential Elo for every row of `idx` (R, m): battle indices in the order they are played. -> (R, n)."""
    runs = idx.shape[0]
    ratings = np.full((runs, n), float(start))
    rows = np.arange(runs)
    for t in range(idx.shape[1]):
        j = idx[:, t]
        ia, ib, sa = a[j], b[j], s[j]
        ea = 1.0 / (1.0 + 10.0 ** ((ratings[rows, ib] - ratings[rows, ia]) / 400.0))
        delta = k * (sa - ea)
        ratings[rows, ia] += delta
        ratings[rows, ib] -= delta
    return ratings


def elo_ratings(table: pd.DataFrame, k: float = 4.0, start: float = 1000.0) -> dict[str, float]:
    """Sequential Elo over the battles in their order."""
    names, a, b, s = _encode(table)
    if not names:
        return {}
    r = _elo_runs(len(names), a, b, s, np.arange(len(s))[None, :], k, start)[0]
    return dict(zip(names, r.tolist()))


# ----- Bradley–Terry ------------------------------------------------------------------------------
def _win_matrix(n: int, a: np.ndarray, b: np.ndarray, s: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """weights (R, m) battle multiplicities -> W (R, n, n): W[r, i, j] = wins of i over j (ties half each way)."""
    runs = weights.shape[0]
    per = np.zeros((len(s), n, n))
    m = np.arange(len(s))
    per[m, a, b] = s
    per[m, b, a] += 1.0 - s
    return (weights @ per.reshape(len(s), n * n)).reshape(runs, n, n)


def _strongly_connected(w: np.ndarray, present: np.ndarray) -> np.ndarray:
    """(R, n, n) wins, (R, n) contestants present -> (R,) whether the "beat or tied" graph on them is strongly connected."""
    n = w.shape[1]
    reach = (w > 0) | np.eye(n, dtype=bool)[None]
    for _ in range(max(1, math.ceil(math.log2(max(n, 2))))):
        reach = reach | (np.einsum("rij,rjk->rik", reach.astype(np.int64), reach.astype(np.int64)) > 0)
    pair = present[:, :, None] & present[:, None, :]
    return np.all(reach | ~pair, axis=(1, 2))


def _bt_theta(w: np.ndarray, prior: float, tol: float = 1e-10, max_iter: int = 200) -> np.ndarray:
    """Batched Newton ascent of the BT log-likelihood. w (R, n, n) -> theta (R, n), natural-log strengths.

    prior > 0: `prior` virtual ties of every contestant with a reference of theta = 0 (MAP, always finite).
    prior = 0: plain MLE, centred to mean theta 0 over the contestants present; NaN where it does not exist.
    """
    runs, n, _ = w.shape
    games = w + np.swapaxes(w, 1, 2)
    wins = w.sum(axis=2)
    present = games.sum(axis=2) > 0
    theta = np.zeros((runs, n))
    eye = np.eye(n)[None]
    for _ in range(max_iter):
        d = theta[:, :, None] - theta[:, None, :]
        sig = 1.0 / (1.0 + np.exp(-d))
        grad = wins - (games * sig).sum(axis=2)
        curv = games * sig * (1.0 - sig)
        hess = -curv.sum(axis=2)[:, :, None] * eye + curv  # negative semi-definite
        if prior > 0:
            s0 = 1.0 / (1.0 + np.exp(-theta))
            grad = grad + prior * (0.5 - s0)
            hess = hess - prior * (s0 * (1 - s0))[:, :, None] * eye
            step = np.linalg.solve(-hess, grad[:, :, None])[:, :, 0]
        else:
            # The likelihood is flat along theta + c: the pseudo-inverse takes the step orthogonal to it;
            # absent contestants (zero rows) stay put.
            step = (np.linalg.pinv(-hess) @ grad[:, :, None])[:, :, 0]
        step = np.clip(step, -2.0, 2.0)  # damped Newton: no wild first steps on lopsided data
        theta = theta + step
        if np.nanmax(np.abs(step), initial=0.0) < tol:
            break
    if prior <= 0:
        cnt = np.maximum(present.sum(axis=1, keepdims=True), 1)
        theta = theta - (theta * present).sum(axis=1, keepdims=True) / cnt
        theta[~_strongly_connected(w, present)] = np.nan
    theta[~present] = np.nan
    return theta


def bt_points(theta: np.ndarray) -> np.ndarray:
    """Natural-log strengths -> Elo-like points: 1000 + 400 log10(p)."""
    return 1000.0 + 400.0 * theta / math.log(10.0)


def bradley_terry(table: pd.DataFrame, prior: float = 1.0) -> dict[str, float]:
    """Bradley–Terry strengths of the battles, in Elo-like points (see the module docstring for the anchor)."""
    names, a, b, s = _encode(table)
    if not names:
        return {}
    w = _win_matrix(len(names), a, b, s, np.ones((1, len(s))))
    return dict(zip(names, bt_points(_bt_theta(w, prior))[0].tolist()))


# ----- the leaderboard ----------------------------------------------------------------------------
def leaderboard(
    votes: Any = (),
    *,
    judgments: Iterable[Mapping[str, Any]] | None = None,
    source: str = "votes",
    k: float = 4.0,
    start: float = 1000.0,
    bt_prior: float = 1.0,
    rounds: int = 1000,
    ci: float = 0.95,
    seed: int | None = None,
    sort_by: str = "bt",
    style_control: bool = False,
) -> pd.DataFrame:
    """Rank the contestants of `votes` (a list of vote records or a VoteBook), best first.

    source: "votes" (people's votes, the default), "judge" (the verdicts in `judgments`: one battle per pair,
        a win when both orders agreed, else a tie) or "both".

    style_control: the Bradley-Terry fit takes each battle's reply length and markdown (headers, list items,
        bold) as covariates, as Chatbot Arena does (see `compare.stats.style`); bt is then the strength left
        once style is accounted for, and `df.attrs["style"]` holds the coefficients with bootstrap intervals.

    Columns: contestant, model, elo, elo_lo, elo_hi, bt, bt_lo, bt_hi, wins, losses, ties, battles (counts are
    battles, not votes). `df.attrs["method"]` states the parameters, the anchors and how the intervals were made;
    `df.attrs["separability"]` is the share of contestant pairs whose bt intervals do not overlap.
    """
    votes = battle_records(votes, judgments or [], source)
    judged = sum(1 for r in votes if "judge" in r)
    if sort_by not in ("bt", "elo"):
        raise ValueError(f"sort_by must be 'bt' or 'elo', got {sort_by!r}")
    if not 0 < ci < 1:
        raise ValueError(f"ci must be between 0 and 1, got {ci!r}")
    if rounds < 0:
        raise ValueError(f"rounds must be >= 0, got {rounds!r}")
    table = battles(votes, replies=True)
    method = {
        "battles": "best beats each other column of its vote; tie and bad: every pair ties",
        "elo": {"k": k, "start": start, "order": "sequential, in vote order"},
        "bt": {"prior": bt_prior, "scale": "1000 + 400*log10(strength)",
               "anchor": ("reference contestant at 1000 points, met in `prior` virtual ties by everyone"
                          if bt_prior > 0 else "mean log-strength = 1000 points (plain MLE)"),
               "ties": "half a win each way", "fit": "Newton's method on the log-likelihood"},
        "ci": {"level": ci, "rounds": rounds, "seed": seed,
               "kind": "percentile bootstrap over battles resampled with replacement (Elo replayed in time order)"},
        "sorted_by": sort_by,
        "source": source,
        "votes": len(votes) - judged,
        "judgments": judged,
        "battle_count": len(table),
    }
    if style_control:
        method["bt"]["style_control"] = ("covariates: (a - b) / (a + b) of reply words, markdown headers, list "
                                         "items and bold spans, standardised; logistic BT fit")
    if table.empty:
        df = pd.DataFrame(columns=LEADERBOARD_COLUMNS)
        df.attrs["method"] = method
        df.attrs["separability"] = method["separability"] = None
        return df
    names, a, b, s = _encode(table)
    n, m = len(names), len(s)
    elo = _elo_runs(n, a, b, s, np.arange(m)[None, :], k, start)[0]
    covariates = _style_covariates(table) if style_control else None
    bt, beta = _fit_bt(n, a, b, s, np.ones((1, m)), bt_prior, covariates)
    bt = bt[0]
    lo_q, hi_q = 100 * (1 - ci) / 2, 100 * (1 + ci) / 2
    boot_beta = None
    if rounds:
        rng = np.random.default_rng(seed)
        idx = np.sort(rng.integers(0, m, size=(rounds, m)), axis=1)  # resample, keep time order
        boot_elo = _elo_runs(n, a, b, s, idx, k, start)
        weights = np.zeros((rounds, m))
        np.add.at(weights, (np.repeat(np.arange(rounds), m), idx.ravel()), 1.0)
        boot_bt, boot_beta = _fit_bt(n, a, b, s, weights, bt_prior, covariates)
        elo_lo, elo_hi = np.percentile(boot_elo, [lo_q, hi_q], axis=0)
        with np.errstate(all="ignore"):
            ok = ~np.all(np.isnan(boot_bt), axis=0)
            bt_lo = np.full(n, np.nan)
            bt_hi = np.full(n, np.nan)
            if ok.any():
                bt_lo[ok], bt_hi[ok] = np.nanpercentile(boot_bt[:, ok], [lo_q, hi_q], axis=0)
        method["ci"]["bt_rounds_used"] = int(np.sum(~np.all(np.isnan(boot_bt), axis=1)))
    else:
        elo_lo = elo_hi = bt_lo = bt_hi = np.full(n, np.nan)
    models: dict[str, list[str]] = {}
    for name, model in list(zip(table["a"], table["model_a"])) + list(zip(table["b"], table["model_b"])):
        models.setdefault(name, [])
        if model and model not in models[name]:
            models[name].append(model)
    rows = []
    for i, name in enumerate(names):
        as_a, as_b = table[table["a"] == name]["score_a"], table[table["b"] == name]["score_a"]
        wins = int((as_a == 1).sum() + (as_b == 0).sum())
        losses = int((as_a == 0).sum() + (as_b == 1).sum())
        ties = int((as_a == 0.5).sum() + (as_b == 0.5).sum())
        rows.append({"contestant": name, "model": " | ".join(models[name]), "elo": elo[i], "elo_lo": elo_lo[i],
                     "elo_hi": elo_hi[i], "bt": bt[i], "bt_lo": bt_lo[i], "bt_hi": bt_hi[i], "wins": wins,
                     "losses": losses, "ties": ties, "battles": wins + losses + ties})
    df = pd.DataFrame(rows, columns=LEADERBOARD_COLUMNS)
    df = df.sort_values([sort_by, "elo" if sort_by == "bt" else "bt", "contestant"],
                        ascending=[False, False, True], na_position="last", kind="mergesort").reset_index(drop=True)
    method["separability"] = df.attrs["separability"] = separability(df)
    if style_control:
        df.attrs["style"] = method["style"] = _style_table(beta[0], boot_beta, lo_q, hi_q)
    df.attrs["method"] = method
    return df


def _fit_bt(n, a, b, s, weights, prior, covariates) -> tuple[np.ndarray, np.ndarray | None]:
    """BT points (R, n) for each row of battle weights, plain or with style covariates (then also beta)."""
    if covariates is None:
        return bt_points(_bt_theta(_win_matrix(n, a, b, s, weights), prior)), None
    from .stats.style import fit_logistic_bt  # compare.stats imports this module: import when needed

    theta, beta = fit_logistic_bt(n, a, b, s, covariates, weights, prior)
    return bt_points(theta), beta


def _style_covariates(table: pd.DataFrame) -> np.ndarray:
    from .stats.style import style_covariates

    if table["reply_a"].isna().all() and table["reply_b"].isna().all():
        raise ValueError("style_control needs the replies' text, and these records have none "
                         "(each column of a vote or judgment needs a 'reply')")
    return style_covariates(table["reply_a"], table["reply_b"])


def _style_table(beta: np.ndarray, boot: np.ndarray | None, lo_q: float, hi_q: float) -> dict[str, Any]:
    from .stats.style import STYLE_FEATURES

    lo = hi = [None] * len(beta)
    if boot is not None:
        lo, hi = (np.percentile(boot, q, axis=0).tolist() for q in (lo_q, hi_q))
    return {f: {"coef": float(beta[i]), "lo": lo[i], "hi": hi[i]} for i, f in enumerate(STYLE_FEATURES)}


def separability(board: pd.DataFrame, lo: str = "bt_lo", hi: str = "bt_hi") -> float | None:
    """Share of contestant pairs whose intervals do not overlap (Arena-Hard's separability); None when fewer
    than two contestants have an interval."""
    ranges = [(x, y) for x, y in zip(board[lo], board[hi]) if pd.notna(x) and pd.notna(y)]
    pairs = [(p, q) for i, p in enumerate(ranges) for q in ranges[i + 1:]]
    if not pairs:
        return None
    return sum(p[0] > q[1] or q[0] > p[1] for p, q in pairs) / len(pairs)


def _num(x: Any, digits: int = 1) -> float | None:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return None
    return round(float(x), digits)


def leaderboard_json(board: pd.DataFrame | Any, metric: str = "bt", digits: int = 1, **kwargs: Any) -> dict[str, Any]:
    """JSON-able leaderboard for the widget: {"rows": [...], "method": {...}, "chart": {...}}.

    `board` is a DataFrame from `leaderboard` or votes (then `kwargs` go to `leaderboard`). The chart is one bar
    per contestant ({label, value, lo, hi}) of `metric` ("bt" or "elo"), with a shared axis range.
    """
    if not isinstance(board, pd.DataFrame):
        board = leaderboard(board, **kwargs)
    if metric not in ("bt", "elo"):
        raise ValueError(f"metric must be 'bt' or 'elo', got {metric!r}")
    rows = []
    for rec in board.to_dict("records"):
        rows.append({key: (_num(val, digits) if key in ("elo", "elo_lo", "elo_hi", "bt", "bt_lo", "bt_hi")
                           else int(val) if key in ("wins", "losses", "ties", "battles") else val)
                     for key, val in rec.items()})
    bars = [{"label": r["contestant"], "value": r[metric], "lo": r[f"{metric}_lo"], "hi": r[f"{metric}_hi"]}
            for r in rows]
    values = [v for bar in bars for v in (bar["value"], bar["lo"], bar["hi"]) if v is not None]
    return {
        "rows": rows,
        "columns": LEADERBOARD_COLUMNS,
        "method": board.attrs.get("method", {}),
        "chart": {"metric": metric, "bars": bars, "min": min(values) if values else None,
                  "max": max(values) if values else None},
    }
