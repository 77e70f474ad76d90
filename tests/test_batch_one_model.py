"""run_batch(one_model_at_a_time=True): one model loaded at a time, each released before the next loads, the
columns shown as waiting/released (not errors), remote columns answering all along, the progress naming the model."""

from __future__ import annotations

import threading

import pytest

from chatzoo_widget.compare import BatchRun, run_batch
from chatzoo_widget.engine.pool import ModelPool
from chatzoo_widget.manager import ChatManager
from chatzoo_widget.testing import ScriptedBOT, wait_until

PROMPTS = ["what is two plus two", "name a colour", "say hello"]


class PooledBot(ScriptedBOT):
    """A scripted 'checkpoint' that notes what the pool held at each prompt and when it was closed."""

    def __init__(self, name: str, log: dict):
        super().__init__(name)
        self.log = log

    def get_prompt(self, query, system_prompt=""):
        self.log["asked"].append((self.name, sorted(k[1] for k in self.log["pool"].keys()),
                                  {c.name: c.status for c in self.log["manager"].columns.values()}))
        return super().get_prompt(query, system_prompt)

    def close(self):
        self.log["closed"].append(self.name)


def local_manager(names=("alpha", "beta", "gamma"), load=True):
    """Columns whose models a loader makes by name, in their own pool (as aliases or paths load); load=False adds
    them waiting to load."""
    pool = ModelPool()
    log: dict = {"asked": [], "closed": [], "loads": [], "pool": pool}

    def loader(name, **_):
        log["loads"].append(name)
        return PooledBot(name, log)

    manager = ChatManager(loader=loader, pool=pool)
    log["manager"] = manager
    for name in names:
        manager.add(name, load=load)
    if load:
        assert wait_until(lambda: all(c.status == "ready" for c in manager.columns.values()), 10)
    return manager, log


def test_each_model_answers_alone_and_is_released_before_the_next_loads():
    manager, log = local_manager()
    df = run_batch(manager, PROMPTS, one_model_at_a_time=True)

    assert len(df) == 9 and set(df["status"]) == {"done"}
    # every prompt was answered while its own model was the only one the pool held
    assert {(name, tuple(held)) for name, held, _ in log["asked"]} == {
        ("alpha", ("alpha",)), ("beta", ("beta",)), ("gamma", ("gamma",))}
    # one model after the other, each all its rows before the next
    order = [name for name, _, _ in log["asked"]]
    assert order == ["alpha"] * 3 + ["beta"] * 3 + ["gamma"] * 3
    # released: the pool closed every bot and holds nothing; the columns stay, released, no error
    assert manager.pool.keys() == [] and log["closed"] == ["beta", "gamma", "alpha", "beta", "gamma"]
    assert sorted(log["loads"][:3]) == ["alpha", "beta", "gamma"] and log["loads"][3:] == ["beta", "gamma"]
    assert [c.status for c in manager.columns.values()] == ["released"] * 3
    assert all(c.error is None for c in manager.columns.values())
    assert df.set_index(["script", "column"])["reply"].to_dict() == {
        (s, name): f"Reply 1 to: {p}" for s, p in enumerate(PROMPTS) for name in ("alpha", "beta", "gamma")}


def test_columns_waiting_for_their_turn_show_waiting_then_released_and_load_again_for_a_prompt():
    manager, log = local_manager()
    run_batch(manager, PROMPTS[:1], one_model_at_a_time=True)
    statuses = {name: seen for name, _, seen in log["asked"]}
    assert statuses["alpha"] == {"alpha": "ready", "beta": "waiting", "gamma": "waiting"}
    assert statuses["beta"] == {"alpha": "released", "beta": "ready", "gamma": "waiting"}
    shown = {c["name"]: c for c in manager.snapshot()}
    assert {c["status"] for c in shown.values()} == {"released"}
    assert all(c["error"] is None and "released" in c["note"] for c in shown.values())

    manager.send("and now?")  # the user's own prompt loads the models again
    assert manager.wait(10)
    assert [c.history[-1]["content"] for c in manager.columns.values()] == ["Reply 1 to: and now?"] * 3
    assert [c.status for c in manager.columns.values()] == ["ready"] * 3


