"""A batch run in the report and the notebook snapshot, headless: the report shows the widget's results grid (a row
per prompt, a column per model, each cell its reply, badge, score and check reasons; long replies folded; the
summary above; the flags report.js filters by), blind exports name no model anywhere in the grid, and the
snapshot shows that a batch ran with a bounded number of rows whatever its size.
tests/browser/test_report_browser.py opens such a report and uses its filters.
"""

from __future__ import annotations

import re

from bs4 import BeautifulSoup

from chatzoo_widget import ChatZooWidget
from chatzoo_widget.report.snapshot import GRID_ROWS
from chatzoo_widget.testing import ScriptedBOT

LONG = "Paris. " + "Unquestionably, incontrovertibly, indisputably the capital. " * 6  # 31 words, 367 characters
ALPHA = {"France": LONG, "Italy": "Rome", "Spain": "Lisbon"}
BETA = {"France": "Paris", "Italy": "Milan", "Spain": "Porto"}
ROWS = [{"id": "fr", "country": "France", "answer": "Paris"}, {"id": "it", "country": "Italy", "answer": "Rome"},
        {"id": "es", "country": "Spain", "answer": "Madrid"}]
CHECKS = [{"type": "icontains", "value": "{{answer}}"}, {"type": "not-contains", "value": "Milan"}]


def answering(name: str, answers: dict[str, str]) -> ScriptedBOT:
    return ScriptedBOT(name, reply=lambda q: next(a for k, a in answers.items() if k in q[-1]["content"]))


def soup_of(text: str) -> BeautifulSoup:
    return BeautifulSoup(text, "html.parser")


def grid_of(soup: BeautifulSoup):
    grid = soup.select_one("[data-testid=grid]")
    return [c.get_text() for c in grid.select("[data-testid=grid-column]")], grid.select("[data-testid=grid-row]")


def badges(row) -> list[str]:
    return [b.get_text() if (b := c.select_one("[data-testid=grid-badge]")) else "" for c in row.select("[role=cell]")]


def test_the_report_shows_the_batch_as_the_widgets_grid_under_its_summary(tmp_path):
    w = ChatZooWidget([answering("alpha", ALPHA), answering("beta", BETA)])
    w.run_batch(ROWS, template="Capital of {country}? One word.", checks=CHECKS)
    soup = soup_of(w.export(tmp_path / "grid.html").read_text(encoding="utf-8"))
    columns, rows = grid_of(soup)
    assert columns == ["alpha", "beta"]
    assert [r.select_one(".cz-grid-id").get_text() for r in rows] == ["fr", "it", "es"]
    assert "Capital of Italy? One word." in rows[1].select_one("[role=rowheader]").get_text()
    assert [badges(r) for r in rows] == [["pass", "pass"], ["pass", "fail"], ["fail", "fail"]]
    # the flags the filters read: a column failed; some columns pass and others fail
    assert [(r["data-fail"], r["data-disagree"]) for r in rows] == [("0", "0"), ("1", "1"), ("1", "0")]

    milan = rows[1].select("[role=cell]")[1]
    assert milan.select_one("[data-testid=grid-reply]").get_text() == "Milan"
    assert milan.select_one("[data-testid=grid-score]").get_text() == "score 0.00"
    reasons = [li.get_text() for li in milan.select("[data-testid=grid-reasons] li")]
    assert reasons == ['✗ icontains: Expected output to contain "Rome"',
                       '✗ not-contains: Expected output to not contain "Milan"']
    passed = rows[1].select("[role=cell]")[0].select("[data-testid=grid-reasons] li")
    assert [li.get_text() for li in passed] == ["✓ icontains", "✓ not-contains"]
    assert passed[0]["title"] == "Assertion passed", "a passed check's reason on hover"

    long_cell = rows[0].select("[role=cell]")[0]
    fold = long_cell.select_one("details[data-testid=grid-fold]")
    assert fold is not None and not fold.has_attr("open"), "a long reply is folded"
    assert fold.select_one("summary").get_text().endswith("…") and len(fold.select_one("summary").get_text()) <= 160
    assert fold.select_one("[data-testid=grid-reply]").get_text() == LONG, "the whole reply on click"
    assert rows[0].select("[role=cell]")[1].select_one("details") is None, "a short one is not"

    sections = [s["data-testid"] for s in soup.select("section.cz-section")]
    assert sections.index("summary-section") < sections.index("batch-section"), "the summary above the grid"
    assert soup.select_one("[data-testid=grid-count]").get_text() == "3 of 3 rows"
    assert soup.select_one("[data-testid=grid-tools]").has_attr("hidden"), "the filters come with the script"


