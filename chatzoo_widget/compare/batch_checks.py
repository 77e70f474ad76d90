"""What a batch run checks: the rows (compare/datasets.py), the checks for every row and each row's own, and the
graders of model-graded checks, resolved once before the run; then each reply's pass, score and check results."""

from __future__ import annotations

import os
import pathlib
from dataclasses import dataclass, field
from typing import Any

from ..manager import ChatManager, format_error
from .checks import Check, CheckContext, evaluate, parse_checks
from .checks.rubric import BotGrader, UnavailableGrader, select_best_results
from .checks.scoring import aggregate
from .datasets import DataRow, load_rows


@dataclass
class BatchPlan:
    """The rows of a batch and their checks, validated before anything runs."""

    rows: list[DataRow]
    checks: list[Check] = field(default_factory=list)
    row_checks: list[list[Check]] = field(default_factory=list)
    base: str = "."  # where `file://` python checks are read from

    @property
    def scripts(self) -> list[list[str]]:
        return [r.turns for r in self.rows]

    @property
    def checked(self) -> bool:
        return bool(self.checks) or any(self.row_checks)

    def checks_of(self, s: int) -> list[Check]:
        own = self.row_checks[s]
        return self.checks + own if own else self.checks  # no copy per reply when the row has none of its own

    def graders_wanted(self, default: Any) -> dict[str, Any]:
        """{key: provider} of every grader a graded check needs (`default` for those naming none)."""
        wanted: dict[str, Any] = {}
        for s in range(len(self.rows)):
            for c in _flat(self.checks_of(s)):
                if c.base in ("llm-rubric", "select-best"):
                    provider = c.provider if c.provider is not None else default
                    if provider is not None:
                        wanted[grader_key(provider)] = provider
        return wanted


def _flat(checks: list[Check]) -> list[Check]:
    return [x for c in checks for x in ([c] + c.children)]


def grader_key(provider: Any) -> str:
    return provider if isinstance(provider, str) else repr(provider)


def plan_batch(data: Any, *, checks: Any = None, template: Any = None, limit: int | None = None,
               shuffle: bool | int | None = None) -> BatchPlan:
    """Rows and checks from `run_batch`'s arguments; raises ValueError/FileNotFoundError for bad ones."""
    if isinstance(data, BatchPlan):
        return data
    rows = load_rows(data, template=template, limit=limit, shuffle=shuffle)
    common = parse_checks(checks)
    per_row = [parse_checks(r.checks, f"row {r.id!r} assert") if r.checks else [] for r in rows]
    base = "."
    if isinstance(data, (str, os.PathLike)) and pathlib.Path(data).suffix:
        base = str(pathlib.Path(data).parent)
    return BatchPlan(rows, common, per_row, base)


class Graders:
    """The graders of a run, each leased from the model pool like a judge (a column's name shares its model); one
    that cannot load marks only its checks as errors."""

    def __init__(self, plan: BatchPlan, default: Any, manager: ChatManager, timeout: float | None, stopped):
        from .judge import judge_source
        self.default = default
        self.by_key: dict[str, Any] = {}
        self.leases: list[Any] = []
        for key, provider in plan.graders_wanted(default).items():
            try:
                source = judge_source(provider, manager)
                lease = source.acquire()
                self.leases.append(lease)
                self.by_key[key] = BotGrader(lease.bot(), source.name, settings=source.settings, timeout=timeout,
                                             stopped=stopped)
            except Exception as exc:
                self.by_key[key] = UnavailableGrader(str(provider), exc)

    def for_check(self, check: Check) -> Any:
        provider = check.provider if check.provider is not None else self.default
        return None if provider is None else self.by_key.get(grader_key(provider))

    def grade(self, check: Check, ctx: CheckContext) -> dict[str, Any]:
        grader = self.for_check(check)
        if grader is None:
            raise RuntimeError("llm-rubric needs a grader: give the check a 'provider' or run_batch(grader=...)")
        return grader(check, ctx)

    def release(self) -> None:
        for lease in self.leases:
            try:
                lease.release()
            except Exception:  # noqa: BLE001 - releasing must not hide the run's result
                pass


