"""Installable as users install: `python -m build` makes a wheel that carries the built front end, and the wheel
installed into a fresh venv (pip with no Node.js on PATH) gives a working widget in JupyterLab.

A second venv is Colab-like on the kernel side: the wheel with ipywidgets 7.7.1 (what Colab's runtime has
shipped; anywidget supports ipywidgets >= 7.6): a notebook run there by nbclient shows the widget, answers a
prompt, and its saved widget state carries no binary buffers (Colab's manager drops them). Its browser side is
Colab's own manager, which cannot run here (JupyterLab 4's manager does not load ipywidgets 7's base models).

torch, transformers and the rest come from this project's .venv through a .pth file, so the test neither
downloads nor copies gigabytes; the package itself comes only from the wheel.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import expect

from host_drive import QUICK, WIDGET_CODE, bot_messages, column

pytestmark = pytest.mark.browser
REPO = Path(__file__).resolve().parents[2]
COLAB_IPYWIDGETS = ["ipywidgets==7.7.1", "ipython_genutils==0.2.0"]  # 7.x imports ipython_genutils
KERNEL = "chatzoo-wheel"


def _run(cmd: list[str], **kw) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert done.returncode == 0, f"{cmd} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(REPO)], timeout=600)
    [whl] = out.glob("chatzoo_widget-*.whl")
    return whl


def _venv_with(wheel: Path, where: Path, *extra: str) -> Path:
    """A fresh venv with the wheel (and `extra` requirements) installed, the heavy dependencies seen through a
    .pth file placed after the venv's own packages."""
    venv = where / "venv"
    _run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", str(venv)], timeout=120)
    py = venv / "bin" / "python"
    site = _run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).strip()
    ours = _run([sys.executable, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).strip()
    Path(site, "zz_chatzoo_dependencies.pth").write_text(ours + "\n")  # after the venv's own packages
    no_node = {"PATH": str(venv / "bin"), "HOME": os.environ.get("HOME", "/root")}  # pip needs no Node.js
    _run([str(py), "-m", "pip", "install", "--disable-pip-version-check", "-q", "--no-deps", str(wheel),
          *extra], env=no_node, timeout=300)
    return venv


@pytest.fixture(scope="module")
def wheel_venv(wheel, tmp_path_factory) -> Path:
    return _venv_with(wheel, tmp_path_factory.mktemp("wheel-venv"))


@pytest.fixture(scope="module")
def colab_venv(wheel, tmp_path_factory) -> Path:
    return _venv_with(wheel, tmp_path_factory.mktemp("colab-venv"), *COLAB_IPYWIDGETS)


def test_the_wheel_carries_the_built_front_end(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"chatzoo_widget/static/widget.js", "chatzoo_widget/static/widget.css"} <= names
    js = zipfile.ZipFile(wheel).read("chatzoo_widget/static/widget.js")
    assert b"chatzoo" in js and len(js) > 10_000, "widget.js is the bundle, not a stub"


def test_the_wheel_accepts_colabs_ipywidgets(wheel):
    """pip must keep the runtime's own ipywidgets (7.7.1 on Colab) rather than replace it."""
    from packaging.requirements import Requirement

    with zipfile.ZipFile(wheel) as zf:
        meta = zf.read(next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    [req] = [Requirement(line.split(":", 1)[1].strip()) for line in meta.splitlines()
             if line.startswith("Requires-Dist: ipywidgets")]
    assert req.specifier.contains("7.7.1"), f"the wheel requires {req}, which replaces Colab's ipywidgets 7.7.1"


@pytest.mark.timeout(600, method="signal")
def test_wheel_installed_in_a_fresh_venv_works_in_jupyterlab(wheel_venv, lab_server, page):
    # the installed package, not this checkout: the kernel runs from the venv, with no PYTHONPATH
    py = wheel_venv / "bin" / "python"
    spec = Path(lab_server["env"]["JUPYTER_DATA_DIR"]) / "kernels" / KERNEL
    spec.mkdir(parents=True, exist_ok=True)
    spec.joinpath("kernel.json").write_text(json.dumps({
        "argv": [str(py), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "wheel venv", "language": "python", "env": {"PYTHONPATH": ""}}))
    cells = [
        "import os\nos.environ['HF_HUB_OFFLINE'] = '1'\nimport chatzoo_widget, ipywidgets\n"
        "from chatzoo_widget import ChatZooWidget\nfrom chatzoo_widget.testing import ScriptedBOT\n"
        "print('FROM', chatzoo_widget.__file__, 'IPYWIDGETS', ipywidgets.__version__)",
        f"w = {WIDGET_CODE}\nw",
    ]
    name = f"wheel_{uuid.uuid4().hex[:6]}.ipynb"
    (lab_server["root"] / name).write_text(json.dumps({
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": KERNEL, "display_name": "wheel venv", "language": "python"}},
        "cells": [{"cell_type": "code", "id": uuid.uuid4().hex[:8], "metadata": {}, "execution_count": None,
                   "outputs": [], "source": src} for src in cells]}))
    page.goto(f"{lab_server['base']}/lab/tree/{name}?reset&token={lab_server['token']}")
    page.wait_for_function("""() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
        const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
        return !!k && k.status === 'idle' && k.connectionStatus === 'connected'; }""", timeout=120_000)
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")

    root = page.locator(".jp-OutputArea-output [data-testid=chatzoo]").first
    root.wait_for(state="visible", timeout=120_000)
    printed = page.locator(".jp-OutputArea-output", has_text="FROM").first.inner_text()
    assert str(wheel_venv) in printed and str(REPO) not in printed, printed

    quick = column(root, "quick")
    expect(quick).to_have_attribute("data-status", "ready", timeout=60_000)
    box = root.locator("[data-testid=prompt]")
    box.fill("hello from the wheel")
    box.press("Enter")
    expect(bot_messages(quick)).to_have_text([QUICK], timeout=30_000)
    root.locator("[data-testid=stop-all]").click()
    expect(column(root, "slow")).to_have_attribute("data-status", "ready", timeout=10_000)


# Run by the Colab-like venv's own interpreter: nbclient (from the .pth) starts that venv's python3 kernel.
COLAB_RUN = """
import json, sys, nbformat
from nbclient import NotebookClient
cells = json.loads(sys.argv[1])
nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
NotebookClient(nb, timeout=120, kernel_name="python3", store_widget_state=True).execute()
outputs = [o for c in nb.cells for o in c.get("outputs", [])]
state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
print(json.dumps({"outputs": outputs, "state": state}))
"""


@pytest.mark.timeout(300, method="signal")
def test_wheel_kernel_side_works_with_colabs_ipywidgets_7(colab_venv, tmp_path):
    cells = [
        "import os\nos.environ['HF_HUB_OFFLINE'] = '1'\nimport chatzoo_widget, ipywidgets\n"
        "from chatzoo_widget import ChatZooWidget\nfrom chatzoo_widget.testing import ScriptedBOT\n"
        "print('FROM', chatzoo_widget.__file__, 'IPYWIDGETS', ipywidgets.__version__)",
        f"w = ChatZooWidget([ScriptedBOT('quick', reply={QUICK!r})])\nw",
        "print('REPLY', w.send('hi', wait=True))",
    ]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "JUPYTER_PATH")}
    env.update(HF_HUB_OFFLINE="1", JUPYTER_DATA_DIR=str(tmp_path / "data"), IPYTHONDIR=str(tmp_path / "ipython"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    result = json.loads(_run([str(colab_venv / "bin" / "python"), "-c", COLAB_RUN, json.dumps(cells)],
                             env=env, cwd=tmp_path, timeout=240).splitlines()[-1])
    outputs = result["outputs"]
    assert not [o for o in outputs if o["output_type"] == "error"], outputs
    text = "".join(o.get("text", "") for o in outputs)
    assert f"FROM {colab_venv}" in text and "IPYWIDGETS 7.7.1" in text, text
    assert f"REPLY {{'quick': '{QUICK}'}}" in text, text
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs), outputs
    models = result["state"].values()
    assert any(m.get("model_name") == "AnyModel" for m in models), "the widget's state was saved"
    assert not [m for m in models if m.get("buffers")], "no binary buffers (Colab's widget manager drops them)"
