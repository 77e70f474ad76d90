"""ChatZooWidget: the notebook widget. Traitlets and messages in, manager calls out."""

from __future__ import annotations

import pathlib
import threading
import time
import uuid
from typing import Any, Iterable, Mapping

import anywidget
import traitlets
from ipywidgets import widget_serialization

from . import commands, compare, quiet
from . import token_commands  # noqa: F401 - registers the token probability commands (entry_tokens, branch)
from . import cross_score_commands  # noqa: F401 - registers the Cross-scores panel's command
from .column_state import ColumnModel, ColumnSet
from .frames import filter_frame, on_the_wire
from .compare.blind import BlindFilter, secrets_of
from .events import ConversationChanged
from .manager import BusyError, ChatManager

STATIC = pathlib.Path(__file__).parent / "static"
# Shown instead of the widget when the bundle was not built (a source checkout without `npm run build` in js/).
_UNBUILT_ESM = """export default { render({ el }) {
  el.textContent = "ChatZoo Widget: the front end is not built. Run `npm install && npm run build` in js/.";
} };"""


def _wait_interruptibly(run: Any) -> None:
    """Wait for a background run (a batch run, a judge); interrupting the kernel stops it and keeps what it did."""
    try:
        while run.running:
            run.thread.join(0.1)
    except KeyboardInterrupt:
        run.stop()
        run.wait()


def _bundle(name: str, fallback: str) -> pathlib.Path | str:
    path = STATIC / name
    return path if path.exists() else fallback


