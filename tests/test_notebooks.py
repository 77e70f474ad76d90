"""notebooks/demo.ipynb runs offline from top to bottom, as the README's main job opens it."""

from __future__ import annotations

import pathlib

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_demo_notebook_runs_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    nb = nbformat.read(ROOT / "notebooks" / "demo.ipynb", as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert "Paris" in text and "Berlin" in text, "the offline models answer the demo's questions"
    assert "setting 'top_p' must be float from 0 to 1" in text
    assert "contestant" in text and "chosen" in text, "arena leaderboard and preference pairs ran"
    assert "Wilson 95% interval" in text and "verdict" in text, "the evaluation's summary shows intervals and verdicts"
    assert (tmp_path / "comparison.html").is_file(), "the last cell shares the comparison as a report"
    scored = next(c for c in nb.cells if c.cell_type == "code" and "w.cross_scores()" in c.source)
    matrix = "".join(str(o.get("data", {}).get("text/plain", "")) for o in scored.outputs)
    assert all(name in matrix for name in ("smollm2", "gemma-base", "smol-4bit")) and "-" in matrix, \
        "the models score each other's replies"
