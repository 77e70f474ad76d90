"""Pairwise LLM judges (MT-Bench style) with position swap.

Every pair of columns' replies to one turn is judged twice, with the answers in both orders (A/B, then B/A).
The judge is asked to explain first and to end with `[[A]]`, `[[B]]` or `[[C]]` (a tie). A win counts only
when both orders agree; otherwise the pair is a tie (MT-Bench's rule). A judge reply without a verdict, or a
failed one, gives a record with `error` set and `verdict` None; the other pairs go on.

A judgment record (one per pair) is a `records.Judgment`: the two column names `a` and `b`, the `verdict` (a
column name, "tie" or None), the raw verdict of each order, the judge's two texts, and the two replies as vote
records keep them.

`JudgeBook` keeps the judgments of a widget and runs judges in the background (`JudgeRun`); batch runs use
`PairJudge` directly.
"""

from __future__ import annotations

import itertools
import re
import string
import threading
import logging
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

from ..bots.base import ChatBOT
from ..engine.pool import POOL, Lease, ModelPool
from ..events import new_conversation_id
from ..manager import ChatManager, format_error, load_quietly
from ..records import Judgment, ReplyRecord
from .turns import finished_turn
from .votes import TIE, VoteBook, now_iso

# MT-Bench's pairwise judge ("pair-v2", Zheng et al. 2023): the instructions go in the system prompt.
MT_BENCH_SYSTEM = (
    "Please act as an impartial judge and evaluate the quality of the responses provided by two AI assistants to "
    "the user question displayed below. You should choose the assistant that follows the user's instructions and "
    "answers the user's question better. Your evaluation should consider factors such as the helpfulness, "
    "relevance, accuracy, depth, creativity, and level of detail of their responses. Begin your evaluation by "
    "comparing the two responses and provide a short explanation. Avoid any position biases and ensure that the "
    "order in which the responses were presented does not influence your decision. Do not allow the length of the "
    "responses to influence your evaluation. Do not favor certain names of the assistants. Be as objective as "
    "possible. After providing your explanation, output your final verdict by strictly following this format: "
    "\"[[A]]\" if assistant A is better, \"[[B]]\" if assistant B is better, and \"[[C]]\" for a tie."
)
MT_BENCH_TEMPLATE = (
    "{history}[User Question]\n{question}\n\n"
    "[The Start of Assistant A's Answer]\n{answer_a}\n[The End of Assistant A's Answer]\n\n"
    "[The Start of Assistant B's Answer]\n{answer_b}\n[The End of Assistant B's Answer]"
)
PLACEHOLDERS = ("history", "question", "answer_a", "answer_b")
# Greedy, as MT-Bench's judges run (temperature 0); only the settings the judge's model knows are passed.
JUDGE_SETTINGS = {"do_sample": False, "temperature": 0.0, "max_new_tokens": 512}
VERDICT = re.compile(r"\[\[\s*([ABC])\s*\]\]", re.IGNORECASE)
log = logging.getLogger(__name__)
MAX_IN_FLIGHT = 32  # judge requests at once: the model's scheduler batches them


def check_template(template: str | None) -> str:
    """The template to use (MT-Bench's when None). ValueError when {answer_a} or {answer_b} is missing, a
    placeholder is unknown or a brace is unmatched (write literal braces as {{ and }})."""
    if template is None:
        return MT_BENCH_TEMPLATE
    if not isinstance(template, str) or not template.strip():
        raise ValueError("the judge template must be a non-empty string with {answer_a} and {answer_b}")
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as exc:
        raise ValueError(f"the judge template is not a valid format string ({exc}); write literal braces "
                         "as {{ and }}") from None
    unknown = sorted(fields - set(PLACEHOLDERS))
    if unknown:
        raise ValueError(f"the judge template has unknown placeholders {unknown}; it may use "
                         + ", ".join("{" + p + "}" for p in PLACEHOLDERS))
    missing = [p for p in ("answer_a", "answer_b") if p not in fields]
    if missing:
        raise ValueError("the judge template must contain {answer_a} and {answer_b}; it lacks "
                         + " and ".join("{" + p + "}" for p in missing))
    return template


