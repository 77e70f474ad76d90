"""The standalone HTML report: `w.export("x.html")` and the report button's command, headless.

What a reader of the file sees: every column's conversation (markdown, folded thinking, statistics), votes,
leaderboard, judge verdicts, the batch run, manifests; blind while the arena is; model output inert; bad paths
and extensions refused with the reason and nothing written. tests/browser/test_report_browser.py opens it.
"""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from bs4 import BeautifulSoup

from chatzoo_widget import ChatZooWidget
from chatzoo_widget.report import report_html
from chatzoo_widget.report.page import MARKDOWN_LIMIT
from chatzoo_widget.testing import ScriptedBOT, command

# The payloads the widget resists (tests/browser/test_widget_browser.py), now in a report.
XSS_REPLY = '<img src=x onerror="window.__pwned=1"> <script>window.__pwned=2</script> done'
XSS_NAME = '<img src=y onerror="window.__pwned=3">'
XSS_PROMPT = '<img src=z onerror="window.__pwned=4"> hi'
XSS_LINKS = ("[click](javascript:window.__pwned=5) <a href=\"javascript:window.__pwned=6\">a</a> "
             "![pic](http://example.invalid/x.png) <iframe src=\"http://example.invalid\"></iframe> "
             "<svg onload=\"window.__pwned=7\"></svg> [fine](https://example.org/page)")


def soup_of(text: str) -> BeautifulSoup:
    return BeautifulSoup(text, "html.parser")


def columns_of(soup: BeautifulSoup) -> dict[str, BeautifulSoup]:
    return {c.select_one("[data-testid=column-name]").get_text(): c for c in soup.select("[data-testid=column]")}


def compared(tmp_path):
    w = ChatZooWidget([ScriptedBOT("alpha", reply="<think>Paris, *surely*.</think>**Paris** is the capital."),
                       ScriptedBOT("beta", reply="It is Lyon.")], system_prompt="Be brief.")
    w.send("Capital of France?", wait=True)
    w.vote("alpha")
    w.judge(ScriptedBOT("judge-bot", reply="Answer A is right. [[A]]"))
    w.run_batch(["Name a fruit."])
    return w


def test_report_shows_every_part_of_the_comparison(tmp_path):
    w = compared(tmp_path)
    path = w.export(tmp_path / "comparison.html")
    assert path == tmp_path / "comparison.html"
    soup = soup_of(path.read_text(encoding="utf-8"))
    columns = columns_of(soup)
    assert list(columns) == ["alpha", "beta"]
    alpha = columns["alpha"]
    assert alpha.select_one("[data-testid=human-message]").get_text() == "Capital of France?"
    reply = alpha.select_one("[data-testid=reply]")
    assert reply.select_one("strong").get_text() == "Paris" and "is the capital." in reply.get_text()
    thinking = alpha.select_one("details.cz-thinking")
    assert thinking is not None and not thinking.has_attr("open"), "thinking is folded"
    assert thinking.select_one("em").get_text() == "surely"
    stats = alpha.select_one("[data-testid=reply-stats]").get_text()
    assert re.search(r"\d+ tokens", stats) and "tok/s" in stats and "ended: stop" in stats
    assert columns["beta"].select_one("[data-testid=reply]").get_text().strip() == "It is Lyon."
    assert "Be brief." in soup.select_one(".cz-system").get_text()

    votes = soup.select_one("[data-testid=votes]").get_text()
    assert "Capital of France?" in votes and "alpha" in votes
    board = soup.select_one("[data-testid=leaderboard]")
    assert board.select("tbody tr")[0].select("td")[0].get_text() == "alpha"
    verdicts = soup.select_one("[data-testid=judgments]")
    assert "judge-bot" in verdicts.get_text() and "Answer A is right." in verdicts.get_text()
    grid = soup.select_one("[data-testid=grid]")
    assert [c.get_text() for c in grid.select("[data-testid=grid-column]")] == ["alpha", "beta"]
    (row,) = grid.select("[data-testid=grid-row]")
    assert "Name a fruit." in row.select_one("[role=rowheader]").get_text()
    manifests = {m.select_one("summary").get_text() for m in soup.select("[data-testid=manifest]")}
    assert manifests == {"alpha", "beta"}


