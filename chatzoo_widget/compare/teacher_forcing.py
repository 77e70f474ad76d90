"""Teacher forcing: the log-probability a causal LM gives each token of a text that follows a prompt.

Several (prompt, reply) rows go through one forward pass: left-padded with an attention mask (and position ids
counted from each row's first real token, as the engine's scheduler does), so every row sees exactly what it would
see alone. Only the logits of the reply positions are kept (`logits_to_keep`), and the log-softmax is taken one row
at a time, so the memory is rows x reply length x vocabulary once, not again per step. Callers size the rows of one
pass with `rows_per_pass`.
"""

from __future__ import annotations

import inspect
from typing import Any, Sequence

import torch

#: the logits one forward pass may hold (float32 bytes): 4 replies of up to 500 tokens under Gemma 3's 262k vocabulary
LOGITS_BUDGET = 2 << 30


def rows_per_pass(reply_tokens: int, vocab_size: int, budget: int = LOGITS_BUDGET) -> int:
    """How many rows whose longest reply has `reply_tokens` tokens fit one pass's logits budget (at least 1)."""
    return max(1, budget // max(1, (reply_tokens + 1) * vocab_size * 4))


def _takes(model: Any, name: str) -> bool:
    try:
        return name in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return False


def reply_logprobs(model: Any, rows: Sequence[tuple[Sequence[int], Sequence[int]]],
                   pad_token_id: int = 0) -> list[list[float]]:
    """For each (prompt ids, reply ids) row: log P(reply[j] | prompt + reply[:j]) for every j, in one forward pass.

    The prompt must hold at least one token (the first reply token is predicted from the prompt's last). Runs on the
    caller's thread: call it where the model may run (the scheduler's thread, see `Scheduler.run_between_steps`).
    """
    if not rows:
        return []
    for prompt, reply in rows:
        if not prompt:
            raise ValueError("teacher forcing needs a prompt of at least one token before the reply")
    device = getattr(model, "device", torch.device("cpu"))
    width = max(len(p) + len(r) for p, r in rows)
    longest = max(len(r) for _, r in rows)
    ids = torch.full((len(rows), width), int(pad_token_id), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for b, (prompt, reply) in enumerate(rows):
        seq = list(prompt) + list(reply)
        ids[b, width - len(seq):] = torch.tensor(seq, dtype=torch.long)
        mask[b, width - len(seq):] = 1
    ids, mask = ids.to(device), mask.to(device)
    kwargs: dict[str, Any] = {"attention_mask": mask, "use_cache": False}
    if _takes(model, "position_ids"):
        kwargs["position_ids"] = (mask.cumsum(-1) - 1).clamp(min=0)
    keep = longest + 1  # the logits before each reply token, and the one after the last (dropped)
    if _takes(model, "logits_to_keep"):
        kwargs["logits_to_keep"] = keep
    with torch.inference_mode():
        logits = model(input_ids=ids, **kwargs).logits[:, -keep:-1]
        out = []
        for b, (_, reply) in enumerate(rows):
            if not reply:
                out.append([])
                continue
            row = torch.log_softmax(logits[b, longest - len(reply):].float(), dim=-1)
            target = torch.tensor(list(reply), dtype=torch.long, device=row.device)
            out.append(row.gather(-1, target[:, None])[:, 0].tolist())
    return out