def parse_verdict(text: str) -> str | None:
    """"A", "B" or "C" from the judge's reply: the last [[A]] / [[B]] / [[C]] in it (the verdict comes after
    the explanation, which may quote the format). None when there is none."""
    found = VERDICT.findall(text or "")
    return found[-1].upper() if found else None


def render_history(a: Sequence[Mapping[str, str]], b: Sequence[Mapping[str, str]]) -> str:
    """The conversation before the question, both assistants' earlier answers side by side ("" when none)."""
    def exchanges(history):
        out, prompt = [], None
        for m in history:
            if m["role"] == "HUMAN":
                prompt = m["content"]
            elif prompt is not None:
                out.append((prompt, m["content"]))
                prompt = None
        return out

    ea, eb = exchanges(a), exchanges(b)
    if not ea and not eb:
        return ""
    lines = ["[The Start of the Conversation So Far]"]
    for i in range(max(len(ea), len(eb))):
        prompt = (ea[i] if i < len(ea) else eb[i])[0]
        lines += [f"User: {prompt}", f"Assistant A: {ea[i][1] if i < len(ea) else '(no answer)'}",
                  f"Assistant B: {eb[i][1] if i < len(eb) else '(no answer)'}"]
    return "\n".join(lines + ["[The End of the Conversation So Far]", "", ""])


@dataclass
class PairJob:
    """One pair of replies to judge: two column records (as in vote records) of one turn."""

    conversation: str
    turn: int
    a: ReplyRecord
    b: ReplyRecord
    question: str
    source: str = "widget"
    blind: bool = False
    extra: dict[str, Any] = field(default_factory=dict)  # Judgment's batch fields: script, sample


@dataclass
class OrderResult:
    raw: str | None = None  # "A", "B", "C" or None
    text: str = ""
    error: str | None = None
    cancelled: bool = False


