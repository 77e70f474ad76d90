"""promptfoo configs (`promptfooconfig.yaml`) as batch rows.

Honoured:
- `prompts`: a string or a list of them (`{{var}}` placeholders), `{raw, label}` objects, and `file://x.txt`
  (several prompts separated by a line `---`). With several prompts every test runs once per prompt (the row's
  `__prompt` var is the prompt's index). Row ids count the rows (0, 1, ...) unless a test has an `id` (key or var).
- `tests`: a list of `{vars, assert, threshold, description, options}` (an `id` var or key names the row), or a
  `file://` path (or a list item `file://...`) to a .csv/.jsonl/.json/.yaml file of tests; in CSV tests every column
  is a var except `__expected*` (one check each: `icontains: Paris`, `grade: rubric text`, or text the output must
  equal), `__description` and `__threshold`. A var whose value is a list expands into one test per value (every
  combination), as promptfoo does; a `file://` var reads that file's text.
- `defaultTest`: its `vars` under every test's, its `assert` before every test's, its `threshold`, and its
  `options.provider` as the grader of `llm-rubric`/`select-best` checks that name none.

Not honoured: `providers` (the widget's columns are the providers), `scenarios`, `nunjucks` filters and tags in
templates (only `{{ name }}` and `{{ a.b }}`), chat-format (JSON message list) prompts, `transform`, `options`
other than `provider`, `derivedMetrics`, `evaluateOptions`, `outputPath`.
"""

from __future__ import annotations

import itertools
import pathlib
from collections.abc import Mapping
from typing import Any

from .datasets import DataRow, expected_check, read_records, render

GRADED = ("llm-rubric", "select-best")


def load_promptfoo(path: str | pathlib.Path, *, template: list[str] | None = None) -> list[DataRow]:
    """The rows of a promptfoo config file (relative `file://` paths are read from the file's folder)."""
    import yaml
    path = pathlib.Path(path)
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ValueError(f"{path.name}{where}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    if not isinstance(config, Mapping):
        raise ValueError(f"{path.name}: a promptfoo config is a YAML mapping with `prompts` and `tests`")
    return promptfoo_rows(config, base=path.parent, template=template, name=path.name)


def promptfoo_rows(config: Mapping[str, Any], *, base: pathlib.Path, template: list[str] | None = None,
                   name: str = "the promptfoo config") -> list[DataRow]:
    """The rows of a promptfoo config already read into a dict (see the module docstring)."""
    prompts = [list(template)] if template is not None else _prompts(config.get("prompts"), base, name)
    default = config.get("defaultTest") or {}
    if not isinstance(default, Mapping):
        raise ValueError(f"{name}: defaultTest must be a mapping, got {default!r}")
    tests = _tests(config.get("tests"), base, name)
    if not tests:
        tests = [{}]  # promptfoo runs the prompts once with no vars
    rows: list[DataRow] = []
    for i, test in enumerate(tests):
        if not isinstance(test, Mapping):
            raise ValueError(f"{name}: tests[{i}] must be a mapping with vars/assert, got {test!r}")
        raw_vars = {**(default.get("vars") or {}), **(test.get("vars") or {})}
        checks = list(default.get("assert") or []) + list(test.get("assert") or [])
        grader = ((test.get("options") or {}).get("provider") or (default.get("options") or {}).get("provider"))
        if grader is not None:
            checks = [_with_grader(c, grader) for c in checks]
        threshold = test.get("threshold", default.get("threshold"))
        for vars_ in _expand(raw_vars, base):
            for j, turns in enumerate(prompts):
                where = f"{name} tests[{i}]" + (f" prompt {j}" if len(prompts) > 1 else "")
                if len(prompts) > 1:
                    vars_ = {**vars_, "__prompt": j}
                rows.append(DataRow(id=test.get("id", vars_.get("id", len(rows))),
                                    turns=[render(t, vars_, where) for t in turns], vars=dict(vars_),
                                    checks=checks, threshold=None if threshold is None else float(threshold),
                                    description=test.get("description")))
    return rows


def _with_grader(check: Any, grader: Any) -> Any:
    if isinstance(check, Mapping) and str(check.get("type", "")).removeprefix("not-") in GRADED \
            and "provider" not in check:
        return {**check, "provider": grader}
    return check


def _prompts(value: Any, base: pathlib.Path, name: str) -> list[list[str]]:
    if value is None:
        raise ValueError(f"{name} has no `prompts`")
    items = [value] if isinstance(value, (str, Mapping)) else list(value)
    prompts: list[list[str]] = []
    for k, item in enumerate(items):
        if isinstance(item, Mapping):
            item = item.get("raw", item.get("id"))
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"{name}: prompts[{k}] must be a prompt text, {{raw: ...}} or file://..., got {item!r}")
        if item.startswith("file://"):
            path = base / item.removeprefix("file://")
            if path.suffix.lower() not in (".txt", ".md", ".j2", ""):
                raise ValueError(f"{name}: prompts[{k}] {item!r}: only text prompt files are read (chat-format "
                                 "JSON prompts are not supported)")
            text = _read_text(path, name)
            prompts.extend([p.strip()] for p in text.split("\n---\n") if p.strip())
        else:
            if item.lstrip().startswith("[") and '"role"' in item:
                raise ValueError(f"{name}: prompts[{k}] is a chat-format (JSON messages) prompt, which is not "
                                 "supported: give a text prompt")
            prompts.append([item])
    return prompts


def _tests(value: Any, base: pathlib.Path, name: str) -> list[Any]:
    if value is None:
        return []
    items = [value] if isinstance(value, (str, Mapping)) else list(value)
    tests: list[Any] = []
    for item in items:
        if isinstance(item, str) and item.startswith("file://"):
            tests.extend(_tests_file(base / item.removeprefix("file://"), name))
        else:
            tests.append(item)
    return tests


def _tests_file(path: pathlib.Path, name: str) -> list[dict[str, Any]]:
    if not path.is_file():
        raise FileNotFoundError(f"{name}: no tests file at {str(path)!r}")
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml
        value = yaml.safe_load(path.read_text(encoding="utf-8"))
        return list(value) if isinstance(value, list) else [value]
    tests = []
    for record in read_records(path):
        if "vars" in record:
            tests.append(record)  # already a test object (a .json/.jsonl of tests)
            continue
        vars_ = {k: v for k, v in record.items() if not k.startswith("__")}
        checks = [expected_check(str(record[k])) for k in sorted(record)
                  if k.startswith("__expected") and record[k] not in (None, "")]
        test: dict[str, Any] = {"vars": vars_, "assert": checks}
        if record.get("__description"):
            test["description"] = record["__description"]
        if record.get("__threshold") not in (None, ""):
            test["threshold"] = float(record["__threshold"])
        tests.append(test)
    return tests


def _expand(raw_vars: Mapping[str, Any], base: pathlib.Path) -> list[dict[str, Any]]:
    """promptfoo's var expansion: list values give one test per value (every combination); file:// reads text."""
    names = list(raw_vars)
    options = []
    for key in names:
        value = raw_vars[key]
        values = value if isinstance(value, list) else [value]
        options.append([_read_text(base / v.removeprefix("file://"), key)
                        if isinstance(v, str) and v.startswith("file://") else v for v in values])
    return [dict(zip(names, combo)) for combo in itertools.product(*options)] if names else [{}]


def _read_text(path: pathlib.Path, name: str) -> str:
    if not path.is_file():
        raise FileNotFoundError(f"{name}: no file at {str(path)!r}")
    return path.read_text(encoding="utf-8")


__all__ = ["load_promptfoo", "promptfoo_rows"]
