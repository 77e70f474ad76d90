"""Library warnings raised in worker threads are logged once, quietly, instead of landing in a notebook cell."""

from __future__ import annotations

import logging
import threading
import warnings

import pytest

from chatzoo_widget import quiet

BNB = "Failed to load CPU gemm_4bit_forward from kernels-community: %s. Please make sure you `pip install kernels`"


@pytest.fixture
def installed():
    # Installed afresh inside the test: pytest swaps warnings.showwarning around each test.
    was = bool(quiet._installed)
    quiet.uninstall()
    quiet.install()
    yield
    quiet.uninstall()
    if was:
        quiet.install()


def in_thread(fn) -> None:
    t = threading.Thread(target=fn, name="chatzoo-load_0")
    t.start()
    t.join()


def test_worker_thread_warnings_and_log_records_stay_out_of_stderr(installed, capfd, caplog):
    def work():
        for _ in range(3):  # the same warning, again and again: one log line
            logging.getLogger("bitsandbytes.backends.cpu.ops").warning(BNB, "no module named 'kernels'")
            warnings.warn("TypedStorage is deprecated (quiet-test)", UserWarning, stacklevel=1)

    with caplog.at_level(logging.INFO, logger="chatzoo_widget.library"):
        in_thread(work)
    out, err = capfd.readouterr()
    assert "gemm_4bit_forward" not in out + err and "TypedStorage" not in out + err
    lines = [r.getMessage() for r in caplog.records if r.name == "chatzoo_widget.library"]
    assert sum("gemm_4bit_forward" in m for m in lines) == 1, lines
    assert sum("TypedStorage" in m for m in lines) == 1, lines
    assert any("gemm_4bit_forward" in s for s in quiet.seen())


def test_a_users_own_thread_keeps_its_warnings(installed, caplog):
    def work():
        logging.getLogger("someone.else").warning("the user's own thread speaks")

    with caplog.at_level(logging.WARNING, logger="someone.else"):
        t = threading.Thread(target=work, name="user-thread")
        t.start()
        t.join()
    assert any(r.getMessage() == "the user's own thread speaks" and r.name == "someone.else" for r in caplog.records)


def test_main_thread_and_errors_keep_their_usual_behaviour(installed, caplog, monkeypatch):
    shown = []
    monkeypatch.setitem(quiet._installed, "showwarning", lambda *args: shown.append(str(args[0])))
    warnings.showwarning(UserWarning("main-thread warning (quiet-test)"), UserWarning, "x.py", 1)
    assert shown == ["main-thread warning (quiet-test)"]  # handed to Python's own showwarning
    with caplog.at_level(logging.WARNING):
        in_thread(lambda: logging.getLogger("somelib").error("worker error (quiet-test)"))
        logging.getLogger("somelib").warning("main warning (quiet-test)")
    reached = [r.getMessage() for r in caplog.records if r.name == "somelib"]
    assert reached == ["worker error (quiet-test)", "main warning (quiet-test)"]
    assert not any("quiet-test" in s and "somelib" in s for s in quiet.seen())


def test_the_widget_installs_it():
    from chatzoo_widget import ChatZooWidget

    ChatZooWidget([]).close()
    assert quiet._installed and logging.Logger.handle is quiet._handle
