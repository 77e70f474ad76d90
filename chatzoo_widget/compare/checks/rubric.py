"""Model-graded checks: llm-rubric (does the output meet a rubric? -> pass, score, reason) and select-best (which
of the columns' outputs meets the criteria best?), asked of a grader model through its ChatBOT."""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from ...bots.base import ChatBOT
from ...manager import format_error
from .context import CheckContext
from .jsonout import extract_json
from .spec import Check

GRADER_SETTINGS = {"do_sample": False, "temperature": 0.0, "max_new_tokens": 512}

RUBRIC_PROMPT = """Grade the output below against the rubric. The output passes when what the rubric says holds for it.
Answer with one JSON object and nothing else:
{{"reason": "<one or two sentences>", "pass": true or false, "score": <a number from 0.0 to 1.0>}}

<Output>
{output}
</Output>

<Rubric>
{rubric}
</Rubric>"""

SELECT_PROMPT = """Here are {n} outputs, numbered from 0. Pick the one that best meets the criteria.
Answer with the number of the best output and nothing else.

<Criteria>
{criteria}
</Criteria>

{outputs}"""


class BotGrader:
    """A grader model: `grade(check, ctx)` for llm-rubric, `select_best(criteria, outputs)` for select-best.

    Thread-safe (each call is its own request; a batching model decodes them together). Raises on a failed or
    unparsable reply: the check becomes an error, the others are unaffected."""

    def __init__(self, bot: ChatBOT, name: str, *, settings: Mapping[str, Any] | None = None,
                 timeout: float | None = None, stopped: threading.Event | None = None):
        self.bot, self.name, self.timeout = bot, name, timeout
        self.stopped = stopped or threading.Event()
        spec = bot.settings_spec()
        wanted = {k: v for k, v in GRADER_SETTINGS.items() if k in spec}
        self.settings = spec.validate({**wanted, **(settings or {})})

    def ask(self, prompt: str) -> str:
        ev = threading.Event()
        if self.stopped.is_set():
            raise RuntimeError("stopped")
        timer = threading.Timer(self.timeout, ev.set) if self.timeout else None
        if timer:
            timer.daemon = True
            timer.start()
        try:
            stream = self.bot.stream([{"role": "HUMAN", "content": prompt}], stop_event=ev, **self.settings)
            text = stream.consume()
        finally:
            if timer:
                timer.cancel()
        reason = stream.stats.finish_reason
        if reason == "error":
            raise RuntimeError(f"the grader {self.name} failed: {stream.stats.error or 'generation failed'}")
        if reason == "cancelled":
            raise RuntimeError(f"the grader {self.name} took longer than {self.timeout:g} s"
                               if self.timeout else "stopped")
        return text

    def __call__(self, check: Check, ctx: CheckContext) -> dict[str, Any]:
        return self.grade(check, ctx)

    def grade(self, check: Check, ctx: CheckContext) -> dict[str, Any]:
        text = self.ask(RUBRIC_PROMPT.format(output=ctx.output, rubric=check.value))
        verdict = next((v for v in extract_json(text) if isinstance(v, dict) and "pass" in v), None)
        if verdict is None:
            tail = " ".join(text.split())[-80:]
            raise ValueError(f"the grader {self.name} gave no JSON verdict with 'pass'"
                             + (f"; its reply ended: {tail!r}" if tail else "; its reply was empty"))
        passed = verdict["pass"] is True or str(verdict["pass"]).lower() == "true"
        try:
            score = float(verdict.get("score", 1.0 if passed else 0.0))
        except (TypeError, ValueError):
            score = 1.0 if passed else 0.0
        return {"pass": passed, "score": score, "reason": str(verdict.get("reason") or "")}

    def select_best(self, criteria: str, outputs: Sequence[str]) -> int:
        listed = "\n\n".join(f"<Output {i}>\n{o}\n</Output {i}>" for i, o in enumerate(outputs))
        text = self.ask(SELECT_PROMPT.format(n=len(outputs), criteria=criteria, outputs=listed))
        found = re.search(r"\d+", text)
        if found is None or not 0 <= int(found.group()) < len(outputs):
            raise ValueError(f"the grader {self.name} named no output from 0 to {len(outputs) - 1}: "
                             f"{' '.join(text.split())[-80:]!r}")
        return int(found.group())


class UnavailableGrader:
    """A grader that could not load: each of its checks becomes an error naming why."""

    def __init__(self, name: str, error: BaseException | str):
        self.name = name
        self.error = error if isinstance(error, str) else format_error(error)

    def __call__(self, check: Check, ctx: CheckContext) -> dict[str, Any]:
        raise RuntimeError(f"the grader {self.name} is unavailable: {self.error}")

    def select_best(self, criteria: str, outputs: Sequence[str]) -> int:
        raise RuntimeError(f"the grader {self.name} is unavailable: {self.error}")


def select_best_results(check: Check, outputs: Sequence[str], grader: Any) -> list[dict[str, Any]]:
    """One result per output: the chosen one passes (score 1), the others fail (score 0); `not-select-best`
    inverts. A grader that fails makes every result an error."""
    base = {"type": check.type, "metric": check.metric, "weight": check.weight}
    try:
        if grader is None:
            raise RuntimeError("select-best needs a grader: give the check a 'provider' or run_batch(grader=...)")
        best = grader.select_best(check.value, outputs)
    except Exception as exc:
        reason = f"select-best could not run: {format_error(exc)}"
        return [{**base, "pass": False, "score": 0.0, "reason": reason, "error": reason} for _ in outputs]
    results = []
    for i in range(len(outputs)):
        chosen = (i == best) != check.inverse
        results.append({**base, "pass": chosen or check.weight == 0, "score": float(chosen), "error": None,
                        "reason": "Output selected as the best" if i == best else f"Output {best} was selected"})
    return results