def test_report_with_nothing_said_yet(tmp_path):
    w = ChatZooWidget([ScriptedBOT("solo")])
    soup = soup_of(w.export(tmp_path / "empty.html").read_text(encoding="utf-8"))
    assert list(columns_of(soup)) == ["solo"] and "No conversation yet." in soup.get_text()
    assert soup.select_one("[data-testid=votes]") is None and soup.select_one("[data-testid=grid]") is None


def test_the_page_needs_nothing_from_elsewhere(tmp_path):
    w = compared(tmp_path)
    text = report_html(w)
    soup = soup_of(text)
    assert not soup.select("link, img, iframe, object, embed, video, audio, source, base, form")
    assert not [t for t in soup.find_all(src=True)], "nothing is loaded from a src"
    assert "url(" not in text and "@import" not in text
    scripts = soup.select("script")
    assert len(scripts) == 1 and not scripts[0].has_attr("src")
    csp = soup.select_one('meta[http-equiv="Content-Security-Policy"]')["content"]
    digest = base64.b64encode(hashlib.sha256(scripts[0].string.encode()).digest()).decode()
    assert "default-src 'none'" in csp and f"'sha256-{digest}'" in csp, "only the report's own script may run"


def test_model_output_is_inert_in_the_report(tmp_path):
    w = ChatZooWidget([ScriptedBOT("xss", reply=XSS_REPLY), ScriptedBOT("links", reply=XSS_LINKS),
                       {"name": XSS_NAME, "model": ScriptedBOT("echo")}], system_prompt=XSS_PROMPT)
    w.send(XSS_PROMPT, wait=True)
    soup = soup_of(w.export(tmp_path / "xss.html").read_text(encoding="utf-8"))
    main = soup.select_one("[data-testid=report]")
    assert not main.select("script, img, iframe, svg, style"), "no element of the payloads survives"
    assert not [t for t in main.find_all(True) if any(a.startswith("on") for a in t.attrs)], "no event handler"
    hrefs = [a["href"] for a in main.select("a[href]")]
    assert hrefs == ["https://example.org/page"], "only the http(s) link stays a link"
    assert main.select_one("a[href]")["rel"] == ["noopener", "noreferrer", "nofollow"]
    columns = columns_of(soup)
    assert XSS_NAME in columns, "the odd column name shows as the text it is"
    # the payloads read as text, as the widget shows them
    assert "<script>window.__pwned=2</script> done" in columns["xss"].select_one("[data-testid=reply]").get_text()
    assert columns["xss"].select_one("[data-testid=human-message]").get_text() == XSS_PROMPT
    assert "[image: pic http://example.invalid/x.png]" in columns["links"].get_text()


def test_blind_arena_exports_blind_until_the_vote(tmp_path):
    w = ChatZooWidget([ScriptedBOT("secret-alpha", reply="one answer"), ScriptedBOT("secret-beta", reply="another")],
                      arena=True, seed=2)
    w.send("which is better?", wait=True)
    w.run_batch(["q2"])
    blind = w.export(tmp_path / "blind.html").read_text(encoding="utf-8")
    assert "secret" not in blind.lower(), "no name, model or manifest of the columns"
    soup = soup_of(blind)
    shown = {c.get_text() for c in soup.select("[data-testid=column-name]")}
    assert shown == {c["label"] for c in w.columns} == {"Model A", "Model B"}
    assert soup.select_one("[data-testid=blind-note]") is not None
    assert not soup.select("details.cz-prompt"), "rendered prompts stay hidden while blind"
    assert soup.select_one("[data-testid=manifests-section]") is None
    assert command(w, "export_report")["result"]["html"].lower().count("secret") == 0, "the button's report too"

    label_of_alpha = next(c["label"] for c in w.columns if "one answer" in str(c.get_state()))
    w.vote(label_of_alpha)
    revealed = soup_of(w.export(tmp_path / "revealed.html").read_text(encoding="utf-8"))
    assert set(columns_of(revealed)) == {"secret-alpha", "secret-beta"}
    assert revealed.select_one("[data-testid=manifests-section]") is not None
    assert revealed.select_one("[data-testid=leaderboard]") is not None


