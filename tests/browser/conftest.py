"""Browser-test fixtures: one isolated JupyterLab server per session, headless Debian Chromium via Playwright.

Recipe: /work/shared/reference/browser-testing.md (flags, isolation, pitfalls). Nothing here downloads a browser;
the tests skip only where /usr/bin/chromium is missing.

Fixtures:
    lab_server     session: {"base", "token", "root", "env", "app"} of a JupyterLab on 127.0.0.1 (stopped in
                   teardown); widget-state saving is on
    notebook7_server  session: the same for Jupyter Notebook 7
    jupyter_server function: the server `page` and `open_notebook` use (JupyterLab unless a module overrides it)
    browser        session: Playwright Chromium, every host name except loopback made to fail
    page           function: a fresh context + page; records console errors, page errors and non-local requests;
                   screenshot to test-artifacts/ on failure; fails the test when a request left localhost or
                   the page raised an uncaught error; shuts down the kernels the test started
    open_notebook  function: open_notebook(cells) -> page, the notebook run and the widget shown
    tiny_models    session: folder of tiny random models, tiny_models / "chat" (from tests/conftest.py)
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urlparse

import pytest

from chatzoo_widget.bots.process import free_port

CHROMIUM = "/usr/bin/chromium"
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1",
]

# Console errors JupyterLab itself may print in an isolated, offline profile; anything else fails the test.
BENIGN_CONSOLE = [
    re.compile(r"Failed to load resource: the server responded with a status of 404"),  # e.g. lab/api/translations
]

# Notebook 7 itself raises this while loading its settings in an isolated profile (seen with a notebook of one
# print(); it comes from notebook_core, not from the widget).
BENIGN_PAGE_ERRORS = {"notebook": [re.compile(r"reading 'schema'\)\n.*static/notebook/notebook_core", re.S)]}

WIDGET = "[data-testid=chatzoo]"
KERNEL_NAME = "chatzoo-test"


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


# ----- JupyterLab -------------------------------------------------------------------------------------

def _api(lab: dict, path: str, method: str = "GET", timeout: float = 5.0):
    req = urllib.request.Request(f"{lab['base']}{path}", method=method,
                                 headers={"Authorization": f"token {lab['token']}"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        body = r.read()
    return json.loads(body) if body else None


def read_notebook(path: Path, timeout: float = 5.0) -> dict:
    """The notebook file at `path` as JSON. Jupyter's save rewrites the file in place, so a read that lands
    mid-save sees it empty or cut: read again until it parses (or the time is up, then raise what it saw)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return json.loads(Path(path).read_text())
        except json.JSONDecodeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _serve(tmp_path_factory, app: str):
    """Start JupyterLab (app "lab") or Notebook 7 (app "notebook"), isolated, on a free port; yield its dict."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium); browser tests need Debian's Chromium")
    home = tmp_path_factory.mktemp(app)
    root = home / "notebooks"
    dirs = {name: home / name.lower() for name in (
        "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "JUPYTERLAB_SETTINGS_DIR",
        "JUPYTERLAB_WORKSPACES_DIR", "IPYTHONDIR")}
    for d in [root, *dirs.values()]:
        d.mkdir(parents=True, exist_ok=True)

    # Kernel = this interpreter (the venv that has the package, ipykernel, anywidget), under its own name (a
    # venv's share/jupyter "python3" would otherwise win over JUPYTER_DATA_DIR); the test notebooks name it.
    spec = dirs["JUPYTER_DATA_DIR"] / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (chatzoo venv)", "language": "python",
        "metadata": {"debugger": False}}))
    # No "get notified about Jupyter news?" toast.
    if app == "lab":
        notif = dirs["JUPYTERLAB_SETTINGS_DIR"] / "@jupyterlab" / "apputils-extension"
        notif.mkdir(parents=True)
        (notif / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false",
                                                                            "checkForUpdates": False}))
    # Widget state saved into the notebook (the saved-notebook tests read it back).
    if app == "lab":
        manager = dirs["JUPYTERLAB_SETTINGS_DIR"] / "@jupyter-widgets" / "jupyterlab-manager"
        manager.mkdir(parents=True)
        (manager / "plugin.jupyterlab-settings").write_text(json.dumps({"saveState": True}))

    port, token = free_port(), uuid.uuid4().hex
    env = {**os.environ, **{k: str(v) for k, v in dirs.items()},
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1",
           # the kernel imports the package under test from this checkout whether or not it is pip-installed
           "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
    env.pop("JUPYTER_PATH", None)
    log = open(home / f"{app}.log", "wb")
    common = ["--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
              f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--allow-root"]
    if app == "lab":
        cmd = [sys.executable, "-m", "jupyterlab", *common, "--LabApp.expose_app_in_browser=True",
               "--LabApp.news_url=None",
               "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate",
               "--LabApp.extension_manager=readonly"]
    else:
        cmd = [sys.executable, "-m", "notebook", *common, "--JupyterNotebookApp.expose_app_in_browser=True"]
    proc = subprocess.Popen(cmd, env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    server = {"base": f"http://127.0.0.1:{port}", "token": token, "root": root, "env": env,
              "log": home / f"{app}.log", "proc": proc, "app": app}
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{app} exited ({proc.returncode}):\n{server['log'].read_text()[-3000:]}")
            try:
                _api(server, "/api/status", timeout=2)
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{app} did not answer:\n{server['log'].read_text()[-3000:]}")
                time.sleep(0.2)
        yield server
    finally:
        try:
            for s in _api(server, "/api/sessions") or []:
                _api(server, f"/api/sessions/{s['id']}", method="DELETE")
        except Exception:
            pass
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory):
    yield from _serve(tmp_path_factory, "lab")


@pytest.fixture(scope="session")
def notebook7_server(tmp_path_factory):
    """Jupyter Notebook 7, isolated like lab_server; its pages are /notebooks/NAME.ipynb."""
    yield from _serve(tmp_path_factory, "notebook")


# ----- Browser ----------------------------------------------------------------------------------------

@pytest.fixture
def jupyter_server(lab_server):
    """The server `page` and `open_notebook` use: JupyterLab; a module overrides it (Notebook 7 tests)."""
    return lab_server


@pytest.fixture(scope="module")  # not session: Playwright's sync API holds an event loop on the main thread,
def browser():                     # which must be gone before tests that call asyncio.run() themselves
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium); browser tests need Debian's Chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser, jupyter_server, request):
    lab_server = jupyter_server
    host = urlparse(lab_server["base"]).netloc
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    context.set_default_timeout(20_000)
    pg = context.new_page()
    pg.console_errors, pg.page_errors, pg.foreign_requests = [], [], []

    def on_request(req):
        u = urlparse(req.url)
        if u.scheme in ("data", "blob", "about") or u.netloc == host:
            return
        pg.foreign_requests.append(req.url)

    def on_console(msg):
        if msg.type == "error" and not any(p.search(msg.text) for p in BENIGN_CONSOLE):
            pg.console_errors.append(msg.text)

    pg.on("request", on_request)
    pg.on("console", on_console)
    def on_page_error(exc):
        text = f"{exc}\n{getattr(exc, 'stack', '') or ''}"[:1500]
        if not any(p.search(text) for p in BENIGN_PAGE_ERRORS.get(lab_server["app"], [])):
            pg.page_errors.append(text)

    pg.on("pageerror", on_page_error)
    sessions_before = {s["id"] for s in _api(lab_server, "/api/sessions") or []}
    problems: list[str] = []
    try:
        yield pg
    finally:
        rep = getattr(request.node, "rep_call", None)
        failed = rep is None or rep.failed
        if not failed:  # checked only when the test itself passed (else they would hide its message)
            if pg.foreign_requests:
                problems.append(f"the page requested non-local URLs: {pg.foreign_requests}")
            if pg.page_errors:
                problems.append(f"uncaught errors in the page: {pg.page_errors}")
            if pg.console_errors:
                problems.append(f"console errors: {pg.console_errors}")
        if failed or problems:
            ARTIFACTS.mkdir(exist_ok=True)
            shot = ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', request.node.name)}.png"
            try:
                pg.screenshot(path=str(shot), full_page=True)
                shot.with_suffix(".log.txt").write_text("\n".join(
                    ["console errors:", *pg.console_errors, "", "page errors:", *pg.page_errors, "",
                     "non-local requests:", *pg.foreign_requests]))
                print(f"\nscreenshot: {shot}")
            except Exception as exc:  # a screenshot must not hide the real failure
                print(f"\nscreenshot failed: {exc}")
        context.close()
        try:  # one kernel per test: shut down what this test started
            for s in _api(lab_server, "/api/sessions") or []:
                if s["id"] not in sessions_before:
                    _api(lab_server, f"/api/sessions/{s['id']}", method="DELETE", timeout=10)
        except Exception:
            pass
    assert not problems, "\n".join(problems)


# ----- Notebooks --------------------------------------------------------------------------------------

KERNEL_IDLE_JS = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!k && k.status === 'idle' && k.connectionStatus === 'connected';
}"""

