"""The results grid's cost on a batch run: 1,000 rows x 4 scripted columns with a check per reply, run_batch with
the widget's ResultsGrid attached (each finished row turned into a GridRow, JSON-encoded as the comm would, rows
sent in 100 ms batches, the summary recomputed every 25 rows in its own thread and in full at the end) against
the same run_batch without it. Rounds alternate the two sides; the figure is the ratio of the medians. Also
reports the messages and bytes the grid sent and the time of the final summary.

    python benchmarks/bench_grid.py [--rows 1000] [--columns 4] [--delay 0.001] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from chatzoo_widget.compare import ResultsGrid, run_batch  # noqa: E402
from chatzoo_widget.manager import ChatManager  # noqa: E402
from chatzoo_widget.testing import ScriptedBOT, wait_until  # noqa: E402

CHECKS = [{"type": "icontains", "value": "{{answer}}"}]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--columns", type=int, default=4)
    parser.add_argument("--delay", type=float, default=0.001)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    manager = ChatManager()
    for i in range(args.columns):
        manager.add(ScriptedBOT(f"col{i}", reply=lambda q: "the answer is yes to that", delay=args.delay))
    assert wait_until(lambda: all(c.status == "ready" for c in manager.columns.values()), timeout=30)
    data = [{"id": i, "prompt": f"Question {i}?", "answer": "yes" if i % 2 else "no"} for i in range(args.rows)]
    plain, with_grid, sent_stats, final_summary = [], [], [], []
    for _ in range(args.rounds):
        start = time.perf_counter()
        run_batch(manager, data, checks=CHECKS)
        plain.append(time.perf_counter() - start)

        sent = {"messages": 0, "bytes": 0}

        def send(message: dict) -> None:  # what the comm does with it: JSON
            sent["messages"] += 1
            sent["bytes"] += len(json.dumps(message))

        grid = ResultsGrid(send=send, publish_state=lambda g: json.dumps(g.state()),
                           publish_summary=lambda record: json.dumps(record))
        start = time.perf_counter()
        run_batch(manager, data, checks=CHECKS, on_row=grid.add)
        grid.finish()
        with_grid.append(time.perf_counter() - start)
        grid.wait()
        t0 = time.perf_counter()
        grid._compute_summary()  # the final summary alone, as it runs once the run ended
        final_summary.append(time.perf_counter() - t0)
        sent_stats.append(dict(sent))
    manager.close()
    ratio = statistics.median(with_grid) / statistics.median(plain)
    print(json.dumps({
        "rows": args.rows, "columns": args.columns, "delay": args.delay,
        "run_batch_s": [round(x, 2) for x in plain], "with_grid_s": [round(x, 2) for x in with_grid],
        "ratio": round(ratio, 3), "grid_messages": sent_stats[-1]["messages"],
        "grid_bytes": sent_stats[-1]["bytes"], "final_summary_s": round(statistics.median(final_summary), 3),
    }, indent=1))


if __name__ == "__main__":
    main()