def test_a_scripts_earlier_turns_are_folded_in_its_cells(tmp_path):
    w = ChatZooWidget([ScriptedBOT("alpha")])
    w.run_batch([["first question", "second question"]])
    _, (row,) = grid_of(soup_of(w.export(tmp_path / "turns.html").read_text(encoding="utf-8")))
    cell = row.select_one("[role=cell]")
    earlier = cell.select_one("details.cz-grid-earlier")
    assert earlier.select_one("summary").get_text() == "1 earlier turn"
    assert "first question" in earlier.get_text() and "Reply 1 to: first question" in earlier.get_text()
    final = [d for d in cell.select("[data-testid=grid-reply]") if not d.find_parent("details")]
    assert [d.get_text() for d in final] == ["Reply 2 to: second question"]
    assert "second question" in row.select_one("[role=rowheader]").get_text()
    assert badges(row) == [""], "no checks: no badge"


def test_a_blind_report_names_no_model_in_the_grid(tmp_path):
    names = ("secret-alpha", "secret-beta")
    w = ChatZooWidget([ScriptedBOT(n, reply=f"I am {n}, model {n.upper()}") for n in names], arena=True, seed=3)
    w.send("which is better?", wait=True)
    # the replies, a check's value and its reasons all carry the names
    w.run_batch(["Who are you?", "Name yourself."], checks=[{"type": "contains", "value": "secret-beta"},
                                                            {"type": "python", "value": "'secret' in output"}])
    text = w.export(tmp_path / "blind.html").read_text(encoding="utf-8")
    assert not re.search("secret", text, re.IGNORECASE), "no name in headers, replies, reasons or attributes"
    soup = soup_of(text)
    columns, rows = grid_of(soup)
    labels = [c.get_text() for c in soup.select("[data-testid=column-name]")]
    assert columns == labels and set(labels) == {"Model A", "Model B"}, "labels, in the conversation's order"
    assert len(rows) == 2 and all(badges(r) for r in rows)
    reasons = [li.get_text() for li in soup.select("[data-testid=grid-reasons] li")]
    assert any(re.fullmatch(r'✗ contains: Expected output to contain "Model [AB]"', r) for r in reasons), \
        f"the reason names the label instead: {reasons}"


def test_the_snapshot_says_a_batch_ran_with_a_bounded_number_of_rows():
    sizes = {}
    for n in (GRID_ROWS + 5, 10 * GRID_ROWS):
        w = ChatZooWidget([answering("alpha", ALPHA), answering("beta", BETA)])
        rows = [{**ROWS[i % 3], "id": i} for i in range(n)]
        w.run_batch(rows, template="Capital of {country}?", checks=CHECKS)
        html = w.snapshot().data
        w.close()
        snap = soup_of(html)
        text = " ".join(snap.get_text(" ").split())
        assert f"A batch run: {n:,} rows x 2 columns; the first {GRID_ROWS} below" in text
        assert 'w.export("comparison.html")' in text and "w.export_results" in text, "where the rest is"
        captions = [c.get_text() for c in snap.select("caption")]
        assert "Batch summary: per column" in captions and "Batch results" in captions
        results = next(t for t in snap.select("table") if t.caption.get_text() == "Batch results")
        assert [th.get_text() for th in results.select("thead th")] == ["Prompt", "alpha", "beta"]
        body = results.select("tbody tr")
        assert len(body) == GRID_ROWS
        assert [td.select_one("strong").get_text() for td in body[1].select("td")[1:]] == ["pass", "fail"]
        assert "✗ icontains" in body[1].get_text()
        assert not snap.select("style, script, details"), "plain HTML: hosts strip style and script"
        sizes[n] = len(html)
    small, big = sizes.values()
    assert abs(big - small) < 0.02 * small, f"the snapshot's size does not grow with the batch: {sizes}"


def test_a_blind_snapshot_of_a_batch_names_no_model():
    w = ChatZooWidget([ScriptedBOT("secret-alpha", reply="I am secret-alpha"), ScriptedBOT("secret-beta")],
                      arena=True, seed=1)
    w.send("hello", wait=True)
    w.run_batch(["Who are you?"], checks=[{"type": "icontains", "value": "secret-alpha"}])
    snap = w.snapshot().data
    assert "secret" not in snap.lower()
    text = " ".join(soup_of(snap).get_text(" ").split())
    assert "A batch run: 1 row x 2 columns; all below" in text and "I am Model" in text