class PairJudge:
    """A loaded judge model with its template and settings; judges one order of a pair per call.

    Thread-safe: call `judge_order` from many threads at once (a batching scheduler decodes them together).
    """

    def __init__(self, bot: ChatBOT, name: str, *, template: str | None = None,
                 settings: Mapping[str, Any] | None = None, system: str = MT_BENCH_SYSTEM,
                 timeout: float | None = None):
        self.bot = bot
        self.name = name
        self.template = check_template(template)
        self.template_name = "mt-bench" if template is None else "custom"
        self.system = system
        self.timeout = timeout
        spec = bot.settings_spec()
        wanted = {k: v for k, v in JUDGE_SETTINGS.items() if k in spec}
        try:
            self.settings = spec.validate({**wanted, **(settings or {})})
        except ValueError as exc:
            raise ValueError(f"bad settings for the judge {name}: {exc}") from None
        self.system_in_prompt = "system_prompt" not in spec  # no system prompt: the instructions lead the text

    def prompt(self, job: PairJob, order: int) -> str:
        first, second = (job.a, job.b) if order == 0 else (job.b, job.a)
        text = self.template.format(
            history=render_history(first.get("history") or [], second.get("history") or []),
            question=job.question, answer_a=first.get("reply", ""), answer_b=second.get("reply", ""))
        return f"[System]\n{self.system}\n\n{text}" if self.system_in_prompt else text

    def judge_order(self, job: PairJob, order: int, stop_event: threading.Event) -> OrderResult:
        """Ask the judge once, with the answers in `order` (0: a then b, 1: b then a). Never raises."""
        settings = dict(self.settings)
        if not self.system_in_prompt:
            settings.setdefault("system_prompt", self.system)
        timer = threading.Timer(self.timeout, stop_event.set) if self.timeout else None
        try:
            if timer:
                timer.daemon = True
                timer.start()
            stream = self.bot.stream([{"role": "HUMAN", "content": self.prompt(job, order)}],
                                     stop_event=stop_event, **settings)
            text = stream.consume()
            reason = stream.stats.finish_reason
        except Exception as exc:  # a failing judge makes an error record, never an exception
            return OrderResult(error=f"the judge {self.name} failed: {format_error(exc)}")
        finally:
            if timer:
                timer.cancel()
        if reason == "error":
            return OrderResult(text=text, error=f"the judge {self.name} failed: "
                                                f"{stream.stats.error or 'generation failed'}")
        if reason == "cancelled":
            timed_out = self.timeout is not None and not getattr(stop_event, "by_user", False)
            return OrderResult(text=text, cancelled=not timed_out,
                               error=f"the judge {self.name} took longer than {self.timeout:g} s"
                               if timed_out else "stopped")
        raw = parse_verdict(text)
        if raw is None:
            tail = " ".join(text.split())[-80:]
            return OrderResult(text=text, error=f"the judge {self.name} gave no verdict ([[A]], [[B]] or [[C]])"
                                                + (f"; its reply ended: {tail!r}" if tail else "; its reply was empty"))
        return OrderResult(raw=raw, text=text)

    def record(self, job: PairJob, first: OrderResult, second: OrderResult) -> Judgment:
        """The judgment of a pair from its two orders (MT-Bench: a win only when both orders agree)."""
        a, b = job.a["name"], job.b["name"]
        wins = [{"A": a, "B": b, "C": TIE}.get(first.raw or ""), {"A": b, "B": a, "C": TIE}.get(second.raw or "")]
        errors = [r.error for r in (first, second) if r.error]
        if errors:
            verdict = None
            error = "; ".join(f"order {i + 1} ({'A/B' if i == 0 else 'B/A'}): {r.error}"
                              for i, r in enumerate((first, second)) if r.error)
        else:
            verdict, error = (wins[0] if wins[0] == wins[1] else TIE), None
        return Judgment(
            conversation=job.conversation, turn=job.turn, a=a, b=b, verdict=verdict,
            orders=[first.raw, second.raw], rationales=[first.text, second.text], judge=self.name,
            error=error, prompt=job.question, columns=[job.a, job.b],
            labels={a: job.a.get("label"), b: job.b.get("label")}, blind=job.blind,
            template=self.template_name, source=job.source, timestamp=now_iso(), **job.extra,
        )


class StopSet:
    """The stop events of requests in flight: `stop()` ends them all, and refuses new ones."""

    def __init__(self, parent: threading.Event | None = None):
        self.stopped = parent or threading.Event()
        self._events: set[threading.Event] = set()
        self._lock = threading.Lock()

    def new(self) -> threading.Event:
        ev = threading.Event()
        with self._lock:
            self._events.add(ev)
            if self.stopped.is_set():
                ev.by_user = True  # type: ignore[attr-defined]
                ev.set()
        return ev

    def done(self, ev: threading.Event) -> None:
        with self._lock:
            self._events.discard(ev)

    def stop(self) -> None:
        with self._lock:
            self.stopped.set()
            for ev in self._events:
                ev.by_user = True  # type: ignore[attr-defined]
                ev.set()


def pair_tasks(judge: PairJudge, job: PairJob, stops: StopSet,
               on_record: Callable[[dict[str, Any]], None]) -> list[Callable[[], None]]:
    """The two requests of a pair (A/B and B/A) as tasks for any thread pool; `on_record` gets the pair's record
    once both finished (never when one was stopped)."""
    results: list[OrderResult | None] = [None, None]
    lock = threading.Lock()

    def one(order: int) -> None:
        if stops.stopped.is_set():
            return
        ev = stops.new()
        try:
            res = judge.judge_order(job, order, ev)
        finally:
            stops.done(ev)
        with lock:
            results[order] = res
            if results[0] is None or results[1] is None or any(r.cancelled for r in results):
                return
            rec = judge.record(job, results[0], results[1])
        on_record(rec)

    return [lambda: one(0), lambda: one(1)]