def test_columns_of_one_checkpoint_take_one_turn_together():
    manager, log = local_manager(("alpha",))
    manager.add("alpha", name="alpha again", settings={"temperature": 0.5})
    manager.add("beta")
    assert wait_until(lambda: all(c.status == "ready" for c in manager.columns.values()), 10)
    df = run_batch(manager, PROMPTS[:2], one_model_at_a_time=True)
    assert len(df) == 6 and set(df["status"]) == {"done"}
    assert [held for _, held, _ in log["asked"]] == [["alpha"]] * 4 + [["beta"]] * 2
    phases = []
    run_batch(manager, PROMPTS[:1], one_model_at_a_time=True, on_phase=phases.append)
    assert [p["columns"] for p in phases[:-1:2]] == ["alpha, alpha again", "beta"]


def test_remote_columns_answer_all_along():
    manager, log = local_manager(("alpha", "beta"))
    beta_answering = threading.Event()
    waited: list[bool] = []

    def remote_reply(query):  # a remote column (not loaded here) is still in flight when beta's turn comes
        waited.append(beta_answering.wait(10))
        return "remote says hi"

    manager.add(ScriptedBOT("remote", reply=remote_reply))
    phases = []

    def on_phase(phase):
        phases.append(phase)
        if phase and phase["columns"] == "beta" and phase["state"] == "answering":
            beta_answering.set()

    df = run_batch(manager, PROMPTS[:2], one_model_at_a_time=True, on_phase=on_phase)
    assert waited == [True, True]
    assert set(df["status"]) == {"done"} and len(df) == 6
    assert [p and (p["columns"], p["state"], p["index"], p["of"]) for p in phases] == [
        ("alpha", "loading", 1, 2), ("alpha", "answering", 1, 2), ("beta", "loading", 2, 2),
        ("beta", "answering", 2, 2), None]
    remote = next(c for c in manager.columns.values() if c.name == "remote")
    assert remote.status == "ready"  # a ChatBOT object the user holds: never unloaded


def test_progress_names_the_model_running():
    manager, _ = local_manager(("alpha", "beta"))
    seen: list = []
    bound = threading.Event()  # the run's thread starts in the constructor: its first update waits for `run`
    run = BatchRun(manager, PROMPTS[:1], one_model_at_a_time=True,
                   on_update=lambda: bound.wait(5) and seen.append(run.progress.get("phase")))
    bound.set()
    run.wait(10)
    assert run.result is not None and len(run.result) == 2
    phases = [p for i, p in enumerate(seen) if p and (i == 0 or seen[i - 1] != p)]
    assert phases == ["loading alpha (1 of 2)", "answering alpha (1 of 2)", "loading beta (2 of 2)",
                      "answering beta (2 of 2)"]
    assert run.progress["phase"] is None and run.progress["running"] is False


def test_a_stopped_run_leaves_the_models_not_reached_released_not_waiting():
    manager, log = local_manager(("alpha", "beta"))
    stop = threading.Event()
    df = run_batch(manager, PROMPTS, one_model_at_a_time=True, stop_event=stop,
                   on_phase=lambda phase: phase and phase["state"] == "answering" and stop.set())
    assert df.attrs["stopped"] and set(df["column"]) <= {"alpha"}
    assert sorted(log["loads"]) == ["alpha", "beta"]  # beta never loaded again for its turn
    assert [c.status for c in manager.columns.values()] == ["released", "released"]


