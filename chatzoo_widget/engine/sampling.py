"""How each row of a batch picks its next token.

Each request gets the GenerationConfig that `model.generate(**gen_kwargs)` would build, and from it the logits
processors generate would use that read the tokens so far (repetition penalty, suppressed tokens, minimum length,
...), applied to that row alone. The sampling warpers (temperature, top-k, top-p) differ per row but are cheap to
apply to every sampling row at once, so `pick_tokens` does that in one pass over the batch; a row asking for a warper
beyond those three (min_p, typical_p, ...) gets generate's full processor list instead.

Sampling draws from the request's own torch.Generator: a seeded request gives the same reply alone and in any batch,
and nothing touches torch's process-wide random state.

Token probabilities (`pick_tokens_scored`, for the rows that ask): the log-softmax of the scores the row's token was
picked from *after* the processors that read the tokens so far (repetition penalty, no-repeat n-grams, minimum
length, suppressed and bad words) and *before* the sampling warpers (temperature, top-k, top-p, min-p, typical-p).
So a greedy row's token is always its top-1 alternative, two columns that differ only in temperature report the same
model distribution, and the alternatives are never cut to -inf by a top-k or top-p. `model.generate` applies a
custom logits processor at that same point (after its processors, before its warpers), which is how a request that
runs alone records the same numbers (bots/transformers.py).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
from transformers import LogitsProcessor

# Warpers the batched path applies itself; any other warper sends the row through generate's processor list.
_OWN_WARPERS = {"TemperatureLogitsWarper", "TopKLogitsWarper", "TopPLogitsWarper"}
TOP_K_UNLIMITED = 0


@dataclass
class RowDecoding:
    """Per-request decoding state."""

    processors: Any  # LogitsProcessorList applied to this row before sampling (may be empty), warpers excluded
    do_sample: bool
    temperature: float
    top_k: int  # 0: no limit
    top_p: float
    max_new_tokens: int
    eos: frozenset[int]
    generator: torch.Generator
    full_library: bool  # a warper the batched path lacks: `warpers` holds generate's own, applied after processors
    warpers: Any = ()  # LogitsProcessorList of generate's warpers (full_library rows only)


@dataclass
class TokenScores:
    """One generated token's log-probability and its row's likeliest tokens (ids and log-probabilities, best
    first; as many as the request asked for)."""

    logprob: float
    top_ids: list[int]
    top_logprobs: list[float]


def generation_config_for(model: Any, gen_kwargs: dict[str, Any]) -> Any:
    """The GenerationConfig `model.generate(**gen_kwargs)` would use."""
    kwargs = {k: v for k, v in gen_kwargs.items() if k not in ("streamer", "stopping_criteria", "pad_token_id")}
    config, _ = model._prepare_generation_config(None, **kwargs)
    return config


def row_decoding(model: Any, gen_kwargs: dict[str, Any], prompt_length: int, seed: int, device: Any) -> RowDecoding:
    config = generation_config_for(model, gen_kwargs)

    def processors_of(cfg: Any) -> Any:
        return model._get_logits_processor(generation_config=cfg, input_ids_seq_length=prompt_length,
                                           device=str(device), model_kwargs={})

    full = processors_of(config)
    full_library = bool(config.do_sample) and any(
        type(p).__name__.endswith("Warper") and type(p).__name__ not in _OWN_WARPERS for p in full
    )
    processors, warpers = full, ()
    if config.do_sample:
        plain = copy.deepcopy(config)
        plain.do_sample = False  # the same list without the warpers, which generate appends last
        processors = processors_of(plain)
        if full_library:
            warpers = type(full)(full[len(processors):])
    eos = config.eos_token_id
    eos_set = frozenset() if eos is None else frozenset([eos] if isinstance(eos, int) else [int(e) for e in eos])
    max_new = config.max_new_tokens if config.max_new_tokens is not None else max(1, config.max_length - prompt_length)
    return RowDecoding(
        processors=processors,
        do_sample=bool(config.do_sample),
        temperature=float(config.temperature if config.temperature is not None else 1.0),
        top_k=int(config.top_k or TOP_K_UNLIMITED),
        top_p=float(config.top_p if config.top_p is not None else 1.0),
        max_new_tokens=int(max_new),
        eos=eos_set,
        generator=torch.Generator().manual_seed(seed),  # on the CPU: draws never depend on the device
        full_library=full_library,
        warpers=warpers,
    )


def pick_tokens(rows: list[RowDecoding], logits: torch.Tensor, seen: list[list[int]]) -> list[int | BaseException]:
    """The next token of every row ([rows, vocab] float32 logits; seen: each row's tokens so far).

    A row whose processing fails gets the exception in its place; the other rows are unaffected.
    """
    return _pick(rows, logits, seen, None)[0]


def pick_tokens_scored(rows: list[RowDecoding], logits: torch.Tensor, seen: list[list[int]],
                       top: list[int | None]) -> tuple[list[int | BaseException], list[TokenScores | None]]:
    """`pick_tokens`, plus each asking row's TokenScores (top[i]: alternatives row i keeps, None: it did not ask).

    Only the rows that asked are scored, in one log-softmax over them."""
    return _pick(rows, logits, seen, top)


def _pick(rows: list[RowDecoding], logits: torch.Tensor, seen: list[list[int]],
          top: list[int | None] | None) -> tuple[list[int | BaseException], list[TokenScores | None]]:
    out: list[int | BaseException] = [0] * len(rows)
    scores = logits
    failed: set[int] = set()
    for i, row in enumerate(rows):  # per-row processors first: only rows that have any
        if len(row.processors):
            try:
                ids = torch.tensor([seen[i]], dtype=torch.long, device=logits.device)
                row_scores = row.processors(ids, logits[i:i + 1])
                if scores is logits:
                    scores = logits.clone()
                scores[i] = row_scores[0]
            except Exception as exc:  # noqa: BLE001 - this row ends with the error
                out[i], failed = exc, failed | {i}
    greedy = [i for i, r in enumerate(rows) if i not in failed and not r.do_sample]
    if greedy:
        for i, token in zip(greedy, scores[greedy].argmax(dim=-1).tolist()):
            out[i] = token
    for i, row in enumerate(rows):  # full library path: generate's own warpers, then a draw from what they left
        if i not in failed and row.do_sample and row.full_library:
            try:
                ids = torch.tensor([seen[i]], dtype=torch.long, device=logits.device)
                warped = row.warpers(ids, scores[i:i + 1].clone())[0]
                out[i] = int(torch.multinomial(torch.softmax(warped, -1).cpu(), 1, generator=row.generator)[0])
            except Exception as exc:  # noqa: BLE001 - this row ends with the error
                out[i], failed = exc, failed | {i}
    sampled = [i for i, r in enumerate(rows) if i not in failed and r.do_sample and not r.full_library]
    if sampled:
        _sample_rows([rows[i] for i in sampled], scores[sampled], [out, sampled])
    scored: list[TokenScores | None] = [None] * len(rows)
    asking = [i for i in range(len(rows)) if top is not None and top[i] is not None and i not in failed]
    if asking:
        _score_rows(scores[asking], [out[i] for i in asking], [int(top[i]) for i in asking],
                    [scored, asking])
    return out, scored


def _score_rows(scores: torch.Tensor, tokens: list, ks: list[int], where: list) -> None:
    """Each row's chosen token's log-probability and its top-k, from one log-softmax over the rows that asked."""
    scored, index = where
    logprobs = torch.log_softmax(scores, dim=-1)
    chosen = logprobs.gather(1, torch.tensor(tokens, dtype=torch.long, device=scores.device)[:, None])[:, 0].tolist()
    kmax = max(ks)
    top_values, top_ids = (logprobs.topk(kmax, dim=-1) if kmax else (logprobs[:, :0], logprobs[:, :0].long()))
    top_values, top_ids = top_values.tolist(), top_ids.tolist()
    for n, i in enumerate(index):
        scored[i] = TokenScores(chosen[n], top_ids[n][:ks[n]], top_values[n][:ks[n]])


def _sample_rows(rows: list[RowDecoding], scores: torch.Tensor, where: list) -> None:
    """Temperature, top-k and top-p for several rows in one pass, then a draw from each row's own generator.

    A row's draw must depend on its own settings only (torch.multinomial's result depends on the length of what it
    draws from), so each row draws from its own candidates: the whole vocabulary in order when it truncates nothing,
    else its own top-k (sorted), with the tokens outside its top-p given zero probability.
    """
    out, index = where
    temperature = torch.tensor([r.temperature for r in rows], dtype=scores.dtype, device=scores.device)[:, None]
    scores = scores / temperature
    vocab = scores.shape[-1]
    ks = [min(r.top_k, vocab) if r.top_k > 0 else vocab for r in rows]
    whole = [j for j, r in enumerate(rows) if ks[j] == vocab and r.top_p >= 1.0]
    if whole:
        probs = torch.softmax(scores[whole], dim=-1).cpu()
        for n, j in enumerate(whole):
            out[index[j]] = int(torch.multinomial(probs[n], 1, generator=rows[j].generator)[0])
    cut = [j for j in range(len(rows)) if j not in set(whole)]
    if not cut:
        return
    kmax = max(ks[j] for j in cut)
    sub = scores[cut]
    # topk returns the candidates sorted (largest first): top-k and top-p both work on that short list.
    values, tokens = torch.topk(sub, kmax, dim=-1) if kmax < vocab else torch.sort(sub, dim=-1, descending=True)
    rank = torch.arange(kmax, device=scores.device)[None, :]
    values = values.masked_fill(rank >= torch.tensor([ks[j] for j in cut], device=scores.device)[:, None],
                                float("-inf"))
    probs = torch.softmax(values, dim=-1)
    before = probs.cumsum(dim=-1) - probs  # mass of the likelier candidates
    top_p = torch.tensor([rows[j].top_p for j in cut], dtype=probs.dtype, device=probs.device)[:, None]
    keep = (before < top_p) | (rank == 0)  # as TopPLogitsWarper: at least the likeliest token stays
    probs, tokens = probs.masked_fill(~keep, 0.0).cpu(), tokens.cpu()
    for n, j in enumerate(cut):
        choice = torch.multinomial(probs[n, :ks[j]], 1, generator=rows[j].generator)
        out[index[j]] = int(tokens[n, choice])


class ScoreRecorder(LogitsProcessor):
    """Records token scores inside `model.generate` (the run-alone path), as `pick_tokens_scored` does in the batch.

    Passed in generate's `logits_processor`, it runs after generate's own processors and before its warpers: the
    same scores the batch reports. It changes nothing; `chosen(token)`, called with each token generate picked (by
    the streamer, right after the pick), turns the last step's log-softmax into that token's TokenScores.
    """

    def __init__(self, top: int):
        self.top = top
        self.scores: list[TokenScores] = []
        self._pending: tuple[torch.Tensor, list[int], list[float]] | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if scores.shape[0] == 1:  # one sequence (beam search has several: not recorded)
            logprobs = torch.log_softmax(scores[0].float(), dim=-1)
            values, ids = logprobs.topk(self.top) if self.top else (logprobs[:0], logprobs[:0].long())
            self._pending = (logprobs, ids.tolist(), values.tolist())
        return scores

    def chosen(self, token: int) -> None:
        if self._pending is not None:
            logprobs, ids, values = self._pending
            self._pending = None
            self.scores.append(TokenScores(float(logprobs[token]), ids, values))
