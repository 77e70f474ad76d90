"""A remote column scoring given text, where its server can: vLLM's `prompt_logprobs` on chat completions.

The conversation and the reply go as messages, the reply as the final assistant message continued
(`add_generation_prompt: false, continue_final_message: true`), with `prompt_logprobs: 0` and `max_tokens: 1`:
vLLM renders them with the model's own chat template and answers, per prompt token, `{token id: {logprob, rank,
decoded_token}}` (null for the first). The reply is the prompt's last tokens: they are taken from the end until
their text spells the reply. Our own server answers them too (server/prompt_scoring.py). A server that answers
without `prompt_logprobs` (the OpenAI API, llama.cpp) or refuses the fields cannot score given text: every reply
then says so.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

import httpx

NO_PROMPT_LOGPROBS = ("cannot score: the server at {url} returns no prompt_logprobs (vLLM's extension), so it "
                      "cannot score given text")
IN_FLIGHT = 8  # replies scored at once: the server batches them


def tail_tokens(prompt_logprobs: Any) -> list[tuple[str, float]] | None:
    """vLLM's `prompt_logprobs` as (token text, log-probability) per prompt token (the first, unscored, left
    out); None when it is not in that shape."""
    if not isinstance(prompt_logprobs, list):
        return None
    out = []
    for position in prompt_logprobs:
        if position is None:
            continue
        if not isinstance(position, dict) or not position:
            return None
        entry = next(iter(position.values()))  # prompt_logprobs=0: the prompt's own token only
        if not isinstance(entry, dict) or not isinstance(entry.get("logprob"), (int, float)):
            return None
        out.append((str(entry.get("decoded_token") or ""), float(entry["logprob"])))
    return out


def align_tail(tokens: Sequence[tuple[str, float]], text: str) -> tuple[list[tuple[int, int]], list[float]] | None:
    """The last tokens that spell `text` (up to surrounding whitespace): their spans in `text` and log-probs."""
    target = text.strip()
    spelled, k = "", len(tokens)
    while k > 0 and len(spelled.strip()) < len(target):
        k -= 1
        spelled = tokens[k][0] + spelled
    if not target or spelled.strip() != target:
        return None
    pos = text.find(target) - (len(spelled) - len(spelled.lstrip()))
    spans, n = [], len(text)
    for piece, _ in tokens[k:]:
        spans.append((min(max(pos, 0), n), min(max(pos + len(piece), 0), n)))
        pos += len(piece)
    return spans, [lp for _, lp in tokens[k:]]


def score_remote(bot: Any, settings: dict[str, Any], items: Sequence[Any]) -> list[Any]:
    """Every item (a cross_scores.Text) under a remote column's model: a Scored, or an error text per item."""
    from .cross_scores import Scored

    _, prompt_kwargs, _ = bot.merge_settings(settings)
    url = bot._url("/chat/completions")

    def one(item: Any) -> Any:
        messages = bot.build_prompt(item.query, prompt_kwargs) + [{"role": "assistant", "content": item.text}]
        body = {"model": bot.resolve_model(), "messages": messages, "max_tokens": 1, "temperature": 0,
                "stream": False, "prompt_logprobs": 0, "add_generation_prompt": False,
                "continue_final_message": True}
        try:
            response = bot.client.post(url, json=body, headers=bot._headers(), timeout=bot.timeout)
        except httpx.HTTPError as exc:
            return f"cannot score: {bot._transport_error(exc, url)}"
        if response.status_code != 200:
            refused = bot._status_error(response, response.content)
            return f"cannot score: the server refused vLLM's prompt_logprobs ({refused})"
        try:
            tokens = tail_tokens(response.json().get("prompt_logprobs"))
        except (ValueError, AttributeError):
            tokens = None
        if tokens is None:
            return NO_PROMPT_LOGPROBS.format(url=bot.base_url)
        aligned = align_tail(tokens, item.text)
        if aligned is None:
            return "cannot score: the server's last prompt tokens do not spell the reply"
        spans, logprobs = aligned
        return Scored(spans=spans, logprobs=logprobs, retokenised=True)

    with ThreadPoolExecutor(max_workers=max(1, min(IN_FLIGHT, len(items))), thread_name_prefix="chatzoo-score") as pool:
        return list(pool.map(one, items))
