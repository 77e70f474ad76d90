"""Style control for Bradley-Terry, as Chatbot Arena does it: a reply's length and its markdown (headers, list
items, bold spans) enter the logistic BT fit as covariates, so a contestant's strength is what is left once
"longer and more formatted" is accounted for.

Per battle and feature f: (f_a - f_b) / (f_a + f_b) (0 when both are 0), then divided by its standard deviation
over the battles; a coefficient is the log-odds of winning per standard deviation of that difference.
"""

from __future__ import annotations

import re

import numpy as np

STYLE_FEATURES = ("length", "headers", "list_items", "bold")
_HEADER = re.compile(r"^\s{0,3}#{1,6}\s", re.M)
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s", re.M)
_BOLD = re.compile(r"\*\*[^*\n]+\*\*|__[^_\n]+__")


def style_counts(reply: str | None) -> np.ndarray:
    """length (words), markdown headers, list items and bold spans of one reply."""
    text = reply or ""
    return np.array([len(text.split()), len(_HEADER.findall(text)), len(_LIST_ITEM.findall(text)),
                     len(_BOLD.findall(text))], dtype=float)


def style_covariates(replies_a, replies_b) -> np.ndarray:
    """(battles, 4) normalised, standardised style differences of a's reply over b's."""
    fa = np.array([style_counts(r) for r in replies_a]).reshape(-1, len(STYLE_FEATURES))
    fb = np.array([style_counts(r) for r in replies_b]).reshape(-1, len(STYLE_FEATURES))
    total = fa + fb
    with np.errstate(invalid="ignore", divide="ignore"):
        diff = np.where(total > 0, (fa - fb) / np.where(total > 0, total, 1), 0.0)
    sd = diff.std(axis=0)
    return diff / np.where(sd > 0, sd, 1.0)


def fit_logistic_bt(n: int, a: np.ndarray, b: np.ndarray, s: np.ndarray, covariates: np.ndarray,
                    weights: np.ndarray, prior: float = 1.0, tol: float = 1e-9,
                    max_iter: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Bradley-Terry with covariates by batched Newton steps on the logistic log-likelihood.

    P(a beats b) = sigmoid(theta_a - theta_b + covariates @ beta); a tie (s = 0.5) counts half a win each way.
    weights (R, m): each battle's multiplicity in each of R fits (bootstrap resamples).
    prior > 0: every contestant plays `prior` virtual ties with a reference at theta 0 (as `bt_prior`);
    prior = 0: a vanishing ridge keeps the fit defined and theta is centred to mean 0 afterwards.
    Returns theta (R, n) and beta (R, covariates).
    """
    m, k = covariates.shape
    x = np.zeros((m, n + k))
    x[np.arange(m), a] += 1.0
    x[np.arange(m), b] -= 1.0
    x[:, n:] = covariates
    y = np.asarray(s, dtype=float)
    w = np.asarray(weights, dtype=float)
    if prior > 0:  # virtual ties with the reference: rows e_i, target 1/2
        x = np.vstack([x, np.hstack([np.eye(n), np.zeros((n, k))])])
        y = np.concatenate([y, np.full(n, 0.5)])
        w = np.hstack([w, np.full((w.shape[0], n), float(prior))])
    ridge = 1e-6 * np.eye(n + k)
    coef = np.zeros((w.shape[0], n + k))
    for _ in range(max_iter):
        p = 1.0 / (1.0 + np.exp(-(coef @ x.T)))
        grad = (w * (y - p)) @ x
        hess = np.einsum("rm,mi,mj->rij", w * p * (1 - p), x, x) + ridge
        step = np.clip(np.linalg.solve(hess, grad[:, :, None])[:, :, 0], -2.0, 2.0)
        coef = coef + step
        if np.max(np.abs(step)) < tol:
            break
    theta, beta = coef[:, :n], coef[:, n:]
    games = (w[:, :m] @ (np.abs(x[:m, :n]) > 0)) > 0
    if prior <= 0:
        cnt = np.maximum(games.sum(axis=1, keepdims=True), 1)
        theta = theta - (theta * games).sum(axis=1, keepdims=True) / cnt
    theta = np.where(games, theta, np.nan)
    return theta, beta
