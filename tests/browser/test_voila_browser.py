"""Voila end to end: a notebook of ScriptedBOT columns served as an app by `voila`, driven in Chromium.

Voila runs the notebook in a kernel of its own and renders its widgets with its own manager (no JupyterLab). Its
template links two CSS files from a CDN; the test aborts those requests (the widget itself fetches nothing).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import socket
import time
import uuid
from pathlib import Path

import pytest

from chatzoo_widget.bots.process import free_port
from host_drive import WIDGET_CODE, drive_comparison, host_page

pytest.importorskip("voila")
pytestmark = pytest.mark.browser
REPO = Path(__file__).resolve().parents[2]
CDN = ("https://cdn.jsdelivr.net/", "https://unpkg.com/", "https://cdnjs.cloudflare.com/")

CELLS = [
    "import os\nos.environ['HF_HUB_OFFLINE'] = '1'\nfrom chatzoo_widget import ChatZooWidget\n"
    "from chatzoo_widget.testing import ScriptedBOT",
    f"w = {WIDGET_CODE}\nw",
]


def _notebook(kernel: str) -> dict:
    return {"nbformat": 4, "nbformat_minor": 5,
            "metadata": {"kernelspec": {"name": kernel, "display_name": "Python 3 (chatzoo venv)",
                                        "language": "python"}},
            "cells": [{"cell_type": "code", "id": uuid.uuid4().hex[:8], "metadata": {}, "execution_count": None,
                       "outputs": [], "source": src} for src in CELLS]}


@pytest.fixture
def voila_app(tmp_path):
    """`voila zoo.ipynb` with this interpreter as its kernel; yields the app's URL."""
    data = tmp_path / "data"
    spec = data / "kernels" / "chatzoo-voila"
    spec.mkdir(parents=True)
    spec.joinpath("kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (chatzoo venv)", "language": "python"}))
    nb = tmp_path / "zoo.ipynb"
    nb.write_text(json.dumps(_notebook("chatzoo-voila")))
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "JUPYTER_DATA_DIR": str(data),
           "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "IPYTHONDIR": str(tmp_path / "ipython"),
           "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
    env.pop("JUPYTER_PATH", None)
    log = tmp_path / "voila.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "voila", str(nb), "--no-browser", "--Voila.ip=127.0.0.1",
                                 f"--port={port}", "--token=", "--Voila.port_retries=0"],
                                cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"voila exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
            try:  # a connection is enough: any page would start a kernel
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"voila did not answer:\n{log.read_text()[-3000:]}")
                time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.mark.timeout(150, method="signal")
def test_voila_prompt_stream_stop_setting_vote(browser, voila_app):
    with host_page(browser, voila_app, "voila", blocked=CDN) as page:
        page.goto(voila_app)
        root = page.locator("[data-testid=chatzoo]").first
        root.wait_for(state="visible", timeout=60_000)
        drive_comparison(root)