def test_bad_extension_or_path_says_which_and_writes_nothing(tmp_path):
    w = ChatZooWidget([ScriptedBOT("solo")])
    with pytest.raises(ValueError, match=r"'report\.pdf': unsupported extension '\.pdf'; supported: .*\.html"):
        w.export(tmp_path / "report.pdf")
    with pytest.raises(FileNotFoundError, match="the folder .*missing.* does not exist"):
        w.export(tmp_path / "missing" / "report.html")
    a_file = tmp_path / "plain.txt"
    a_file.write_text("x")
    with pytest.raises(FileNotFoundError, match="plain.txt"):
        w.export(a_file / "report.html")
    (tmp_path / "folder.html").mkdir()
    with pytest.raises(IsADirectoryError, match="it is a folder"):
        w.export(tmp_path / "folder.html")
    with pytest.raises(OSError, match=r"cannot export to '/proc/report\.html'"):
        w.export("/proc/report.html")  # a folder nobody can write to, root included
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.html", "plain.txt"]


def test_a_one_megabyte_reply_exports_whole(tmp_path):
    big = ("A long line of **model output** with <b>tags</b>. " * 20 + "\n") * 1000
    assert len(big) > 1_000_000 > MARKDOWN_LIMIT
    w = ChatZooWidget([ScriptedBOT("big", reply=big.replace(" ", "\u00a0")), ScriptedBOT("small", reply="short")],
                      settings={"max_new_tokens": 10})
    w.send("go", wait=True)
    w.manager.set_histories({cid: [{"role": "HUMAN", "content": "go", "turn": 0},
                                   {"role": "BOT", "content": big if c.name == "big" else "short", "turn": 0,
                                    "stats": {"new_tokens": 1}}]
                             for cid, c in w.manager.columns.items()})
    text = w.export(tmp_path / "big.html").read_text(encoding="utf-8")
    assert len(text) < 2 * len(big), "the reply is in the file once, escaped, not rendered twice"
    soup = soup_of(text)
    reply = columns_of(soup)["big"].select_one("[data-testid=reply]")
    assert reply.get_text().count("<b>tags</b>") == 20_000, "all of it, as the text it is"
    assert "shown as plain text" in reply.get_text()


def test_report_button_command_answers_the_html(tmp_path):
    w = ChatZooWidget([ScriptedBOT("alpha")])
    w.send("hello", wait=True)
    answer = command(w, "export_report")
    assert answer["ok"] and answer["result"]["kind"] == "export_report"
    assert answer["result"]["filename"] == "chatzoo-comparison.html"
    soup = soup_of(answer["result"]["html"])
    assert columns_of(soup)["alpha"].select_one("[data-testid=reply]").get_text().strip() == "Reply 1 to: hello"


def test_batch_summary_statistics_are_in_the_report(tmp_path):
    w = ChatZooWidget([ScriptedBOT("alpha", reply="Paris"), ScriptedBOT("beta", reply="Lyon")])
    w.run_batch(["Capital of France?", "Capital of France, again?"])
    w.send("Capital?", wait=True)
    w.vote("alpha")  # the summary's sign test on votes
    soup = soup_of(w.export(tmp_path / "summary.html").read_text(encoding="utf-8"))
    titles = [s.select_one("h2").get_text() for s in soup.select("[data-testid=summary-section]")]
    assert titles == ["Batch summary: per column", "Batch summary: per pair"]
    columns, pairs = w.summary()
    shown = soup.select("[data-testid=summary]")
    assert [len(t.select("tbody tr")) for t in shown] == [len(columns), len(pairs)]
    assert [th.get_text() for th in shown[1].select("th")] == [str(c) for c in pairs.columns], "every column shows"