class ChatZooWidget(anywidget.AnyWidget):
    """Compare chat models side by side: one column per model, one prompt for all, replies stream in.

    Args:
        models: each item is an alias or path (`"smollm2-135m"`, `"./my-model"`), an http(s) URL of an
            OpenAI-compatible server, a `ChatBOT`, or a dict `{"name": ..., "model": ..., "settings": {...}}`
            (or `{"name": ..., "url": ..., "model": ..., "api_key_env": "VAR"}` for a remote model).
            Columns of one checkpoint share one copy of the weights.
        settings: settings for every column (a column's own settings win).
        system_prompt: system prompt for every column whose model has one.
        arena: blind comparison: columns show as "Model A", "Model B"... in a new random order for each
            conversation, settings hidden, names revealed after the vote.
        seed: seed of the arena's shuffling (None: unpredictable).
        load_models: False: the columns wait ("waiting") and each model loads when first needed (the first
            prompt, or `run_batch(..., one_model_at_a_time=True)` for models that do not fit together).

    Models load in the background; each column shows its progress. `send` returns at once unless `wait=True`.
    """

    _esm = _bundle("widget.js", _UNBUILT_ESM)
    _css = _bundle("widget.css", "")

    # One child model per column (column_state.py): a change to one column sends that column's change alone.
    columns = traitlets.List(traitlets.Instance(ColumnModel)).tag(sync=True, **widget_serialization)
    system_prompt = traitlets.Unicode("").tag(sync=True)
    busy = traitlets.Bool(False).tag(sync=True)
    arena = traitlets.Bool(False).tag(sync=True)
    vote_state = traitlets.Dict().tag(sync=True)
    leaderboard_table = traitlets.Dict().tag(sync=True)
    batch_progress = traitlets.Dict().tag(sync=True)
    judge_state = traitlets.Dict().tag(sync=True)
    # The results grid of the latest batch run (compare/grid.py): its rows come as `grid_rows` messages.
    grid_state = traitlets.Dict().tag(sync=True)
    grid_summary = traitlets.Dict().tag(sync=True)
    turn_checks = traitlets.Dict().tag(sync=True)  # w.check's results under the replies: {column id: {turn: ...}}
    # The static snapshot's id (report/snapshot.py): the live view hides the snapshot output of this id.
    _snapshot_id = traitlets.Unicode().tag(sync=True)

    def __init__(
        self,
        models: Iterable[Any] = (),
        *,
        settings: Mapping[str, Any] | None = None,
        system_prompt: str | None = None,
        arena: bool = False,
        seed: int | None = None,
        load_models: bool = True,
        **kwargs: Any,
    ):
        quiet.install()  # library warnings from worker threads would land in whatever cell runs
        super().__init__(arena=arena, _snapshot_id=uuid.uuid4().hex, **kwargs)
        self._snapshot_shown = False  # set once displayed: only then is there an output to update
        # Columns end their turns in their own threads: one snapshot at a time, each made inside the lock, so the
        # last one published is made after every change before it (never an older one published last).
        self._snapshot_lock = threading.Lock()
        # The run's thread and run_batch's own call both sync the progress: read and written under one lock, so a
        # stale "running" read by one cannot land after the other's final state.
        self._batch_progress_lock = threading.RLock()
        self._sync_lock = threading.RLock()
        self._blind = BlindFilter()  # every outgoing trait and message passes it (get_state, _send)
        self._column_set = ColumnSet(self._blind.state, self._sync_lock)  # the column models pass it too
        self._common_settings = dict(settings or {})
        self._seed = seed
        self._batch: compare.BatchRun | None = None
        self._grid: compare.ResultsGrid | None = None
        self._turn_checks = compare.TurnChecks()
        self.manager = ChatManager(on_event=self._stream_event, on_change=self._sync)
        self._arena = compare.Arena(seed) if arena else None
        self._book = compare.VoteBook(self.manager, self._arena)
        self._judges = compare.JudgeBook(self.manager, self._book)
        self._leaderboard_source: str | None = None  # the widget's switch; None: votes when any, else the judge
        self.manager.events.subscribe(self._on_manager_event)
        self.manager.system_prompt = system_prompt or ""
        self.system_prompt = self.manager.system_prompt
        self.on_msg(self._on_front_end_message)
        for model in models:
            self.add_model(model, load=load_models)

    # ----- Python API ---------------------------------------------------------------------------
    def add_model(self, model: Any, name: str | None = None, settings: Mapping[str, Any] | None = None, *,
                  load: bool = True) -> str:
        """Add a column (loads in the background; `load=False`: when first needed); returns its name."""
        merged = {**self._common_settings, **(model.get("settings") or {} if isinstance(model, Mapping) else {}),
                  **(settings or {})}
        return self.manager.add(model, name=name, settings=merged, load=load).name

    def remove_model(self, name: str) -> None:
        """Remove a column by name; a reply in progress there stops, the others go on."""
        self.manager.remove(name)

    def send(self, prompt: str, wait: bool = False, timeout: float | None = None) -> dict[str, str] | None:
        """Send `prompt` to every column, as if typed. With `wait=True`, return `{column: reply}` when all finish.

        Raises ValueError for an empty prompt and BusyError while columns are still answering.
        """
        self.manager.send(prompt)
        if wait:
            self.manager.wait(timeout)
            return self.manager.replies()
        return None

    def stop(self, column: str | None = None) -> None:
        """Stop the reply in progress in `column` (a name), or in every column, a batch run and a judge at work."""
        self.manager.stop(column)
        if column is None:
            self.stop_batch()
            self._judges.stop()

    def clear(self) -> None:
        """Stop every reply and clear every column's conversation."""
        self.manager.clear()

    def regenerate(self, wait: bool = False, timeout: float | None = None) -> dict[str, str] | None:
        """Answer the last prompt again in every column."""
        self.manager.regenerate()
        if wait:
            self.manager.wait(timeout)
            return self.manager.replies()
        return None

    def set_settings(self, name: str, **settings: Any) -> dict[str, Any]:
        """Change a column's settings (the sliders move). Raises ValueError naming a bad setting and its range."""
        return self.manager.set_settings(name, **settings)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every column has finished answering (or loading)."""
        for column in list(self.manager.columns.values()):
            try:
                column.load.exception(timeout=timeout)
            except Exception:
                pass
        # A finished load is checked (settings, a remote spec) in its callback, which may run just after.
        end = None if timeout is None else time.monotonic() + timeout
        while any(c.status == "loading" and c.load.done() for c in list(self.manager.columns.values())):
            if end is not None and time.monotonic() > end:
                break
            time.sleep(0.01)
        done = self.manager.wait(timeout)
        self._sync()  # the last callback may have changed a column just before its own sync: show it now
        return done

    @property
    def history(self) -> dict[str, list[dict[str, Any]]]:
        """Each column's conversation, by column name: a list of {"role", "content"}, and `reasoning` for a reply
        that thought (`content` is then its answer alone). The whole entries are in `entries`."""
        return {c["name"]: [{"role": e["role"], "content": e["content"],
                             **({"reasoning": e["reasoning"]} if "reasoning" in e else {})} for e in c["history"]]
                for c in self.manager.snapshot()}

    @property
    def entries(self) -> dict[str, list[dict[str, Any]]]:
        """Each column's history entries in full, by column name: a reply's entry also has `rendered_prompt` (the
        exact text its model received; a remote column's messages as JSON), `prompt_tokens`, `stats`,
        `reasoning`, and after a continue-with `continued_with` and `alternatives`; an edited prompt's entry keeps
        the old turn in `edited`. The same entries go into `export(".json")`."""
        return {c["name"]: c["history"] for c in self.manager.snapshot()}

    @property
    def stats(self) -> dict[str, list[dict[str, Any]]]:
        """Each column's reply statistics (one dict per reply), by column name."""
        return {c["name"]: [e["stats"] for e in c["history"] if e["role"] == "BOT"] for c in self.manager.snapshot()}

    # ----- judging (see chatzoo_widget.compare) ------------------------------------------------
    @property
    def votes(self) -> list[dict[str, Any]]:
        """Every vote so far (they survive `clear()`): conversation, turn, choice, prompt, columns and replies."""
        return list(self._book.votes)

    def vote(self, choice: str, continue_with: bool = False) -> dict[str, Any]:
        """Vote on the latest finished turn: a column's name (or arena label such as "Model A"), "tie" or "bad".

        Voting again before the next prompt replaces the vote. In arena mode the vote reveals the names.
        `continue_with=True` then continues the conversation with the winner's reply (see `continue_with`);
        it needs a winner, so "tie" and "bad" raise ValueError before anything is recorded.
        """
        if continue_with and isinstance(choice, str) and choice.strip().lower() in (compare.TIE, compare.BAD):
            raise ValueError(f"continue_with=True needs a winning reply, but the choice is {choice!r}: vote for a "
                             "column, or call continue_with(column) with the reply to go on with")
        if continue_with:
            self.manager.refuse_if_busy("continue with a reply")
        record = self._book.vote(choice)
        if continue_with:
            self.manager.continue_with(record["winner"])
        self._refresh_leaderboard()
        self._sync()
        self._refresh_snapshot()  # a vote may reveal the names
        return record

    def continue_with(self, column: str) -> list[str]:
        """Continue the conversation with `column`'s last reply (a name, or an arena label): it becomes the last
        reply of every column, so the next prompt goes on from it. The replaced replies stay in the records
        (`to_dataframe`, `export`) as alternatives. Returns the columns changed. Raises ValueError when that
        column has no finished reply, BusyError while columns answer."""
        key = column
        if self._arena is not None and isinstance(column, str):
            key = self._arena.resolve(column, self._book.conversation_id) or column
        return [c.name for c in self.manager.continue_with(key)]

    def edit_last(self, prompt: str, wait: bool = False, timeout: float | None = None) -> dict[str, str] | None:
        """Replace the last prompt by `prompt` and send it to every column in place of the old turn (which stays
        in the records). With `wait=True`, return `{column: reply}` when all finish. Raises ValueError (empty
        prompt, nothing sent yet) and BusyError (columns still answering)."""
        self.manager.edit_last(prompt)
        if wait:
            self.manager.wait(timeout)
            return self.manager.replies()
        return None

    def branch(self, column: str, token_index: int, token: int | str, wait: bool = False,
               timeout: float | None = None) -> str | None:
        """Answer `column`'s last prompt again from its last reply's first `token_index` tokens followed by `token`,
        one of the alternatives at that position (its id, or its text: see `w.entries[column][-1]["tokens"]`). The
        model is fed those tokens as the start of its reply and goes on; the old reply stays in the new entry's
        `alternatives`. With `wait=True`, returns the new reply. Raises ValueError (no token probabilities, an index
        out of range, a token that is not an alternative, a model that cannot continue a given start) and
        BusyError (columns still answering)."""
        key = column
        if self._arena is not None and isinstance(column, str):
            key = self._arena.resolve(column, self._book.conversation_id) or column
        target = self.manager.branch(key, token_index, token)
        if wait:
            self.manager.wait(timeout)
            return target.history[-1]["content"] if target.history else None
        return None

    def set_thinking(self, column: str, *, think_tags: Any = ..., keep_reasoning: bool | None = None) -> None:
        """A column's thinking options: `think_tags` (the tag pair, default ("<think>", "</think>"); None turns
        thinking blocks off) and `keep_reasoning` (True: the thinking goes back to the model next turn)."""
        self.manager.set_thinking(column, think_tags=think_tags, keep_reasoning=keep_reasoning)

    def manifest(self, column: str | None = None) -> dict[str, Any]:
        """The reproducibility manifest of `column` (a name), or of every column by name: the model as named,
        resolved path, hub revision, type/family, dtype, quantization, device map, tokenizer, settings in force,
        seed and library versions (for a remote column its base URL and the server's model id). Python side
        only: it is never sent to the browser."""
        if column is not None:
            return compare.manifest(self.manager, column)
        return compare.manifests(self.manager)

    def thumb(self, column: str, value: int | None, turn: int | None = None) -> dict[str, Any] | None:
        """Thumb up (+1) or down (-1) a column's reply (default: its latest); 0 or None takes it back."""
        record = self._book.thumb(column, value, turn)
        self._sync()
        return record

    def leaderboard(self, source: str = "votes", **options: Any) -> "pandas.DataFrame":  # noqa: F821
        """Elo (K=4, start 1000) and Bradley-Terry strengths with bootstrap 95% intervals.

        source: "votes" (your votes), "judge" (the judges' verdicts, one battle per pair) or "both".
        Options go to `chatzoo_widget.compare.leaderboard` (k, start, rounds, seed, sort_by...).
        """
        return compare.leaderboard(self._book.votes, judgments=self._judges.judgments, source=source,
                                   **{"seed": self._seed, **options})

    def judge(self, judge: Any, *, turn: int | None = None, template: str | None = None, wait: bool = True,
              settings: Mapping[str, Any] | None = None,
              timeout: float | None = None) -> "list[dict[str, Any]] | compare.JudgeRun":
        """Let a model judge every pair of replies of the latest finished turn (or `turn`, an index of the
        conversation's prompts), MT-Bench style: each pair twice, A/B then B/A; a win only when both orders
        agree, else a tie.

        judge: a column's name (or arena label), or anything a column accepts: alias, path, URL of an
            OpenAI-compatible server, ChatBOT, dict. A model loaded to judge is let go of when the run ends
            (a column's model, or one a column also uses, is shared with it).
        template: replaces MT-Bench's prompt text; placeholders {history}, {question}, {answer_a},
            {answer_b}. The verdict format ([[A]], [[B]], [[C]]) stays.
        settings: the judge's generation settings (default greedy, max_new_tokens 512).
        timeout: seconds one judge reply may take.

        With `wait=True` returns this run's judgment records (see `judgments`); with False a `JudgeRun` at once
        (the widget shows progress; Stop stops it). A judge reply without a verdict gives a record with
        `error` set, never an exception. Raises ValueError for a bad template, turn or too few replies and
        RuntimeError when the judge cannot load; the comparison is untouched either way.
        """
        run = self._judges.judge(judge, turn=turn, template=template, settings=settings, timeout=timeout,
                                 on_update=self._judge_changed)
        self._judge_changed()
        if not wait:
            return run
        _wait_interruptibly(run)
        if run.error and not run.records:
            raise RuntimeError(run.error)
        return run.wait()

    def stop_judge(self) -> None:
        """Stop the judge at work (the pairs judged so far are kept)."""
        self._judges.stop()

    def cross_scores(self, results: "pandas.DataFrame | None" = None,  # noqa: F821
                     *, turn: int | None = None) -> "pandas.DataFrame":  # noqa: F821
        """Every local column's model scores every column's reply by teacher forcing (one batched forward pass
        per model; columns sharing a model score once), after the conversation each reply answered.

        Without `results`: the latest finished turn (or `turn`), as a matrix of mean log-probability per token,
        scorer x reply; `attrs` hold `total`, `tokens`, `retokenised`, `disputed` (per reply, the tokens where
        the models disagree most, by character span), `cannot_score` and `record`. With a `run_batch` frame:
        a copy with `logprob_<scorer>`, `total_logprob_<scorer>` and `likeliest` per row.
        """
        from .compare import cross_scores as cross

        if results is not None:
            if isinstance(results, int):
                raise ValueError(f"pass the turn as turn={results!r} (a positional argument is a results frame)")
            if turn is not None:
                raise ValueError("pass either a results frame or turn=, not both")
            return cross.score_frame(self.manager, results)
        return cross.as_dataframe(cross.cross_scores_turn(self.manager, turn, presenter=self._book.presenter))

    def score_texts(self, results: "pandas.DataFrame", column: str = "reference") -> "pandas.DataFrame":  # noqa: F821
        """Score a text column of `results` (a `run_batch` frame or any frame with `prompt`) under every local
        column's model, as the reply to each row's prompt: a copy with `<column>_logprob_<scorer>`,
        `<column>_total_logprob_<scorer>` and `<column>_likeliest` (the model that finds the text most likely)."""
        from .compare import cross_scores as cross

        return cross.score_frame(self.manager, results, text_column=column, prefix=f"{column}_")

    @property
    def judgments(self) -> list[dict[str, Any]]:
        """Every judgment so far, one record per pair: conversation, turn, a, b (column names), verdict (a column
        name, "tie" or None), orders (the raw verdict of each order), rationales, judge, error, and the replies."""
        return list(self._judges.judgments)

    def agreement(self, judge: str | None = None) -> dict[str, Any]:
        """How the judge agrees with your votes: {"n", "kappa", "position_bias", "confusion"} (see
        `chatzoo_widget.compare.agreement`); `judge` keeps one judge's verdicts."""
        return compare.agreement(self._book.votes, self._judges.judgments, judge=judge)

    def summary(self, results: "pandas.DataFrame | None" = None,  # noqa: F821
                **options: Any) -> "compare.stats.Summary":
        """Statistics of the last batch run (or `results`, a frame of the same shape) and of the votes and judge
        verdicts: per column pass rate (Wilson) and mean score (bootstrap over prompts); per pair McNemar's
        exact test, a paired bootstrap, sign tests on votes/verdicts, Holm-corrected, with a plain verdict.
        Options go to `chatzoo_widget.compare.stats.summary` (correction="bh", alpha, level, rounds, seed).
        Unpacks as `columns, pairs = w.summary()`."""
        if results is None and self._batch is not None:
            results = self._batch.result
        return compare.stats.summary(results, votes=self._book.votes, judgments=self._judges.judgments,
                                     **{"seed": self._seed if self._seed is not None else 0, **options})

    def run_batch(self, data: Any, *, checks: Any = None, template: str | list[str] | None = None,
                  limit: int | None = None, shuffle: bool | int | None = None, grader: Any = None,
                  wait: bool = True, fresh_history: bool = True, timeout: float | None = None, samples: int = 1,
                  judge: Any = None, judge_template: str | None = None, one_model_at_a_time: bool = False,
                  resume: Any = None, cache: str | None = None
                  ) -> "pandas.DataFrame | compare.BatchRun":  # noqa: F821
        """Send each prompt (or each multi-turn script, a list of prompts), or each row of a dataset, to every
        column with a fresh history, and check the replies.

        data: prompts and scripts, dict rows, a DataFrame, a `datasets.Dataset`, a path to a .csv, .jsonl, .json
        or promptfoo .yaml file. `template` makes a row's prompt from its fields ("Q: {question}" or
        "Q: {{question}}"); `limit` and `shuffle` (True or a seed) pick the rows. `checks` (promptfoo's assertion
        types: icontains, regex, is-json, python, llm-rubric...) run on every row's final reply, with the row's
        own (`assert`): the DataFrame gains `pass`, `score` and `checks`; `grader` grades llm-rubric and
        select-best checks that name no `provider`. Every row keeps its `id`.

        Every (column, prompt) conversation runs at once, beside your own conversation (which is untouched).
        The widget shows a progress bar with a Stop button, and the rows in its results grid as they finish (with
        their checks, and the statistics of `w.summary` above). With `wait=True` (default) this returns a DataFrame
        (id, prompt, column, model, settings, reply, tokens, time to first token, tokens per second, finish
        reason); interrupting the kernel stops the run and returns the rows so far. With `wait=False` it returns a
        `BatchRun` at once (`.wait()` gives the DataFrame) and the widget's Stop button works meanwhile.
        `samples=k` answers each prompt k times per column with seeds 0..k-1 (a `sample` column). With `judge`
        (as for `judge`), every turn's pairs are judged: the rows get `judge_verdicts` and `judge_score`, and
        the records join `judgments`. `one_model_at_a_time=True`: models that do not fit together take turns
        (each loads, answers every row and is released; the bar names it; remote columns answer all along).
        `cache="run.jsonl"` keeps finished rows; `resume=` that file (or the last run's DataFrame) goes on
        without asking them again.
        """
        if self._batch is not None and self._batch.running:
            raise BusyError("a batch run is already going: stop it first")
        grid = self._new_grid()
        run = compare.BatchRun(self.manager, data, votes=self._book, on_update=self._batch_changed,
                               fresh_history=fresh_history, timeout=timeout, samples=samples, judge=judge,
                               judge_template=judge_template, on_judgment=self._batch_judged, checks=checks,
                               template=template, limit=limit, shuffle=shuffle, grader=grader, on_row=grid.add,
                               one_model_at_a_time=one_model_at_a_time, resume=resume, cache=cache)
        self._batch, self._grid = run, grid
        with self._sync_lock:
            self.grid_summary = {}
            self.grid_state = grid.state()
        self._batch_changed()
        if not wait:
            return run
        _wait_interruptibly(run)
        if run.error:
            raise RuntimeError(f"batch run failed: {run.error}")
        return run.result

    def check(self, checks: Any, *, grader: Any = None, vars: Mapping[str, Any] | None = None
              ) -> dict[str, dict[str, Any]]:
        """Run checks (as for `run_batch`: `[{"type": "icontains", "value": "Paris"}, ...]`) on the latest reply of
        every column -> {column: {"pass", "score", "reason", "metrics", "checks"}}. `grader` grades llm-rubric
        and select-best checks that name no `provider`; `vars` fill `{{field}}` in the checks' values. Raises
        ValueError for an unknown check type (listing the known ones) or a malformed check. The widget shows each
        result as badges under that reply (until it is answered again)."""
        results = compare.check_turn(self.manager, checks, grader=grader, vars=dict(vars or {}))
        self._turn_checks.record(self.manager, results)
        with self._sync_lock:
            self.turn_checks = self._turn_checks.state()
        return results

    def stop_batch(self) -> None:
        """Stop the batch run in progress (the rows so far are kept)."""
        if self._batch is not None:
            self._batch.stop()

    def to_dataframe(self) -> "pandas.DataFrame":  # noqa: F821
        """One row per reply: prompt, column, model, settings, reply, statistics and votes."""
        return compare.to_dataframe(self.manager, self._book, self._arena)

    def export(self, path: str) -> pathlib.Path:
        """Save the comparison as JSON Lines (.jsonl), JSON (.json, reloadable with `load`), CSV (.csv), or a
        standalone HTML report to share (.html: opens offline in any browser; blind while the arena is)."""
        from . import report  # the report's markdown and sanitiser load on first use

        target, ext = compare.exports._target(path, compare.exports.SUPPORTED + report.EXTENSIONS)
        if ext in report.EXTENSIONS:
            return report.write_report(target, self)
        return compare.export(target, self.manager, self._book, self._arena, judgments=self._judges.judgments)

    def export_results(self, path: str, results: "pandas.DataFrame | None" = None) -> pathlib.Path:  # noqa: F821
        """Save the last batch run's results (or `results`) with their `summary()`: .json (one document) or .csv
        (the rows, plus `<name>.summary-columns.csv` and `<name>.summary-pairs.csv`). For LLM Comparator, see
        `chatzoo_widget.compare.to_llm_comparator(results, a, b, path)`."""
        if results is None:
            results = self._batch.result if self._batch is not None else None
            if results is None:
                raise ValueError("no batch results to export: run w.run_batch(...) first, or pass results")
        return compare.export_results(path, results, self.summary(results))

    def preference_pairs(self, source: str = "votes", metadata: bool = False) -> list[dict[str, Any]]:
        """DPO rows {prompt, chosen, rejected} in TRL's conversational preference format, from your votes
        (source "votes"), the judges' verdicts with a winner ("judge") or both ("both")."""
        return compare.preference_pairs(self._book, judgments=self._judges.judgments, source=source,
                                        metadata=metadata)

    @classmethod
    def load(cls, path: str, models: Iterable[Any] | None = None, **kwargs: Any) -> "ChatZooWidget":
        """Restore a comparison saved with `export(".../name.json")`: columns, histories, settings and votes.

        `models` (as for the constructor) replaces the saved models; columns are matched by name and saved
        columns with no match load their saved model.
        """
        document = compare.load(path)
        if models is None:
            models = [{"name": c["name"], "model": c["model"], "settings": c["settings"]}
                      for c in document["columns"]]
        kwargs.setdefault("system_prompt", document.get("system_prompt") or None)
        kwargs.setdefault("arena", document.get("arena") is not None)
        widget = cls(models, **kwargs)
        compare.restore(document, widget.manager, widget._book, judges=widget._judges)
        widget._refresh_leaderboard()
        widget._sync()
        return widget

    sweep = staticmethod(compare.sweep)

    # ----- the static snapshot (chatzoo_widget/report/snapshot.py) ------------------------------------------
    def _ipython_display_(self) -> None:
        """Show the widget, then its static snapshot as an output of its own: hosts without the live widget
        (GitHub, nbviewer, nbconvert, a VS Code reopen) show the snapshot; where the widget runs it hides it."""
        from IPython.display import display

        from .report.snapshot import snapshot_bundle

        repr_bundle = self._repr_mimebundle_  # anywidget's own (any ipywidgets version): (data, metadata)
        bundle = repr_bundle() if callable(repr_bundle) else None
        if not bundle:  # a closed widget has no view (ipywidgets sets _repr_mimebundle_ to None)
            display(repr(self))
            return
        data, metadata = bundle if isinstance(bundle, tuple) else (bundle, {})
        # what a host without the widget prints in its place (the snapshot under it shows the conversation)
        data = {**data, "text/plain": f"ChatZoo Widget ({len(self.manager.columns)} columns)"}
        display(data, metadata=metadata, raw=True)
        display(snapshot_bundle(self), raw=True, display_id=self._snapshot_id)
        self._snapshot_shown = True

    def snapshot(self) -> Any:
        """The static snapshot of the conversation now, to show in a cell (an `IPython.display.HTML`)."""
        from IPython.display import HTML

        from .report.snapshot import snapshot_html

        return HTML(snapshot_html(self))

    def _refresh_snapshot(self) -> None:
        """Replace the snapshot output after the conversation changed (never raises: it must not cost a turn)."""
        if not self._snapshot_shown:
            return
        try:
            from IPython.display import update_display

            from .report.snapshot import snapshot_bundle

            with self._snapshot_lock:
                update_display(snapshot_bundle(self), raw=True, display_id=self._snapshot_id)
        except Exception:  # a snapshot that cannot be made leaves the last one in place
            pass

    @traitlets.observe("batch_progress")
    def _batch_progress_changed(self, change: dict[str, Any]) -> None:
        # A batch run shows in the snapshot (its summary and first rows) once it ended, finished or stopped; its
        # turns do not go through _stream_event, so nothing else refreshes it. Not per row: each refresh crosses
        # the websocket whole. (Sent from the run's thread before run_batch(wait=True) returns.)
        if change["new"] and not change["new"].get("running"):
            self._refresh_snapshot()

    def close(self) -> None:
        """Stop every reply, batch run and judge, and let go of every model the widget holds (its columns' and its
        judge's). Nothing reaches a closed widget: a load or a reply that ends afterwards is dropped silently."""
        if self._batch is not None:
            self._batch.on_update = lambda: None
        self.stop_batch()
        self._judges.close()
        self._book.close()
        self.manager.close()
        super().close()
        self._column_set.close()

    # ----- front end ----------------------------------------------------------------------------
    def _sync(self) -> None:
        with self._sync_lock:  # updates come from worker threads; keep them whole and in order
            snapshot = self.manager.snapshot()
            shown = self._arena.display(snapshot, scrub_texts=False) if self._arena else snapshot
            changed = self._update_blind(snapshot)  # after display: a column added just now has its label
            # while blind the rendered prompts stay here: their format names the model (compare/hidden_prompts.py)
            shown = compare.hide_prompts(shown) if self._book.is_blind() else shown
            models, history_messages, gone = self._column_set.update(shown, resend=changed)
            self.columns = models
            for message in history_messages:
                self.send_message(message)
            for model in gone:  # once `columns` no longer lists it
                model.close()
            self.busy = self.manager.busy
            self.vote_state = self._book.state()
            self.judge_state = self._judge_state()
            if changed:  # revealed or blind again: unchanged traits (the leaderboard) must be sent anew
                self.send_state([k for k in self.keys if not k.startswith("_") and k != "layout"])
                if self._grid is not None:
                    self._grid.new_view()  # the grid's rows were sent with the old names: fetched again

    def _on_manager_event(self, event: Any) -> None:
        """The manager's announcements (see chatzoo_widget.events) that the synced state does not show by itself."""
        if isinstance(event, ConversationChanged) and self._judges.judgments:
            with self._sync_lock:  # a new conversation: the verdicts of the blind one before it may count now
                self._refresh_leaderboard()
        if isinstance(event, ConversationChanged):
            self._refresh_snapshot()
            if self._turn_checks.clear():
                with self._sync_lock:
                    self.turn_checks = {}

    def _update_blind(self, snapshot: list[dict[str, Any]]) -> bool:
        """Tell the blind filter what is secret now: the shown columns' names and models, and past ones."""
        if self._arena is None:
            return False
        conversation = self._book.conversation_id
        shown = self._book.presenter.blind_columns(snapshot, secrets_of)  # the labels as every view shows them
        records = self._book.votes + self._book.thumbs
        past = [r.get(k) for r in records for k in ("column", "model")]
        past += [c.get(k) for v in self._book.votes for c in v["columns"] for k in ("name", "model")]
        labels = {(v["conversation"], v["turn"]): {c["name"]: c["label"] for c in v["columns"] if c.get("label")}
                  for v in self._book.votes}
        return self._blind.update(blind=self._book.is_blind(), conversation=conversation, columns=shown,
                                  past=[p for p in past if p], records=labels)

    # ----- the boundary: everything the browser receives passes the blind filter -----------------------
    def get_state(self, key: Any = None, drop_defaults: bool = False) -> dict[str, Any]:
        state = super().get_state(key=key, drop_defaults=drop_defaults)
        blind = getattr(self, "_blind", None)  # None while ipywidgets opens the comm inside __init__
        return blind.state(state) if blind is not None else state

    def _send(self, msg: dict[str, Any], buffers: Any = None) -> None:
        blind = getattr(self, "_blind", None)
        if blind is not None and msg.get("method") == "custom":
            content = msg.get("content")
            is_frame = isinstance(content, Mapping) and content.get("kind") == "frame"
            content = filter_frame(content, blind.message) if is_frame else blind.message(content)
            if content is None:  # a delta held back whole (it may be the start of a name)
                return
            msg = {**msg, "content": content}
        elif blind is not None and msg.get("method") == "echo_update":
            msg = {**msg, "state": blind.state(msg.get("state") or {})}
        super()._send(msg, buffers=buffers)

    def _refresh_leaderboard(self) -> None:
        votes = self._book.votes
        # the verdicts of the blind conversation on screen would tie its labels to the names: not until revealed
        blind_now = self._book.conversation_id if self._book.is_blind() else None
        judged = [j for j in self._judges.judgments if j["conversation"] != blind_now]
        counts = {"votes": len(votes), "judge": len(compare.judgment_votes(judged))}
        if not counts["votes"] and not counts["judge"]:
            self.leaderboard_table = {}
            return
        source = self._leaderboard_source or ("votes" if counts["votes"] else "judge")
        board = compare.leaderboard(votes, judgments=judged, source=source, seed=self._seed)
        self.leaderboard_table = {**compare.leaderboard_json(board), "source": source, "counts": counts}

    def _judge_state(self) -> dict[str, Any]:
        votes, judged = self._book.votes, self._judges.judgments
        agreement = compare.agreement_json(compare.agreement(votes, judged)) if votes and judged else None
        return self._judges.state(agreement)

    def _judge_changed(self) -> None:
        """A judge run made progress (from its worker thread): verdicts, agreement and leaderboard follow."""
        with self._sync_lock:
            if self._judges.judgments:
                self._refresh_leaderboard()
            self.judge_state = self._judge_state()

    def _new_grid(self) -> compare.ResultsGrid:
        """The results grid of a new batch run (compare/grid.py): rows as messages, its state and summary traits."""
        def publish_state(grid: compare.ResultsGrid) -> None:
            with self._sync_lock:
                if grid is self._grid:
                    self.grid_state = grid.state()

        def publish_summary(record: dict[str, Any]) -> None:
            with self._sync_lock:
                if self._grid is not None and record.get("run") == self._grid.run:
                    self.grid_summary = record

        answering = [(c.name, c.id) for c in self.manager.columns.values() if c.status != "error"]
        return compare.ResultsGrid(send=self.send_message, publish_state=publish_state,
                                   publish_summary=publish_summary, order=self._book.presenter.order,
                                   columns=answering, seed=self._seed if self._seed is not None else 0)

    def _batch_judged(self, record: dict[str, Any]) -> None:
        self._judges.add([record])

    def _batch_changed(self) -> None:
        if self._batch is None:
            return
        with self._batch_progress_lock:
            self.batch_progress = progress = dict(self._batch.progress)
            if not progress.get("running"):
                if self._judges.judgments:
                    self._refresh_leaderboard()  # the batch's verdicts
                if self._grid is not None and self._grid.running:
                    self._grid.finish()  # the last rows, then the summary in full
                self._sync()  # the vote bar's "cannot vote during a batch run" must go once it ended

    def send_message(self, msg: dict[str, Any]) -> None:
        """Send a custom message to the front end (named so as not to shadow `send`)."""
        super().send(msg)

    def _stream_event(self, event: dict[str, Any]) -> None:
        """A manager event (turn_start, frame, turn_end...), as it goes to the browser (frames.py)."""
        self.send_message(on_the_wire(event))
        if event.get("kind") == "turn_start" and self._turn_checks.forget(event.get("column"), event.get("turn")):
            with self._sync_lock:  # answered again: the old reply's check badges go
                self.turn_checks = self._turn_checks.state()
        if event.get("kind") in ("turn_end", "turn_error"):
            self._refresh_snapshot()

    @traitlets.observe("system_prompt")
    def _system_prompt_changed(self, change: dict[str, Any]) -> None:
        if hasattr(self, "manager"):
            self.manager.system_prompt = change["new"]

    def _on_front_end_message(self, _widget: Any, content: Mapping[str, Any], _buffers: Any) -> None:
        """A browser action: a command from `chatzoo_widget.commands`, answered to the view that sent it."""
        if commands.is_command(content):
            self.send_message(commands.run(self, content))
