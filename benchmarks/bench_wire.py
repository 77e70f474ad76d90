"""What the widget sends to the browser, counted at ipywidgets' comm boundary (every comm_open and comm_msg).

    python benchmarks/bench_wire.py [--turns 60] [--words 150] [--stream-columns 8]

- growth: bytes sent during turn `turns` / bytes sent during turn 1, 4 scripted columns, 150-word replies, goal <= 1.2
  (before the column models: 35.3 MB vs 0.07 MB, ~500x)
- state: the widget's synced state at the last turn (what a saved notebook holds) / the text of the prompts and
  replies it holds, goal <= 1.5x (before: 9.1 MB, ~34x)
- streaming: 8 scripted columns streaming at once, messages/s and bytes/s to the browser while they stream, goal
  < 200 msgs/s (IOPub allows 1,000 msgs/s and 1 MB/s)
- long replies: streaming a 2,000-token reply on SmolLM2-135M vs bare `generate`, goal >= 0.97x, and the
  detokenizer's work per token at 100 and 2,000 tokens on a tiny model (flat): bench_detok.py's figures

Scripted bots (no model), so the figures are about the wire alone. The last line printed is a JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from chatzoo_widget import ChatZooWidget  # noqa: E402
from chatzoo_widget.testing import ScriptedBOT  # noqa: E402
from chatzoo_widget.testing.wire import CommRecorder, widget_state_size  # noqa: E402


def replies_of(words: int):
    def reply(query):
        turn = sum(m["role"] == "HUMAN" for m in query)
        return " ".join(f"word{turn}-{i}" for i in range(words))

    return reply


def text_held(widget: ChatZooWidget) -> int:
    return sum(len(e["content"].encode()) for entries in widget.history.values() for e in entries)


def bench_growth(turns: int, words: int) -> dict:
    """Bytes per turn at the first and the last turn, and the state against the text it holds."""
    with CommRecorder() as wire:
        w = ChatZooWidget([ScriptedBOT(f"bot{i}", reply=replies_of(words)) for i in range(4)],
                          settings={"max_new_tokens": words + 10})
        w.wait(30)
        per_turn = []
        for turn in range(turns):
            mark = wire.mark()
            w.send(f"Prompt number {turn}: tell me more.", wait=True)
            w.wait(30)
            per_turn.append(wire.bytes_since(mark))
        state, text = widget_state_size(w), text_held(w)
        buffers = sum(s.buffers for s in wire.since())
        w.close()
    return {"turn1_bytes": per_turn[0], f"turn{turns}_bytes": per_turn[-1],
            "growth": round(per_turn[-1] / per_turn[0], 3), "state_bytes": state, "text_bytes": text,
            "state_vs_text": round(state / text, 3), "binary_buffers": buffers}


def bench_streaming(columns: int, words: int, delay: float) -> dict:
    """Messages and bytes a second to the browser while `columns` scripted columns stream at once."""
    with CommRecorder() as wire:
        w = ChatZooWidget([ScriptedBOT(f"s{i}", reply=replies_of(words), delay=delay) for i in range(columns)],
                          settings={"max_new_tokens": words + 10})
        w.wait(30)
        mark = wire.mark()
        start = time.monotonic()
        w.send("Stream a long reply.", wait=True)
        w.wait(30)
        sent = wire.since(mark)
        w.close()
    # While they stream: from the send to the last frame (the turn ends' entries follow within milliseconds).
    frames = [s for s in sent if isinstance(s.data, dict) and (s.data.get("content") or {}).get("kind") == "frame"]
    span = max(frames[-1].at - start, 1e-6)
    during = [s for s in sent if s.at <= frames[-1].at]
    return {"columns": columns, "tokens_per_s_per_column": round(1 / delay, 1), "stream_seconds": round(span, 2),
            "msgs_per_s": round(len(during) / span, 1), "bytes_per_s": round(sum(s.size for s in during) / span),
            "frames": len(frames), "messages": len(sent)}


def bench_long_reply(model: str | None) -> dict:
    """The incremental detokenizer's figures (bench_detok.py): streaming a 2,000-token reply on `model` vs bare
    `generate`, and the per-token cost from 100 to 2,000 tokens on a tiny model. model=None: the tiny model only."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_detok import long_reply_figures

    return long_reply_figures(model)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=60)
    parser.add_argument("--words", type=int, default=150)
    parser.add_argument("--stream-columns", type=int, default=8)
    parser.add_argument("--stream-words", type=int, default=300)
    parser.add_argument("--stream-delay", type=float, default=0.01, help="seconds between words (100 tok/s)")
    parser.add_argument("--long-reply-model", default="smollm2-135m", help="'none': the tiny model only")
    args = parser.parse_args()
    result: dict = {}
    for name, run in (("growth", lambda: bench_growth(args.turns, args.words)),
                      ("streaming", lambda: bench_streaming(args.stream_columns, args.stream_words, args.stream_delay)),
                      ("long_reply", lambda: bench_long_reply(None if args.long_reply_model == "none"
                                                              else args.long_reply_model))):
        print(f"# {name}...", file=sys.stderr, flush=True)
        result[name] = run()
        print(f"# {json.dumps(result[name])}", file=sys.stderr, flush=True)
    result["goals"] = {"growth": "<= 1.2", "state_vs_text": "<= 1.5", "msgs_per_s": "< 200",
                       "long_reply_vs_generate": ">= 0.97"}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