def judge_pairs(judge: PairJudge, jobs: Sequence[PairJob], *, stops: StopSet | None = None,
                on_record: Callable[[dict[str, Any]], None] | None = None,
                max_in_flight: int = MAX_IN_FLIGHT) -> list[dict[str, Any]]:
    """Judge every pair in both orders, all requests at once (up to `max_in_flight`). Returns the records in job
    order; pairs cut short by `stops.stop()` give none. `on_record` is called as each pair completes."""
    stops = stops or StopSet()
    records: dict[int, dict[str, Any]] = {}

    def collect(i: int, rec: dict[str, Any]) -> None:
        records[i] = rec
        if on_record:
            on_record(rec)

    if jobs:
        with ThreadPoolExecutor(max_workers=max(1, min(max_in_flight, 2 * len(jobs))),
                                thread_name_prefix="chatzoo-judge") as pool:
            for i, job in enumerate(jobs):
                for task in pair_tasks(judge, job, stops, lambda rec, i=i: collect(i, rec)):
                    pool.submit(task)
    return [records[i] for i in sorted(records)]


# ----- who judges -----------------------------------------------------------------------------------
_SPEC_KEYS = {"name", "model", "url", "settings", "type", "tokenizer_path", "api_key_env", "load_options"}


def _public_url(url: str) -> str:
    """A URL without user:password@ (never shown)."""
    parts = urllib.parse.urlsplit(url)
    if parts.username or parts.password:
        parts = parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else ""))
    return urllib.parse.urlunsplit(parts)


@dataclass
class JudgeSource:
    """How to get the judge's bot: `acquire()` gives a lease on it in the model pool (the load, which may take
    long, runs when the lease's bot is first waited for), its name, and a column id when the judge is a column.
    Whoever acquires releases: the judge's weights go when the last holder lets go."""

    acquire: Callable[[], Lease]
    name: str
    column_id: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    def load(self) -> ChatBOT:
        """The judge's bot, held for as long as the caller keeps it (the lease is never released): for tests
        and tools that hand the bot on. Judge runs use `acquire` and release."""
        return self.acquire().bot()


def judge_source(judge: Any, manager: ChatManager | None = None, book: VoteBook | None = None, *,
                 pool: ModelPool | None = None) -> JudgeSource:
    """Resolve `judge`: a ChatBOT, the name (or id, or arena label) of a column, anything a column accepts
    (alias, path, http(s) URL of an OpenAI-compatible server), or a column dict. Nothing is loaded yet.

    A judge that is a column, or names a column's model, shares that column's bot; any other model is leased
    from `pool` (default: the manager's), so it is loaded once while in use and freed when released."""
    pool = pool or (manager.pool if manager is not None else POOL)
    if isinstance(judge, ChatBOT):
        return JudgeSource(lambda: pool.adopt(judge), judge.name)
    columns = list(manager.columns.values()) if manager is not None else []
    if isinstance(judge, str):
        key = judge.strip()
        if not key:
            raise ValueError("name a judge: a column, a model alias or path, or the URL of an OpenAI-compatible server")
        column = next((c for c in columns if key in (c.name, c.id)), None)
        if column is None and book is not None and book.arena is not None:
            cid = book.arena.resolve(key, book.conversation_id)
            column = next((c for c in columns if c.id == cid), None)
        if column is not None:
            return JudgeSource(column.lease.share, column.name, column_id=column.id)
        same = next((c for c in columns if c.model == key), None)  # share the weights a column holds
        if same is not None:
            return JudgeSource(same.lease.share, _public_url(key))
        return JudgeSource(_pooled(pool, key, {}), _public_url(key))
    if isinstance(judge, Mapping):
        spec = dict(judge)
        unknown = set(spec) - _SPEC_KEYS
        if unknown:
            raise ValueError(f"unknown keys in the judge dict: {sorted(unknown)}; allowed: {', '.join(sorted(_SPEC_KEYS))}")
        options = dict(spec.get("load_options") or {})
        for k in ("type", "tokenizer_path", "api_key_env"):
            if spec.get(k) is not None:
                options[k] = spec[k]
        settings = dict(spec.get("settings") or {})
        if spec.get("url"):
            if spec.get("model"):
                options["model"] = spec["model"]
            target = spec["url"]
        elif isinstance(spec.get("model"), ChatBOT):
            bot = spec["model"]
            return JudgeSource(lambda: pool.adopt(bot), spec.get("name") or bot.name, settings=settings)
        elif spec.get("model"):
            target = spec["model"]
        else:
            raise ValueError(f"a judge dict needs 'model' (alias, path or ChatBOT) or 'url', got {sorted(spec)}")
        name = str(spec.get("name") or _public_url(str(target)))
        same = next((c for c in columns if c.model == target), None) if not options else None
        if same is not None:  # share the weights a column holds
            return JudgeSource(same.lease.share, name, settings=settings)
        return JudgeSource(_pooled(pool, str(target), options), name, settings=settings)
    raise ValueError(f"a judge is a column name, a model alias, path or URL, a ChatBOT or a dict, got {judge!r}")


