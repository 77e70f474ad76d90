"""The compiled step's status listener may read the status: the widget's sync does, from the listener's thread."""

from __future__ import annotations

import threading

from chatzoo_widget.engine.compiled import CompiledDecoder
from chatzoo_widget.registry import load_bot


def test_a_status_listener_reading_the_status_does_not_deadlock(tiny_chat_dir, monkeypatch):
    bot = load_bot(tiny_chat_dir, type="chat", compile=False, dtype="float32")
    monkeypatch.setattr(CompiledDecoder, "_build", lambda self, bucket: None)  # the listener is what is tested
    box: dict = {}
    seen: list[str] = []
    decoder = CompiledDecoder(bot.model, pad_token_id=0, cache_arg="past_key_values",
                              on_status=lambda text: seen.append(box["decoder"].status if "decoder" in box else text))
    box["decoder"] = decoder
    if decoder.failure:  # no compiler here: the bucket is never asked for
        return
    first = threading.Thread(target=decoder._bucket, args=(1, 10), daemon=True)
    first.start()
    first.join(10)
    assert not first.is_alive(), "the listener waited for the lock _bucket held"
    assert seen == ["compiling (one-off)"]
    bot.close()
