"""A remote judge through the project's own server: `python -m chatzoo_widget.server`'s entry point serving a
scripted judge in a child process, judged from the widget by URL (and in a batch run)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import urllib.request

import pytest

from chatzoo_widget import ChatZooWidget
from chatzoo_widget.bots.process import free_port
from chatzoo_widget.testing import ScriptedBOT

SERVE = textwrap.dedent("""
    import re, sys
    from chatzoo_widget import register_model
    from chatzoo_widget.testing import ScriptedBOT

    ANSWER = re.compile(r"\\[The Start of Assistant ([AB])'s Answer\\]\\n(.*?)\\n\\[The End", re.S)

    def reply(query):
        found = [k for k, text in ANSWER.findall(query[-1]["content"]) if "MARKER" in text]
        return f"Only one says MARKER. [[{found[0]}]]" if len(found) == 1 else "Alike. [[C]]"

    class MarkerJudge(ScriptedBOT):
        def __init__(self, path, name=None, **options):
            super().__init__(name or "marker-judge", reply=reply)

    register_model("marker-judge", MarkerJudge, aliases={"marker-judge": "scripted"})
    from chatzoo_widget.server import main
    main(["--pretrained_path", "marker-judge", "--port", sys.argv[1], "--log-level", "warning"])
""")


@pytest.fixture(scope="module")
def judge_url(tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("judge-server") / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", SERVE, str(port)], stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "HF_HUB_OFFLINE": "1"})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the judge server exited:\n{log.read_text()[-3000:]}")
            try:
                urllib.request.urlopen(f"{base}/health", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"the judge server did not answer:\n{log.read_text()[-3000:]}")
                time.sleep(0.2)
        yield f"{base}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_a_remote_judge_through_the_server(judge_url, monkeypatch):
    monkeypatch.setattr(ChatZooWidget, "send_message", lambda self, msg: None)
    w = ChatZooWidget([ScriptedBOT("plain", reply="a plain answer"), ScriptedBOT("marked", reply="MARKER answer"),
                       ScriptedBOT("other", reply="another one")])
    w.send("Which is best?", wait=True)
    records = w.judge(judge_url, timeout=30)
    assert [(r["a"], r["b"], r["verdict"], r["error"]) for r in records] == [
        ("plain", "marked", "marked", None), ("plain", "other", "tie", None), ("marked", "other", "marked", None)]
    assert records[0]["orders"] == ["B", "A"] and records[0]["judge"] == judge_url
    assert records[0]["rationales"][0].startswith("Only one says MARKER")
    assert w.agreement()["position_bias"] == 0.0
    df = w.run_batch(["one", "two"], judge=judge_url)
    assert df[df.column == "marked"]["judge_score"].eq(1.0).all()
    assert len(df.attrs["judgments"]) == 6 and all(j["error"] is None for j in df.attrs["judgments"])
