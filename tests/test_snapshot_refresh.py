"""When the snapshot under the widget is replaced besides a turn's end (tests/test_snapshot.py has the turns):
a batch run, run from any cell, shows in it once it ended, and only then (its rows do not each cost a refresh)."""

from __future__ import annotations

from chatzoo_widget import ChatZooWidget
from chatzoo_widget.testing import ScriptedBOT, wait_until
from test_snapshot import outputs, table_of  # noqa: F401 (the fixture)


def test_a_batch_run_refreshes_the_snapshot_once_it_ended(outputs):  # noqa: F811
    w = ChatZooWidget([ScriptedBOT("alpha", reply=lambda q: "alpha on " + q[-1]["content"], delay=0.02)])
    w._ipython_display_()
    df = w.run_batch(["first row", "second row", "third row"])
    assert len(df) == 3
    updates = [data["text/html"] for kind, data, _ in outputs if kind == "update"]
    assert len(updates) == 1, f"one refresh for the run, not one per row: {len(updates)}"
    text = table_of(updates[0]).get_text(" ")
    assert "A batch run:" in text and "alpha on third row" in text

    run = w.run_batch(["stopped early"] * 50, wait=False)
    run.stop()
    assert run.wait(30) is not None and run.result.attrs["stopped"]
    assert wait_until(lambda: len([k for k, _, _ in outputs if k == "update"]) == 2), "a stopped run refreshes too"
    w.close()