def test_bad_options_are_refused():
    manager, _ = local_manager(("alpha",))
    with pytest.raises(ValueError, match="one_model_at_a_time must be True or False"):
        run_batch(manager, PROMPTS, one_model_at_a_time="yes")
    with pytest.raises(ValueError, match="need fresh_history=True"):
        run_batch(manager, PROMPTS, one_model_at_a_time=True, fresh_history=False)
    with pytest.raises(ValueError, match="ChatBOT object"):
        manager.add(ScriptedBOT("mine"))
        manager.unload(next(c.id for c in manager.columns.values() if c.name == "mine"))


def test_columns_added_without_loading_load_one_at_a_time():
    manager, log = local_manager(load=False)
    pool = log["pool"]
    assert [c.status for c in manager.columns.values()] == ["waiting"] * 3 and pool.keys() == []
    assert all("waiting to load" in c["note"] for c in manager.snapshot())
    df = run_batch(manager, PROMPTS[:2], one_model_at_a_time=True)
    assert set(df["status"]) == {"done"}
    assert log["loads"] == ["alpha", "beta", "gamma"]  # never two at once: the pool held one model at each prompt
    assert all(len(held) == 1 for _, held, _ in log["asked"])


def test_the_widget_shows_waiting_and_released_columns_of_real_checkpoints(tiny_chat_dir, tiny_firefly_dir):
    from chatzoo_widget import ChatZooWidget

    w = ChatZooWidget([{"model": str(tiny_chat_dir), "type": "chat", "name": "chat", "settings": {"max_new_tokens": 4}},
                       {"model": str(tiny_firefly_dir), "type": "firefly", "name": "firefly",
                        "settings": {"max_new_tokens": 4}}], load_models=False)
    try:
        assert [(c.info["status"], c.info["error"]) for c in w.columns] == [("waiting", None)] * 2
        assert w.manager.pool.keys() == [] or all(w.manager.pool.holders(k) == 0 for k in w.manager.pool.keys())
        phases: list = []
        w.observe(lambda change: phases.append(change["new"].get("phase")), "batch_progress")
        df = w.run_batch(["Hello", "What is your name?"], one_model_at_a_time=True)
        assert len(df) == 4 and set(df["status"]) == {"done"}
        assert [c.info["status"] for c in w.columns] == ["released", "released"]
        assert all("released" in c.info["note"] for c in w.columns)
        assert [p for i, p in enumerate(phases) if p and p not in phases[:i]] == [
            "loading chat (1 of 2)", "answering chat (1 of 2)", "loading firefly (2 of 2)",
            "answering firefly (2 of 2)"]
        w.send("Hello again", wait=True, timeout=60)  # the next prompt loads them again
        assert [c.info["status"] for c in w.columns] == ["ready", "ready"]
    finally:
        w.close()


def test_the_progress_names_no_model_while_blind(tiny_chat_dir, tiny_firefly_dir, monkeypatch):
    import json

    import comm

    from chatzoo_widget import ChatZooWidget

    sent: list[str] = []

    class RecordingComm(comm.DummyComm):
        def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
            sent.append(json.dumps({"data": data}, default=str))

    monkeypatch.setattr(comm, "create_comm", lambda *a, **k: RecordingComm(*a, **k))
    w = ChatZooWidget([{"model": str(tiny_chat_dir), "type": "chat", "name": "zq-first-secret",
                        "settings": {"max_new_tokens": 4}},
                       {"model": str(tiny_firefly_dir), "type": "firefly", "name": "zq-second-secret",
                        "settings": {"max_new_tokens": 4}}], load_models=False, arena=True, seed=3)
    try:
        phases: list = []
        w.observe(lambda change: phases.append(change["new"].get("phase")), "batch_progress")
        df = w.run_batch(["Hello"], one_model_at_a_time=True)
        assert set(df["status"]) == {"done"}
        assert any(p and "zq-first-secret" in p for p in phases)  # the kernel's own view names the column
        wire = "\n".join(sent)
        assert "answering" in wire and "zq-" not in wire  # the browser's is labels only
    finally:
        w.close()
