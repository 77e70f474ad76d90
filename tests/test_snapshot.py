"""The static snapshot's content and life cycle, headless (the hosts are in tests/browser/test_snapshot_browser.py).

Displaying the widget shows two outputs: the widget and, under a display id, the snapshot; the snapshot is
replaced when a turn ends, the conversation is cleared or a vote reveals the names; blind while the arena is.
"""

from __future__ import annotations

import IPython.display
import pytest
from bs4 import BeautifulSoup

from chatzoo_widget import ChatZooWidget
from chatzoo_widget.testing import ScriptedBOT, wait_until

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


@pytest.fixture
def outputs(monkeypatch):
    """What IPython would publish: ("display" | "update", data, display_id)."""
    published: list[tuple[str, dict, str | None]] = []
    monkeypatch.setattr(IPython.display, "display",
                        lambda data, raw=False, display_id=None, metadata=None: published.append(
                            ("display", data, display_id)))
    monkeypatch.setattr(IPython.display, "update_display",
                        lambda data, raw=False, display_id=None: published.append(("update", data, display_id)))
    return published


def table_of(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser").select_one("div.chatzoo-snapshot")


def test_display_shows_the_widget_then_its_snapshot_and_updates_it(outputs):
    w = ChatZooWidget([ScriptedBOT("alpha", reply="**bold** answer"), ScriptedBOT("beta", reply="plain")])
    w.send("too early", wait=True)  # before it is displayed: nothing to update
    assert outputs == []
    w.clear()
    assert wait_until(lambda: not any(w.history.values()))
    w._ipython_display_()
    (kind, widget, _), (kind2, snap, display_id) = outputs
    assert kind == kind2 == "display" and WIDGET_VIEW in widget and widget["text/plain"] == "ChatZoo Widget (2 columns)"
    assert display_id == w._snapshot_id and list(snap) == ["text/html"]
    assert f"chatzoo-snapshot-{w._snapshot_id}" in snap["text/html"] and "no conversation yet" in snap["text/html"]

    w.send("Say something", wait=True)
    assert wait_until(lambda: outputs[-1][0] == "update" and "answer" in outputs[-1][1]["text/html"])
    last = table_of(outputs[-1][1]["text/html"])
    assert [th.get_text() for th in last.select("th")] == ["alpha", "beta"]
    assert "Say something" in last.get_text() and "bold" in [s.get_text() for s in last.select("strong")]
    assert all(display_id == w._snapshot_id for _, _, display_id in outputs[1:])
    w.clear()
    assert wait_until(lambda: "no conversation yet" in outputs[-1][1]["text/html"]), "clear empties it"


def test_snapshot_is_blind_until_the_vote(outputs):
    w = ChatZooWidget([ScriptedBOT("secret-alpha", reply="one"), ScriptedBOT("secret-beta", reply="two")],
                      arena=True, seed=4)
    w._ipython_display_()
    w.send("which?", wait=True)
    assert wait_until(lambda: "which?" in outputs[-1][1]["text/html"])
    blind = outputs[-1][1]["text/html"]
    assert "secret" not in blind and "blind" in blind
    assert {th.get_text() for th in table_of(blind).select("th")} == {"Model A", "Model B"}
    w.vote("Model A")
    assert {th.get_text() for th in table_of(outputs[-1][1]["text/html"]).select("th")} == {
        "secret-alpha", "secret-beta"}


def test_snapshot_keeps_model_output_inert():
    payload = '<img src=x onerror="window.__pwned=1"> <script>alert(1)</script> [x](javascript:alert(2))'
    w = ChatZooWidget([ScriptedBOT("xss", reply=payload)])
    w.send('<svg onload="alert(3)">', wait=True)
    snap = table_of(w.snapshot().data)
    assert not snap.select("img, script, svg, a[href]")
    assert not [t for t in snap.find_all(True) if any(a.startswith("on") for a in t.attrs)]
    assert '<svg onload="alert(3)">' in snap.get_text() and "<script>alert(1)</script>" in snap.get_text()


def test_a_failing_snapshot_costs_nothing(outputs, monkeypatch):
    from chatzoo_widget.report import snapshot

    w = ChatZooWidget([ScriptedBOT("alpha")])
    w._ipython_display_()
    monkeypatch.setattr(snapshot, "snapshot_html", lambda widget: 1 / 0)
    assert w.send("still answered", wait=True) == {"alpha": "Reply 1 to: still answered"}
    assert [kind for kind, _, _ in outputs] == ["display", "display"], "the last snapshot stays"


def test_a_closed_widget_displays_no_snapshot(outputs):
    w = ChatZooWidget([ScriptedBOT("alpha")])
    w.close()
    w._ipython_display_()
    assert [(kind, display_id) for kind, _, display_id in outputs] == [("display", None)]
    assert isinstance(outputs[0][1], str)


def test_a_long_conversation_snapshots_its_latest_turns_so_a_refresh_costs_the_same(outputs):
    from chatzoo_widget.report.snapshot import LAST_TURNS, REPLY_CHARS

    w = ChatZooWidget([ScriptedBOT("alpha", reply=lambda q: "answer " * 40), ScriptedBOT("beta", reply="x" * 30_000)])
    w._ipython_display_()
    sizes = []
    for n in range(1, LAST_TURNS + 6):
        w.send(f"prompt {n}", wait=True)
        assert wait_until(lambda: outputs[-1][0] == "update" and f"prompt {n}<" in outputs[-1][1]["text/html"])
        sizes.append(len(outputs[-1][1]["text/html"]))
    table = table_of(outputs[-1][1]["text/html"])
    text = table.get_text(" ")
    assert f"prompt {LAST_TURNS + 5}" in text and "prompt 6 " in text and "prompt 5 " not in text
    assert "5 earlier turns not shown here" in text and "w.export(" in text
    assert f"{30_000 - REPLY_CHARS:,} more characters in the report" in text
    # once the window is full, a refresh is as big as the one before it (within a turn number's digits)
    assert abs(sizes[-1] - sizes[LAST_TURNS - 1]) < 200, sizes