def _pooled(pool: ModelPool, target: str, options: Mapping[str, Any]) -> Callable[[], Lease]:
    """A lease on `target` in `pool`, keyed as a column's load of it (a column of the same model shares it)."""
    def acquire() -> Lease:
        from ..registry import bot_key  # lazy: imports transformers only when a model is loaded

        return pool.acquire(bot_key(target, **options), lambda: _load(target, options))

    return acquire


def _load(target: str, options: Mapping[str, Any]) -> ChatBOT:
    from ..registry import load_bot  # lazy: imports transformers only when a model is loaded

    return load_quietly(load_bot, target, **options)


# ----- turns to judge -------------------------------------------------------------------------------
def turn_jobs(manager: ChatManager, book: VoteBook, turn: int | None = None) -> list[PairJob]:
    """The pairs of the latest finished turn (or `turn`, an index of the HUMAN turns; negative counts from the
    end) of the current conversation, in column order. ValueError when replies are still coming, the turn is out
    of range or fewer than two replies finished (errors name columns as the user sees them)."""
    if book.suspended_now:
        raise ValueError("cannot judge during a batch run: wait for it to finish or stop it (or pass judge= to "
                         "run_batch)")
    snapshot = manager.snapshot()
    index = finished_turn(snapshot, turn, verb="judge", shown=book.shown_name)
    records = []
    for col in snapshot:
        at = next((i for i, e in enumerate(col["history"]) if e["role"] == "BOT" and e["turn"] == index), None)
        if at is None:
            continue
        entry = col["history"][at]
        if (entry.get("stats") or {}).get("finish_reason") == "error" or not entry["content"].strip():
            continue
        records.append(book.column_record(col, at))
    if len(records) < 2:
        raise ValueError(f"judging compares two or more finished replies; turn {index} has {len(records)}")
    records = book.presenter.sort(records)  # left to right as shown
    blind = book.is_blind()
    question = next((r["prompt"] for r in records if r["prompt"]), "")
    return [PairJob(book.conversation_id, index, a, b, question, blind=blind)
            for a, b in itertools.combinations(records, 2)]