# True once the kernel is idle and every code cell has run (or one raised: run-all stops there).
RUN_DONE_JS = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  if (!k || k.status !== 'idle') return false;
  const cells = Array.from(w.content.model.cells).filter(c => c.type === 'code');
  if (cells.some(c => c.outputs.toJSON().some(o => o.output_type === 'error'))) return true;
  return cells.every(c => c.executionCount !== null);
}"""

CELL_ERRORS_JS = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  const out = [];
  for (const c of w.content.model.cells) {
    if (c.type !== 'code') continue;
    for (const o of c.outputs.toJSON()) {
      if (o.output_type === 'error') out.push(o.ename + ': ' + o.evalue + '\\n' + (o.traceback || []).join('\\n'));
    }
  }
  return out;
}"""

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _notebook(cells: list[str]) -> dict:
    return {
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": KERNEL_NAME, "display_name": "Python 3 (chatzoo venv)",
                                    "language": "python"},
                     "language_info": {"name": "python"}},
        "cells": [{"cell_type": "code", "id": uuid.uuid4().hex[:8], "metadata": {}, "execution_count": None,
                   "outputs": [], "source": src} for src in cells],
    }


@pytest.fixture
def open_notebook(page, jupyter_server, request):
    """open_notebook(cells, wait_widget=True, timeout=60) -> page: write NAME.ipynb into the server root, open
    it, wait for the kernel, run all cells, fail with the traceback if a cell raised, wait for the widget."""

    def _open(cells: list[str], wait_widget: bool = True, timeout: float = 60.0):
        name = f"{re.sub(r'[^A-Za-z0-9_]+', '_', request.node.name)}_{uuid.uuid4().hex[:6]}.ipynb"
        server = jupyter_server
        (server["root"] / name).write_text(json.dumps(_notebook(cells)))
        where = f"lab/tree/{name}?reset&" if server["app"] == "lab" else f"notebooks/{name}?"
        page.goto(f"{server['base']}/{where}token={server['token']}")
        page.notebook_path = name
        page.wait_for_function(KERNEL_IDLE_JS, timeout=timeout * 1000, polling=100)
        # do not await the command's promise (awaiting it hung in the recipe's runs)
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
        page.wait_for_function(RUN_DONE_JS, timeout=timeout * 1000, polling=100)
        errors = page.evaluate(CELL_ERRORS_JS)
        if errors:
            pytest.fail("a notebook cell raised:\n" + ANSI.sub("", "\n\n".join(errors)), pytrace=False)
        if wait_widget:
            page.locator(f".jp-OutputArea-output {WIDGET}").first.wait_for(state="visible", timeout=timeout * 1000)
        return page

    return _open


@pytest.fixture(scope="session")
def tiny_models(tiny_chat_dir) -> Path:
    """Folder of tiny random models: tiny_models / "chat" is the chat family (Qwen2 + ChatML).

    Built once per session by tests/conftest.py's tiny_chat_dir (the builders of
    `python -m chatzoo_widget.testing.tiny_models OUTDIR`); only the family these tests load is built."""
    assert Path(tiny_chat_dir).name == "chat", tiny_chat_dir
    return Path(tiny_chat_dir).parent
