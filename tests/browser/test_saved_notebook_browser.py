"""Saved notebooks (JupyterLab's widget-state saving is on in the test profile): a notebook saved after a
conversation and reopened once its kernel is gone (no cell run) shows each column's conversation from the saved
widget state, and the file holds no API key and no key-bearing URL."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from conftest import KERNEL_IDLE_JS, WIDGET, _api, read_notebook
from test_compare_browser import SETUP, bot_messages, column, columns, kernel_json

pytestmark = pytest.mark.browser

SECRETS = ["sk-zq-env-value", "sk-zq-direct", "zq-pass-123"]
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def saved_state(path) -> dict:
    """{model id: state} of the widget state saved in the notebook file at `path` ({} when none yet)."""
    nb = read_notebook(path)
    return {mid: m["state"] for mid, m in (nb["metadata"].get("widgets", {}).get(WIDGET_STATE, {})
                                           .get("state", {})).items()}


def saved_columns(states: dict) -> list[dict]:
    """The ChatZoo widget's columns as saved: its `columns` trait lists its column models (IPY_MODEL_<id>), each
    saved on its own with `info` and the `history` the browser kept ({"version", "entries"})."""
    widget = next(s for s in states.values() if "columns" in s and "busy" in s)
    return [{**states[ref.removeprefix("IPY_MODEL_")]["info"],
             "history": states[ref.removeprefix("IPY_MODEL_")]["history"]["entries"]} for ref in widget["columns"]]


@pytest.mark.timeout(120, method="signal")
def test_saved_notebook_shows_the_conversations_once_its_kernel_is_gone(open_notebook, jupyter_server, page):
    open_notebook([
        # the secrets are put together at run time, so only a leak can put them whole into the file
        SETUP + "os.environ['ZQ_KEY_ENV'] = 'sk-zq-' + 'env-value'",
        "w = ChatZooWidget([ScriptedBOT('alpha', reply='alpha answers'), ScriptedBOT('beta', reply='beta answers'),\n"
        "    {'name': 'by-env', 'url': 'http://127.0.0.1:9/v1', 'api_key_env': 'ZQ_KEY_ENV'},\n"
        "    {'name': 'by-key', 'url': 'http://127.0.0.1:9/v1', 'load_options': {'api_key': 'sk-zq-' + 'direct'}},\n"
        "    {'name': 'in-url', 'url': 'http://zquser:zq-pass-' + '123@127.0.0.1:9/v1'}])\nw",
        "w.send('hello saved world', wait=True, timeout=60); w.wait(30)",
    ])
    expect(columns(page)).to_have_count(5, timeout=10_000)
    expect(bot_messages(column(page, "alpha"))).to_have_text(["alpha answers"], timeout=15_000)
    expect(bot_messages(column(page, "beta"))).to_have_text(["beta answers"], timeout=15_000)

    path = jupyter_server["root"] / page.notebook_path
    page.evaluate("() => { window.jupyterapp.commands.execute('docmanager:save'); }")
    deadline = time.monotonic() + 20
    while not any("columns" in s and "busy" in s for s in saved_state(path).values()):
        assert time.monotonic() < deadline, "the widget state was not saved into the notebook"
        time.sleep(0.2)
    text = path.read_text()
    leaked = [s for s in SECRETS if s in text]
    assert not leaked, f"saved notebook holds {leaked}"
    histories = {c["name"]: [e["content"] for e in c["history"]] for c in saved_columns(saved_state(path))}
    assert histories["alpha"] == ["hello saved world", "alpha answers"], histories
    assert histories["beta"] == ["hello saved world", "beta answers"], histories

    # Reopen the saved file once its kernel is gone: nothing runs, the widget comes from the saved state alone.
    # (A fresh kernel starts, as JupyterLab always does: jupyterlab-manager 8.1 reads a notebook's saved widget
    # state only after a kernel connected, so with "No Kernel" it shows the text fallback whatever the widget.)
    page.goto("about:blank")
    for s in _api(jupyter_server, "/api/sessions") or []:
        _api(jupyter_server, f"/api/sessions/{s['id']}", method="DELETE", timeout=10)
    page.goto(f"{jupyter_server['base']}/lab/tree/{path.name}?reset&token={jupyter_server['token']}")
    page.wait_for_function(KERNEL_IDLE_JS, timeout=60_000, polling=100)
    root = page.locator(f".jp-OutputArea-output {WIDGET}").first
    expect(root).to_be_visible(timeout=20_000)
    expect(bot_messages(column(page, "alpha"))).to_have_text(["alpha answers"], timeout=10_000)
    expect(bot_messages(column(page, "beta"))).to_have_text(["beta answers"])
    for name in ("alpha", "beta", "by-env", "by-key"):
        expect(column(page, name).locator("[data-testid=message][data-role=HUMAN]")).to_have_text(
            ["hello saved world"])
    assert kernel_json(page, "'w' in globals()") is False  # the new kernel never ran the cells
    assert not [s for s in SECRETS if s in page.content()]