# ----- a judge run in the background ----------------------------------------------------------------
class JudgeRun:
    """Judge `jobs` in a background thread (the judge's model loads there too): read `progress`, call
    `stop()`, `wait()` for the records. `on_record(rec)` runs as each pair completes and `on_update()`
    whenever `progress` changes (both from worker threads; an exception there is logged, never raised).

    The run holds a lease on the judge's bot in the model pool from its start to its end (or `release()`), so
    a judge loaded for it is freed when it ends, unless a column or another run holds the same model."""

    def __init__(self, source: JudgeSource, jobs: Sequence[PairJob], *, template: str | None = None,
                 settings: Mapping[str, Any] | None = None, timeout: float | None = None,
                 on_record: Callable[[dict[str, Any]], None] | None = None,
                 on_update: Callable[[], None] | None = None, max_in_flight: int = MAX_IN_FLIGHT):
        check_template(template)
        self.source = source
        self.jobs = list(jobs)
        self.id = new_conversation_id().replace("conv-", "judge-")
        self.stops = StopSet()
        self.records: list[Judgment] = []
        self.error: str | None = None
        self._on_record = on_record or (lambda rec: None)
        self.on_update = on_update or (lambda: None)
        first = self.jobs[0] if self.jobs else None
        self.progress: dict[str, Any] = {
            "running": True, "done": 0, "total": len(self.jobs), "errors": 0, "stopped": False, "error": None,
            "judge": source.name, "conversation": first.conversation if first else None,
            "turn": first.turn if first else None, "id": self.id}
        self._args = (template, {**source.settings, **(settings or {})}, timeout, max_in_flight)
        self._lease: Lease | None = None
        self._lease_lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, daemon=True, name="chatzoo-judge-run")
        self.thread.start()

    def _record(self, rec: dict[str, Any]) -> None:
        self.records.append(rec)  # as they come; in pair order once all are in
        self.progress = {**self.progress, "done": self.progress["done"] + 1,
                         "errors": self.progress["errors"] + (rec["error"] is not None)}
        self._on_record(rec)
        self._updated()

    def _updated(self) -> None:
        try:
            self.on_update()
        except Exception:  # the listener's bug (a closed widget): never a traceback from this thread
            log.exception("a judge run's progress listener failed")

    def _run(self) -> None:
        template, settings, timeout, max_in_flight = self._args
        try:
            with self._lease_lock:
                lease = self._lease = None if self.stops.stopped.is_set() else self.source.acquire()
            try:
                bot = lease.bot() if lease is not None else None
            except Exception as exc:
                raise RuntimeError(f"the judge {self.source.name} could not load: {format_error(exc)}") from None
            if bot is not None and not self.stops.stopped.is_set():
                judge = PairJudge(bot, self.source.name, template=template, settings=settings, timeout=timeout)
                self.records = judge_pairs(judge, self.jobs, stops=self.stops, on_record=self._record,
                                           max_in_flight=max_in_flight)  # in pair order
            if self.records and all(r["error"] for r in self.records):
                self.error = f"every judgment failed; the first: {self.records[0]['error']}"
        except Exception as exc:
            self.error = format_error(exc)
        finally:
            self.release()
        self.progress = {**self.progress, "running": False, "stopped": self.stops.stopped.is_set(),
                         "error": self.error}
        self._updated()

    def stop(self) -> None:
        self.stops.stop()

    def release(self) -> None:
        """Let go of the judge's bot now (the run ends by itself when done; this is for a closing widget)."""
        with self._lease_lock:
            lease, self._lease = self._lease, None
        if lease is not None:
            lease.release()

    def wait(self, timeout: float | None = None) -> list[dict[str, Any]]:
        self.thread.join(timeout)
        return list(self.records)

    @property
    def running(self) -> bool:
        # Ends when the progress says so, not when the thread has also told its listener: a caller that saw
        # `running: False` in the progress may start the next run at once.
        return bool(self.progress["running"]) and self.thread.is_alive()


def same_pair(r: Mapping[str, Any]) -> tuple:
    """Judgments with this key replace each other: one record per pair, turn and judge."""
    return (r["conversation"], r["turn"], frozenset((r["a"], r["b"])), r["judge"])


