"""marimo end to end: `mo.ui.anywidget(ChatZooWidget(...))` served by `marimo run`, driven in Chromium.

marimo renders an anywidget through its own widget model (no JupyterLab, no ipywidgets manager in the page); the
column child models, custom messages and commands must all work there. The kernel is this interpreter.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

from chatzoo_widget.bots.process import free_port

from host_drive import WIDGET_CODE, drive_comparison, host_page

pytest.importorskip("marimo")
pytestmark = pytest.mark.browser
REPO = Path(__file__).resolve().parents[2]

NOTEBOOK = textwrap.dedent('''\
    import marimo

    app = marimo.App(width="full")


    @app.cell
    def _():
        import marimo as mo
        from chatzoo_widget import ChatZooWidget
        from chatzoo_widget.testing import ScriptedBOT
        zoo = mo.ui.anywidget({widget})
        zoo
        return


    if __name__ == "__main__":
        app.run()
    ''')


def _wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not answer:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)


@pytest.fixture
def marimo_app(tmp_path):
    """`marimo run` on a notebook of ScriptedBOT columns; yields its URL."""
    nb = tmp_path / "zoo.py"
    nb.write_text(NOTEBOOK.format(widget=WIDGET_CODE))
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MARIMO_SKIP_UPDATE_CHECK": "1", "HOME": str(tmp_path),
           "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
    log = tmp_path / "marimo.log"
    marimo = shutil.which("marimo", path=str(Path(sys.executable).parent)) or "marimo"
    with open(log, "wb") as out:
        proc = subprocess.Popen([marimo, "run", str(nb), "--headless", "--host", "127.0.0.1", "--port", str(port),
                                 "--no-token"], cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        _wait_http(f"http://127.0.0.1:{port}/", proc, log)
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.mark.timeout(150, method="signal")
def test_marimo_prompt_stream_stop_setting_vote(browser, marimo_app):
    with host_page(browser, marimo_app, "marimo") as page:
        page.goto(marimo_app)
        root = page.locator("[data-testid=chatzoo]").first
        root.wait_for(state="visible", timeout=60_000)
        drive_comparison(root)


def test_the_marimo_demo_is_a_clean_marimo_notebook():
    """notebooks/marimo_demo.py passes `marimo check` (marimo's own lint: cells, names, format)."""
    marimo = shutil.which("marimo", path=str(Path(sys.executable).parent)) or "marimo"
    demo = REPO / "notebooks" / "marimo_demo.py"
    done = subprocess.run([marimo, "check", "--strict", str(demo)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "MARIMO_SKIP_UPDATE_CHECK": "1"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "mo.ui.anywidget(w)" in demo.read_text()
