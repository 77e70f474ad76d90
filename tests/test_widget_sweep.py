"""An 8-column sweep of one checkpoint: one copy of the weights, one batch, every column its own reply."""

from __future__ import annotations

import time

from chatzoo_widget import ChatZooWidget
from chatzoo_widget.frames import unpack


def test_an_eight_column_sweep_decodes_in_one_batch(sent, tiny_chat_dir):
    temperatures = [0.1, 0.3, 0.5, 0.7, 0.9, 1.1, 1.3, 1.5]
    spec = {"model": str(tiny_chat_dir), "type": "chat", "name": "tiny"}
    w = ChatZooWidget(ChatZooWidget.sweep(spec, "temperature", temperatures, seed=5),
                      settings={"max_new_tokens": 24, "do_sample": True})
    try:
        bots = {id(c.load.result(60)) for c in w.manager.columns.values()}
        assert len(bots) == 1  # one copy of the weights for eight columns
        bot = next(iter(w.manager.columns.values())).bot

        def slow(module, args, kwargs):  # 5 ms a forward pass, so the eight prompts surely overlap
            time.sleep(0.005)

        handle = bot.model.register_forward_pre_hook(slow, with_kwargs=True)
        try:
            replies = w.send("Hello, how are you today?", wait=True)
        finally:
            handle.remove()
        assert len(replies) == 8 and all(replies.values())
        stats = [s[-1] for s in w.stats.values()]
        assert all(s["batched"] for s in stats)
        assert all(s["time_to_first_token"] is not None and s["new_tokens"] > 0 for s in stats)
        assert bot.scheduler.peak_batch == 8
        # Each column streamed its own deltas (and no more than one message per flush interval).
        columns = {m["column"] for m in unpack(sent) if m.get("kind") == "delta"}
        assert len(columns) == 8
        # Seeded: the same sweep again gives the same replies, column by column.
        w.regenerate()
        w.manager.wait(60)
        assert {c.name: c.history[-1]["content"] for c in w.manager.columns.values()} == replies
    finally:
        w.close()