class JudgeBook:
    """The judgments of a comparison, and the judge run in progress (one at a time).

    Each run leases its judge's bot from the model pool and releases it when it ends, so a judge model nobody
    else holds is freed after its run (judging again loads it again); `close()` lets go at once.
    """

    def __init__(self, manager: ChatManager, book: VoteBook):
        self.manager = manager
        self.book = book
        self.judgments: list[Judgment] = []
        self.run: JudgeRun | None = None
        self._lock = threading.RLock()

    def add(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Add records; a new judgment of the same pair, turn and judge replaces the old one."""
        with self._lock:
            for rec in records:
                key = same_pair(rec)
                self.judgments = [r for r in self.judgments if same_pair(r) != key]
                self.judgments.append(dict(rec))

    def judge(self, judge: Any, *, turn: int | None = None, template: str | None = None,
              settings: Mapping[str, Any] | None = None, timeout: float | None = None,
              on_update: Callable[[], None] | None = None) -> JudgeRun:
        """Start judging a turn of the current conversation (see `turn_jobs`); returns the run at once.
        ValueError / RuntimeError for bad input, before anything starts."""
        with self._lock:
            if self.run is not None and self.run.running:
                raise RuntimeError("a judge is still at work: wait for it or stop it")
            check_template(template)
            source = judge_source(judge, self.manager, self.book)
            jobs = turn_jobs(self.manager, self.book, turn)
            self.run = JudgeRun(source, jobs, template=template, settings=settings, timeout=timeout,
                                on_record=lambda rec: self.add([rec]), on_update=on_update)
            return self.run

    def stop(self) -> None:
        if self.run is not None:
            self.run.stop()

    def close(self) -> None:
        """Stop the run in progress, tell nobody about it any more and let go of its judge's bot now."""
        run = self.run
        if run is not None:
            run.on_update = lambda: None
            run.stop()
            run.release()

    # ----- what the widget shows ----------------------------------------------------------------
    def state(self, agreement: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """JSON-able state for the front end: the run's progress, and the verdicts of the latest judged turn of
        the current conversation, named as the columns are shown (arena labels while blind: see the presenter)."""
        with self._lock:
            conversation = self.book.conversation_id
            mine = [r for r in self.judgments if r["conversation"] == conversation]
            run = dict(self.run.progress) if self.run is not None else {}
        shown = self.book.presenter
        ids = {c.name: c.id for c in self.manager.columns.values()}
        latest = max((r["turn"] for r in mine), default=None)
        # pairs finish in any order; the panel lists them in column order so it does not reshuffle between runs
        place = {name: i for i, name in enumerate(ids)}
        latest_pairs = sorted((r for r in mine if r["turn"] == latest),
                              key=lambda r: (place.get(r["a"], len(place)), place.get(r["b"], len(place))))
        verdicts = []
        for r in latest_pairs:
            labels = r.get("labels")
            verdicts.append({
                "a": ids.get(r["a"]), "b": ids.get(r["b"]),
                "a_name": shown.record_name(r["a"], labels), "b_name": shown.record_name(r["b"], labels),
                "verdict": None if r["verdict"] is None else "tie" if r["verdict"] == TIE
                else "a" if r["verdict"] == r["a"] else "b",
                "winner_name": shown.record_name(r["verdict"], labels), "orders": list(r["orders"]),
                "rationales": [shown.scrub(t) or "" for t in r["rationales"]], "error": shown.scrub(r["error"]),
                "judge": shown.record_name(r["judge"]),
            })
        if run:
            run["judge"] = shown.record_name(run.get("judge"))
            run["error"] = shown.scrub(run.get("error"))
            if run.get("conversation") != conversation:
                run.pop("turn", None)
        return {"run": run, "conversation": conversation, "turn": latest, "verdicts": verdicts,
                "agreement": dict(agreement) if agreement else None, "count": len(self.judgments)}
