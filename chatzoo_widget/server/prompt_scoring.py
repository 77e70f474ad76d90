"""vLLM's `prompt_logprobs` for the served model: one forward pass over the prompt, on the model's scheduler thread.

The prompt is the one the model answers from: the conversation in its own prompt format (chat template, system
prompt), then the continued assistant message's tokens when there is one (tokenised as a branch's start is, without
special tokens). Every token after the first gets `{token id: {logprob, rank, decoded_token}}`, its own entry first,
then the `k` likeliest tokens at that position (natural log, after no processor: the model's own distribution).
"""

from __future__ import annotations

from typing import Any

from ..bots.token_logprobs import TokenTexts

#: the logits one pass may hold (float32 bytes), as cross-scoring's teacher forcing allows
LOGITS_BUDGET = 2 << 30


def why_cannot_score(bot: Any) -> str | None:
    """Why the served bot cannot score its prompt (None: it can)."""
    if not all(hasattr(bot, name) for name in ("model", "tokenizer", "scheduler", "get_input")):
        return f"model {bot.name!r} ({type(bot).__name__}) has no local model to score a prompt with"
    if getattr(bot, "model", None) is None:
        return f"model {bot.name!r} was released"
    if getattr(bot, "seq2seq", False):
        return f"model {bot.name!r} is an encoder-decoder model: it does not read its reply after the prompt"
    return None


def prompt_ids(bot: Any, query: list[dict[str, str]], settings: dict[str, Any], prefix: str | None) -> list[int]:
    """The ids of the prompt the model answers `query` from, with the continued start `prefix` after it."""
    _, prompt_kwargs, _ = bot.merge_settings(settings)
    ids = [int(i) for i in bot.get_input(bot.build_prompt(query, prompt_kwargs))["input_ids"].reshape(-1).tolist()]
    if prefix:
        ids += [int(i) for i in bot.tokenizer(prefix, add_special_tokens=False)["input_ids"]]
    return ids


def score_prompt(bot: Any, ids: list[int], top: int) -> list[dict[str, dict[str, Any]] | None]:
    """`prompt_logprobs` for `ids` under `bot`'s model: null for the first token, then one dict per token.
    ValueError when the pass would hold more logits than LOGITS_BUDGET."""
    import torch

    vocab = int(getattr(bot.model.config, "vocab_size", None) or len(bot.tokenizer))
    if len(ids) * vocab * 4 > LOGITS_BUDGET:
        raise ValueError(f"the prompt has {len(ids)} tokens: scoring it would hold more than "
                         f"{LOGITS_BUDGET >> 30} GiB of logits under a vocabulary of {vocab}")
    if len(ids) < 2:
        return [None] * len(ids)

    def forward() -> tuple[list[float], list[int], list[list[int]], list[list[float]]]:
        device = getattr(bot.model, "device", torch.device("cpu"))
        row = torch.tensor([ids], dtype=torch.long, device=device)
        with torch.inference_mode():
            logits = bot.model(input_ids=row, use_cache=False).logits[0, :-1].float()
            logp = torch.log_softmax(logits, dim=-1)
            target = row[0, 1:]
            own = logp.gather(-1, target[:, None])[:, 0]
            rank = (logp > own[:, None]).sum(-1) + 1
            best = logp.topk(top, dim=-1) if top else None
        return (own.tolist(), rank.tolist(), best.indices.tolist() if best is not None else [],
                best.values.tolist() if best is not None else [])

    own, rank, top_ids, top_values = bot.scheduler.run_between_steps(forward).result()
    texts = TokenTexts(bot.tokenizer)
    out: list[dict[str, dict[str, Any]] | None] = [None]
    for j, token in enumerate(ids[1:]):
        position = {str(token): {"logprob": _finite(own[j]), "rank": int(rank[j]), "decoded_token": texts(token)[0]}}
        for r, (alt, value) in enumerate(zip(top_ids[j] if top else (), top_values[j] if top else ()), start=1):
            position.setdefault(str(alt), {"logprob": _finite(value), "rank": r, "decoded_token": texts(alt)[0]})
        out.append(position)
    return out


def _finite(x: float) -> float:
    return float(x) if x > float("-inf") else -9999.0  # JSON has no -inf (as token_logprobs does)


__all__ = ["LOGITS_BUDGET", "why_cannot_score", "prompt_ids", "score_prompt"]