def check_reply(plan: BatchPlan, s: int, output: str, *, status: str, latency_ms: float | None,
                prompt: str, column: str, graders: Graders | None) -> dict[str, Any]:
    """{pass, score, checks} for a row's final reply; None values for a reply that did not finish (an error,
    a stop or a timeout is no evidence either way) or a row without checks."""
    checks = plan.checks_of(s)
    if not checks or status != "done":
        return {"pass": None, "score": None, "checks": []}
    row = plan.rows[s]
    ctx = CheckContext(output, vars=row.vars, prompt=prompt, latency_ms=latency_ms, column=column, row_id=row.id)
    try:
        result = evaluate(checks, ctx, threshold=row.threshold, grader=graders.grade if graders else None,
                          base=plan.base)
    except Exception as exc:  # never lose the row to a bug in a check
        reason = f"checks could not run: {format_error(exc)}"
        return {"pass": False, "score": 0.0, "checks": [{"type": "error", "pass": False, "score": 0.0,
                                                           "reason": reason, "metric": None, "weight": 1.0,
                                                           "error": reason}]}
    return {"pass": result["pass"], "score": result["score"], "checks": result["checks"]}


def select_best(plan: BatchPlan, s: int, rows: list[dict[str, Any]], graders: Graders | None) -> None:
    """The select-best checks of row `s`, decided across its columns' finished replies; each reply's pass and
    score are recomputed with them."""
    wanted = [c for c in plan.checks_of(s) if c.base == "select-best"]
    done = [r for r in rows if r["status"] == "done"]
    if not wanted or len(done) < 2:
        return
    for check in wanted:
        grader = graders.for_check(check) if graders else None
        for r, result in zip(done, select_best_results(check, [r["reply"] for r in done], grader)):
            r["checks"] = [*r["checks"], result]
    for r in done:
        total = aggregate(r["checks"], plan.rows[s].threshold)
        r["pass"], r["score"] = total["pass"], total["score"]


def without_select_best(plan: BatchPlan, s: int, row: dict[str, Any]) -> dict[str, Any]:
    """{pass, score, checks} of a resumed row of `s` without its select-best results (they are decided again
    with the other columns' replies); the row's own as they are when it has none."""
    checks = row.get("checks") or []
    kept = [c for c in checks if c.get("type") != "select-best"]
    if len(kept) == len(checks) or row.get("status") != "done":
        return {"pass": row.get("pass"), "score": row.get("score"), "checks": list(checks)}
    total = aggregate(kept, plan.rows[s].threshold)
    return {"pass": total["pass"], "score": total["score"], "checks": kept}


def check_turn(manager: ChatManager, checks: Any, *, grader: Any = None, vars: dict[str, Any] | None = None,
               timeout: float | None = None) -> dict[str, dict[str, Any]]:
    """Checks on the live conversation's last turn: {column: {pass, score, reason, metrics, checks}} for each
    column whose last entry is a reply (select-best across them). `vars` fill `{{field}}` in check values."""
    import threading

    plan = BatchPlan([DataRow(id=0, turns=["-"], vars=dict(vars or {}))], parse_checks(checks), [[]])
    graders = Graders(plan, grader, manager, timeout, threading.Event())
    try:
        results, rows = {}, []
        for column in manager.columns.values():
            history = column.history
            if not history or history[-1]["role"] != "BOT":
                continue
            reply = history[-1]
            prompt = next((e["content"] for e in reversed(history) if e["role"] == "HUMAN"), None)
            status = "error" if (reply.get("stats") or {}).get("finish_reason") == "error" else "done"
            ctx = CheckContext(reply["content"], vars=plan.rows[0].vars, prompt=prompt,
                               latency_ms=_ms((reply.get("stats") or {}).get("total_time")), column=column.name)
            result = evaluate(plan.checks, ctx, grader=graders.grade, base=plan.base)
            results[column.name] = result
            rows.append({"status": status, "reply": reply["content"], **result})
        select_best(plan, 0, rows, graders)
        for name, row in zip(list(results), rows):
            results[name].update({k: row[k] for k in ("pass", "score", "checks")})
        return results
    finally:
        graders.release()


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000.0
