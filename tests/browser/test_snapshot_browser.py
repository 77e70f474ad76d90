"""The static snapshot (chatzoo_widget/report/snapshot.py) in the hosts that matter, with no network.

- A notebook of ScriptedBOT columns executed by nbclient (what `jupyter nbconvert --execute` runs), converted with
  nbconvert's HTML exporter with and without the widget state nbclient saves, and opened from disk in Chromium
  shows the replies (the snapshot output, updated at the turn's end).
- The same notebook reopened in JupyterLab and run with a kernel shows the live widget and no snapshot beside it.
The size the snapshot adds to the saved notebook is printed (README quotes it).
"""

from __future__ import annotations

import copy

import nbformat
import pytest
from nbclient import NotebookClient
from nbconvert import HTMLExporter
from playwright.sync_api import expect

from conftest import KERNEL_IDLE_JS, RUN_DONE_JS, WIDGET, _notebook

pytestmark = pytest.mark.browser

CELLS = [
    "from chatzoo_widget import ChatZooWidget\nfrom chatzoo_widget.testing import ScriptedBOT\n"
    "w = ChatZooWidget([ScriptedBOT('alpha', reply='**Paris** is the capital.'),\n"
    "                   ScriptedBOT('beta', reply='<think>Let me see.</think>It is Paris, I think.')])\nw",
    "w.send('What is the capital of France?', wait=True)\nw.wait(30)",
    "w.send('And of Italy? <img src=x onerror=\"window.__pwned=1\">', wait=True)\nw.wait(30)",
]
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The notebook after nbclient ran it (outputs and the widget state it stores), and the snapshot's size."""
    nb = nbformat.from_dict(_notebook(CELLS))
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path_factory.mktemp("run"))}}).execute()
    return nb


def snapshot_outputs(nb) -> list[dict]:
    return [o for c in nb.cells for o in c.get("outputs", ())
            if "chatzoo-snapshot" in str(o.get("data", {}).get("text/html", ""))]


def test_executed_notebook_carries_the_updated_snapshot(executed):
    (snap,) = snapshot_outputs(executed)
    html = snap["data"]["text/html"]
    assert "capital of France" in html and "And of Italy?" in html, "updated to the last turn's end"
    assert "<strong>Paris</strong>" in html and "It is Paris, I think." in html
    assert "<img" not in html and "&lt;img src=x" in html
    saved = nbformat.writes(executed)
    without = copy.deepcopy(executed)
    for cell in without.cells:
        cell.outputs = [o for o in cell.get("outputs", ()) if o not in snapshot_outputs(executed)]
    added = len(saved.encode()) - len(nbformat.writes(without).encode())
    replies = sum(len(r) for r in ("**Paris** is the capital.", "It is Paris, I think.")) * 2
    print(f"\nsnapshot: {added} bytes added to the saved notebook ({len(saved.encode())} bytes in all; "
          f"2 columns x 2 turns, {replies} characters of replies)")
    assert added < 12_000


@pytest.mark.parametrize("widget_state", [True, False], ids=["with-widget-state", "without-widget-state"])
def test_nbconvert_html_opened_offline_shows_the_replies(browser, executed, tmp_path, widget_state):
    nb = copy.deepcopy(executed)
    if not widget_state:  # as JupyterLab (by default) and VS Code save a notebook
        nb.metadata.pop("widgets", None)
    assert (WIDGET_STATE in nb.metadata.get("widgets", {})) == widget_state
    body, _ = HTMLExporter().from_notebook_node(nb)
    path = tmp_path / "converted.html"
    path.write_text(body, encoding="utf-8")

    context = browser.new_context()
    page = context.new_page()
    context.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file://") else r.abort())
    try:
        page.goto(path.as_uri(), wait_until="load")
        snap = page.locator(".chatzoo-snapshot")
        expect(snap).to_have_count(1)
        expect(snap).to_be_visible()
        expect(snap.locator("th")).to_have_text(["alpha", "beta"])
        expect(snap).to_contain_text("What is the capital of France?")
        expect(snap).to_contain_text("It is Paris, I think.")
        expect(snap.locator("strong", has_text="Paris").first).to_be_visible()
        expect(snap.locator("details")).to_have_count(2)  # beta's thinking, folded, in both turns
        page.wait_for_timeout(300)
        assert page.evaluate("() => window.__pwned") is None
    finally:
        context.close()


@pytest.mark.timeout(180, method="signal")
def test_jupyterlab_with_a_kernel_shows_the_live_widget_and_no_snapshot(executed, jupyter_server, page):
    nb = copy.deepcopy(executed)
    nb.metadata.kernelspec = _notebook([])["metadata"]["kernelspec"]  # the test server's kernel
    name = "snapshot_reopened.ipynb"
    (jupyter_server["root"] / name).write_text(nbformat.writes(nb))
    page.goto(f"{jupyter_server['base']}/lab/tree/{name}?reset&token={jupyter_server['token']}")
    page.wait_for_function(KERNEL_IDLE_JS, timeout=60_000, polling=100)
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    page.wait_for_function(RUN_DONE_JS, timeout=90_000, polling=100)
    widget = page.locator(f".jp-OutputArea-output {WIDGET}")
    expect(widget).to_have_count(1)
    expect(widget).to_be_visible()
    expect(widget.locator("[data-testid=message][data-role=BOT]").first).to_contain_text("Paris", timeout=20_000)
    snaps = page.locator(".chatzoo-snapshot")
    expect(snaps).to_have_count(1)  # the fresh run's own snapshot output is there, for a saved file ...
    expect(snaps).to_be_hidden()    # ... and hidden while the live widget shows
    assert page.locator(".jp-OutputArea-child:visible", has=snaps).count() == 0
