"""promptfoo's CLI against run_batch: the same promptfoo config, timed both ways, and judged both ways.

What users would otherwise pick is promptfoo (`promptfoo@0.121.20` from npm, the last release that runs on Node 20).
This script installs it into `benchmarks/.promptfoo/` (git-ignored) and then:

1. **Semantics on crafted outputs** (no model): promptfoo's `echo` provider answers each prompt with itself, so a
   config whose prompt is `{{output}}` makes promptfoo judge outputs we choose (JSON in fences, unicode, case,
   whitespace, numbers...) with every deterministic assertion type, `not-`, `weight`, `metric`, test `threshold`
   and `assert-set`, plus tests/test_checks.py's table of cases. Our checks judge the same outputs; every row and
   every assertion is compared.
2. **Speed on 200 rows**: `chatzoo-server` serves SmolLM2-135M (greedy, `--max-tokens` tokens); promptfoo's CLI
   evaluates a 200-row config (questions from chatzoo_widget/data/questions.jsonl in five answer styles, with
   contains, icontains, regex, is-json, starts-with, levenshtein, not- variants, weights and a threshold) through
   its `openai:chat` provider with `apiBaseUrl`, `--max-concurrency` requests at once; then `run_batch` evaluates
   the same config file in this process on the same model with the same number in flight. Model loading is
   outside both timings (the server is up, the column is ready); promptfoo's includes starting Node, as a user's
   does. Then our checks judge promptfoo's outputs, and every disagreement with promptfoo's verdict is listed.

Offline: PROMPTFOO_DISABLE_TELEMETRY, PROMPTFOO_DISABLE_UPDATE, no sharing, no cache, no database (`--no-write`),
its config folder inside `benchmarks/.promptfoo/`. Without npm (or when the install or promptfoo fails) the script
says why and prints `{"skipped": ...}`.

    python benchmarks/bench_promptfoo.py [--rows 200] [--max-tokens 24] [--max-concurrency 16] [--echo-only]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from chatzoo_widget.compare.checks import CheckContext, evaluate, parse_checks  # noqa: E402
from common import in_worker  # noqa: E402  (benchmarks/common.py)

PROMPTFOO_VERSION = "0.121.20"
HOME = Path(__file__).resolve().parent / ".promptfoo"
MODEL = "smollm2-135m"
OFFLINE_ENV = {"PROMPTFOO_DISABLE_TELEMETRY": "1", "PROMPTFOO_DISABLE_UPDATE": "1", "PROMPTFOO_DISABLE_SHARING": "1",
               "PROMPTFOO_DISABLE_REMOTE_GENERATION": "1", "PROMPTFOO_CACHE_ENABLED": "false",
               "PROMPTFOO_CONFIG_DIR": str(HOME / "config"), "OPENAI_API_KEY": "unused"}


class Skip(Exception):
    """promptfoo cannot run here; the message says why."""


# -- promptfoo itself ---------------------------------------------------------------------------------------------

def promptfoo_bin() -> Path:
    """The promptfoo CLI in benchmarks/.promptfoo, installed from npm on first use."""
    binary = HOME / "node_modules" / ".bin" / "promptfoo"
    if binary.exists():
        return binary
    if shutil.which("npm") is None or shutil.which("node") is None:
        raise Skip("npm/node not found on PATH: promptfoo is an npm package (install Node.js 20 or 22)")
    HOME.mkdir(parents=True, exist_ok=True)
    (HOME / "package.json").write_text('{"name": "chatzoo-bench-promptfoo", "private": true}\n')
    print(f"installing promptfoo@{PROMPTFOO_VERSION} into {HOME} ...", file=sys.stderr, flush=True)
    done = subprocess.run(["npm", "install", "--no-audit", "--no-fund", f"promptfoo@{PROMPTFOO_VERSION}"],
                          cwd=HOME, capture_output=True, text=True)
    if done.returncode != 0 or not binary.exists():
        raise Skip(f"npm install promptfoo@{PROMPTFOO_VERSION} failed: {done.stderr.strip()[-600:]}")
    return binary


def run_promptfoo(config: dict[str, Any], folder: Path, concurrency: int) -> tuple[float, list[dict[str, Any]]]:
    """`promptfoo eval` on `config` -> (wall seconds including Node's start, the results in test order)."""
    import yaml
    path, out = folder / "promptfooconfig.yaml", folder / "promptfoo-out.json"
    path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
    command = [str(promptfoo_bin()), "eval", "-c", str(path), "-o", str(out), "--no-cache", "--no-write",
               "--no-table", "--no-progress-bar", "--max-concurrency", str(concurrency)]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=folder, env={**os.environ, **OFFLINE_ENV}, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if not out.exists():  # a failing assertion exits 100 with the output written; no file is a real failure
        raise Skip(f"promptfoo eval exited {done.returncode} without results: "
                   f"{(done.stderr or done.stdout).strip()[-800:]}")
    results = json.loads(out.read_text(encoding="utf-8"))["results"]["results"]
    failed = [r for r in results if "output" not in (r.get("response") or {})]
    if failed:  # the provider did not answer: no output to judge
        raise Skip(f"promptfoo got no output for {len(failed)} of {len(results)} tests, e.g. "
                   f"{str(failed[0].get('error') or failed[0].get('response'))[:600]}")
    return elapsed, sorted(results, key=lambda r: (r["testIdx"], r["promptIdx"]))


# -- judging promptfoo's outputs with our checks --------------------------------------------------------------------

def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def flatten(checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Check results in promptfoo's componentResults order: an assert-set, then its own checks."""
    return [c for check in checks for c in (check, *check.get("checks", []))]


def disagreements(results: list[dict[str, Any]], rows: list[Any]) -> tuple[int, list[dict[str, Any]]]:
    """Our verdicts on promptfoo's outputs vs promptfoo's, per row and per assertion -> (assertions compared, the
    disagreements). `rows` are our reading of the same config (load_promptfoo), in promptfoo's test order."""
    compared, found = 0, []
    for result, row in zip(results, rows, strict=True):
        output = result["response"]["output"] if result.get("response") else ""
        ours = evaluate(parse_checks(row.checks), CheckContext(output, vars=row.vars), threshold=row.threshold)
        theirs = result["gradingResult"]
        where = {"test": result["testIdx"], "output": output[:120]}
        if ours["pass"] != theirs["pass"] or not _close(ours["score"], theirs["score"]):
            found.append({**where, "what": "row", "ours": [ours["pass"], ours["score"], ours["reason"]],
                          "promptfoo": [theirs["pass"], theirs["score"], theirs["reason"]]})
        components = theirs.get("componentResults") or []
        mine_flat = flatten(ours["checks"])
        if len(components) != len(mine_flat):
            found.append({**where, "what": f"{len(mine_flat)} checks vs {len(components)} components"})
            continue
        for mine, their in zip(mine_flat, components):
            compared += 1
            if mine["pass"] != their["pass"] or not _close(mine["score"], their["score"]):
                found.append({**where, "what": "assertion", "assertion": their.get("assertion"),
                              "ours": [mine["pass"], mine["score"], mine["reason"]],
                              "promptfoo": [their["pass"], their["score"], their["reason"]]})
    return compared, found


# -- 1. crafted outputs through the echo provider ---------------------------------------------------------------

ECHO_OUTPUTS = [
    "Paris", "paris is the capital of France.", "  Paris  ", "PARIS!", "The answer is 42.", "3.14", "42",
    '{"answer": "Paris"}', '{"answer": "Paris", "confidence": 0.9}', '```json\n{"answer": "Paris"}\n```',
    'Sure! Here it is: {"answer": "Rome"} and also [1, 2, 3].', "{'answer': 'Paris'}", '[1, 2, 3]', "true",
    "null", '"Paris"', " {\"answer\": \"Paris\"} ", "Ünïcödé CAFÉ in Paris", "caf\u00e9 vs cafe\u0301",
    "line one\nline two\nParis", "I don't know.", "Yes, Paris.", "a, b, c", "The cat sat on the mat.",
    "the cat sat on a mat", "Paris, Rome and Berlin", "paris rome", "Paris\n", "\tParis", "🙂 Paris 🙂",
    "The capital is Paris (France).", "{\"a\": {\"b\": [1, {\"c\": null}]}} trailing", "Answer: [Paris]",
    "x" * 300, "PaRiS", "París", "٣ cats and 3 dogs", "a b c", "{a: 1}", '{"a": 1 // a note\n}',
    'see http://x.com {"u": "http://x.com"}', '{"unclosed": {"b": 1}', "{{nested}} {}", "cat cat\r\nmat",
    "Don't stop; gonna win!", "Mr. Smith's cat (a tabby) isn't 'here'.",
]

ECHO_GROUPS: list[dict[str, Any]] = [
    {"assert": [{"type": "equals", "value": "Paris"}, {"type": "contains", "value": "Paris"},
                {"type": "icontains", "value": "paris"}, {"type": "not-icontains", "value": "don't know"},
                {"type": "starts-with", "value": "Paris"}, {"type": "not-starts-with", "value": " "}]},
    {"assert": [{"type": "regex", "value": r"^\s*Paris"}, {"type": "regex", "value": r"\d+(\.\d+)?"},
                {"type": "not-regex", "value": r"(?i)sorry|don't"}, {"type": "regex", "value": r"Paris$"},
                {"type": "regex", "value": r"[\u00C0-\u017F]"}, {"type": "regex", "value": r"\bcat\b.*\bmat\b"}],
     "threshold": 0.5},
    {"assert": [{"type": "is-json"}, {"type": "not-is-json"}, {"type": "contains-json"},
                {"type": "not-contains-json"},
                {"type": "is-json", "value": {"type": "object", "required": ["answer"]}},
                {"type": "contains-json", "value": {"type": "object", "required": ["answer"],
                                                    "properties": {"answer": {"type": "string"}}}},
                {"type": "equals", "value": {"answer": "Paris"}}]},
    {"assert": [{"type": "contains-any", "value": ["Paris", "Rome"]}, {"type": "contains-all", "value": "Paris, Rome"},
                {"type": "icontains-any", "value": "PARIS,berlin"},
                {"type": "icontains-all", "value": ["paris", "rome"]},
                {"type": "not-contains-any", "value": ["sorry", "cannot"]},
                {"type": "not-icontains-all", "value": ["cat", "mat"]}]},
    {"assert": [{"type": "levenshtein", "value": "Paris"}, {"type": "levenshtein", "value": "Paris", "threshold": 1},
                {"type": "not-levenshtein", "value": "Paris", "threshold": 2},
                {"type": "rouge-n", "value": "the cat sat on the mat"},
                {"type": "rouge-n", "value": "The cat sat on the mat.", "threshold": 0.5},
                {"type": "not-rouge-n", "value": "Paris is the capital"}]},
    {"assert": [{"type": "icontains", "value": "paris", "weight": 3, "metric": "answer"},
                {"type": "is-json", "weight": 0, "metric": "format"},
                {"type": "not-contains", "value": "!", "weight": 0.5},
                {"type": "assert-set", "threshold": 0.5, "weight": 2, "metric": "format",
                 "assert": [{"type": "starts-with", "value": "{"}, {"type": "contains", "value": "answer"},
                            {"type": "regex", "value": "}\\s*$"}]}]},
    {"assert": [{"type": "regex", "value": r"\d"}, {"type": "regex", "value": r"a\sb"},
                {"type": "regex", "value": r"(?<w>cat) \k<w>"}, {"type": "regex", "value": r"cat[^]mat"},
                {"type": "regex", "value": r"t.\nmat"}, {"type": "regex", "value": r"\bcaf\w\b"},
                {"type": "regex", "value": r"a++"}, {"type": "regex", "value": r"(?P<x>a)"},
                {"type": "regex", "value": r"[[]1"}, {"type": "regex", "value": r"\Aa"},
                {"type": "levenshtein", "value": "Paris", "threshold": 0}]},
    {"assert": [{"type": "contains", "value": "{{city}}"}, {"type": "icontains", "value": "{{ city }}"},
                {"type": "equals", "value": "{{city}}"}, {"type": "starts-with", "value": "{{city}}"}],
     "vars": {"city": "Paris"}, "threshold": 0.75},
]


def table_cases() -> list[dict[str, Any]]:
    """tests/test_checks.py's table of (check, output) cases as promptfoo tests (python checks left out: promptfoo
    runs those in its own Python worker)."""
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        from test_checks import CASES
    except ImportError:  # pytest missing: the crafted outputs alone
        return []
    return [{"vars": {"output": output}, "assert": [spec]} for spec, output, _, _ in CASES
            if "python" not in spec["type"]]


def echo_config() -> dict[str, Any]:
    tests = table_cases()
    for group in ECHO_GROUPS:
        for text in ECHO_OUTPUTS:
            test: dict[str, Any] = {"vars": {**group.get("vars", {}), "output": text}, "assert": group["assert"]}
            if "threshold" in group:
                test["threshold"] = group["threshold"]
            tests.append(test)
    return {"description": "ChatZoo check semantics vs promptfoo's", "prompts": ["{{output}}"],
            "providers": ["echo"], "tests": tests}


def semantics(folder: Path) -> dict[str, Any]:
    from chatzoo_widget.compare.promptfoo import promptfoo_rows
    config = echo_config()
    _, results = run_promptfoo(config, folder, 8)
    rows = promptfoo_rows(config, base=folder)
    compared, found = disagreements(results, rows)
    return {"rows": len(results), "assertions": compared, "disagreements": found}


# -- 2. 200 rows against chatzoo-server -------------------------------------------------------------------------

STYLES = [  # (how to answer, the style's own checks beyond the row's)
    ("Answer in a few words.", [{"type": "not-icontains", "value": "I don't know", "weight": 0.5}]),
    ("Answer with one word.", [{"type": "levenshtein", "value": "{{answer}}", "threshold": 3},
                               {"type": "not-contains", "value": "\n"}]),
    ('Reply only with JSON like {"answer": "..."}.', [{"type": "is-json", "weight": 2},
                                                      {"type": "contains-json", "metric": "json"}]),
    ('Start your reply with "Answer:".', [{"type": "starts-with", "value": "Answer:"},
                                          {"type": "regex", "value": r"^Answer:\s*\S"}]),
    ("Explain briefly.", [{"type": "regex", "value": r"[.!?]\s*$", "weight": 0},
                          {"type": "not-regex", "value": r"(?i)as an ai"}]),
]


def served_config(n_rows: int, base_url: str, max_tokens: int) -> dict[str, Any]:
    """A promptfoo config of `n_rows` tests: the shipped questions in the five STYLES, with their own checks."""
    questions = [json.loads(line) for line in (ROOT / "chatzoo_widget/data/questions.jsonl").read_text().splitlines()
                 if line.strip()]
    tests = []
    for i in range(n_rows):
        q, (style, checks) = questions[i % len(questions)], STYLES[(i // len(questions)) % len(STYLES)]
        tests.append({"vars": {"question": q["question"], "answer": str(q["answer"]), "style": style},
                      "assert": [*q.get("assert", []), {"type": "icontains", "value": "{{answer}}", "metric": "right"},
                                 *checks],
                      **({"threshold": 0.5} if i % 4 == 3 else {})})
    provider = {"id": f"openai:chat:{MODEL}",
                "config": {"apiBaseUrl": base_url, "apiKey": "unused", "max_tokens": max_tokens, "temperature": 0,
                           "passthrough": {"do_sample": False}}}
    return {"description": f"{n_rows} questions, ChatZoo vs promptfoo", "prompts": ["{{question}} {{style}}"],
            "providers": [provider], "defaultTest": {"assert": [{"type": "not-icontains", "value": "<|im_end|>"}]},
            "tests": tests}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(port: int, max_batch: int):
    """chatzoo-server with the model, until the block ends."""
    log = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen([sys.executable, "-m", "chatzoo_widget.server", "--pretrained_path", MODEL, "--name", MODEL,
                             "--port", str(port), "--max-batch", str(max_batch), "--log-level", "warning"],
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"chatzoo-server exited {proc.returncode}: {log.read()[-2000:]}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            time.sleep(1)
        else:
            raise RuntimeError("chatzoo-server did not come up in 10 minutes")
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(30)
        if proc.poll() is None:
            proc.kill()


def warm_server(base_url: str, concurrency: int, max_tokens: int, rounds: int = 5) -> int:
    """Rounds of `concurrency` requests at once until one round is answered whole, so neither side pays the
    model's first batches (and the decode step's compiling) inside the timing -> the failed requests seen."""
    from concurrent.futures import ThreadPoolExecutor

    def ask(i: int) -> bool:
        body = json.dumps({"model": MODEL, "max_tokens": max_tokens, "temperature": 0,
                           "messages": [{"role": "user", "content": f"Warm up {i}."}]}).encode()
        request = urllib.request.Request(f"{base_url}/chat/completions", body, {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=600) as r:
                return r.status == 200
        except OSError:
            return False

    failed = 0
    with ThreadPoolExecutor(concurrency) as pool:
        for _ in range(rounds):
            misses = list(pool.map(ask, range(concurrency))).count(False)
            failed += misses
            if not misses:
                break
    return failed


def in_process(config_path: Path, max_tokens: int, concurrency: int):
    """run_batch on the same config, one column of the same model in this process -> (seconds, frame)."""
    from chatzoo_widget.compare import run_batch
    from chatzoo_widget.manager import ChatManager
    from chatzoo_widget.testing import wait_until

    manager = ChatManager()
    column = manager.add({"name": "smollm2", "model": MODEL,
                          "settings": {"do_sample": False, "max_new_tokens": max_tokens}})
    assert wait_until(lambda: column.status == "ready", 600), f"the column did not load: {column.status}"
    for _ in range(5):  # as warm_server: until one round of `concurrency` rows is answered whole
        warm = run_batch(manager, [f"Warm up {i}." for i in range(concurrency)], max_in_flight=concurrency)
        if (warm["status"] == "done").all():
            break
    start = time.perf_counter()
    df = run_batch(manager, str(config_path), max_in_flight=concurrency)
    elapsed = time.perf_counter() - start
    with contextlib.suppress(Exception):
        manager.close()
    return elapsed, df


def speed(folder: Path, n_rows: int, max_tokens: int, concurrency: int) -> dict[str, Any]:
    from chatzoo_widget.compare.promptfoo import load_promptfoo

    with serve(free_port(), concurrency) as base_url:
        config = served_config(n_rows, base_url, max_tokens)
        warmup_errors = warm_server(base_url, concurrency, max_tokens)
        promptfoo_s, results = run_promptfoo(config, folder, concurrency)
    errors = [r.get("error") for r in results if not r.get("response") or r["response"].get("error")]
    rows = load_promptfoo(folder / "promptfooconfig.yaml")
    compared, found = disagreements(results, rows)
    ours_s, df = in_worker(in_process, folder / "promptfooconfig.yaml", max_tokens, concurrency)
    theirs_out = [r["response"]["output"] if r.get("response") else None for r in results]
    ours_out = df.sort_values("id", key=lambda s: s.astype(int))["reply"].tolist()
    return {"rows": n_rows, "max_tokens": max_tokens, "max_concurrency": concurrency, "warmup_errors": warmup_errors,
            "run_batch_unfinished": int((df["status"] != "done").sum()),
            "promptfoo_s": round(promptfoo_s, 2), "run_batch_s": round(ours_s, 2),
            "promptfoo_over_run_batch": round(promptfoo_s / ours_s, 3),
            "promptfoo_pass_rate": round(sum(r["success"] for r in results) / len(results), 3),
            "run_batch_pass_rate": round(float(df["pass"].mean()), 3),
            "same_outputs": sum(a == b for a, b in zip(theirs_out, ours_out)),
            "promptfoo_errors": len(errors), "assertions": compared, "disagreements": found}


def main() -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--max-tokens", type=int, default=24)
    parser.add_argument("--max-concurrency", type=int, default=16)
    parser.add_argument("--echo-only", action="store_true", help="only the semantics on crafted outputs")
    args = parser.parse_args()
    figures: dict[str, Any] = {"promptfoo": PROMPTFOO_VERSION}
    try:
        promptfoo_bin()
        with tempfile.TemporaryDirectory(prefix="bench-promptfoo-") as tmp:
            figures["echo"] = semantics(Path(tmp))
            echo = figures["echo"]
            print(f"crafted outputs: {echo['rows']} rows, {echo['assertions']} assertions, "
                  f"{len(echo['disagreements'])} disagreements with promptfoo")
            if not args.echo_only:
                run = figures["served"] = speed(Path(tmp), args.rows, args.max_tokens, args.max_concurrency)
                print(f"{run['rows']} rows of {MODEL} ({run['max_tokens']} tokens, {run['max_concurrency']} at once): "
                      f"promptfoo CLI via chatzoo-server {run['promptfoo_s']} s, run_batch in process "
                      f"{run['run_batch_s']} s ({run['promptfoo_over_run_batch']}x); pass rate promptfoo "
                      f"{run['promptfoo_pass_rate']} vs ours {run['run_batch_pass_rate']}, {run['same_outputs']} "
                      f"identical outputs; on promptfoo's outputs {len(run['disagreements'])} disagreements in "
                      f"{run['assertions']} assertions")
    except Skip as why:
        figures["skipped"] = str(why)
        print(f"skipped: {why}")
    for part in ("echo", "served"):
        for d in figures.get(part, {}).get("disagreements", [])[:20]:
            print(f"  {part} disagreement: {json.dumps(d, ensure_ascii=False)[:400]}")
    print(json.dumps(figures, ensure_ascii=False))
    return figures


if __name__ == "__main__":
    main()
