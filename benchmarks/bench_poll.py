"""One call-log poll tick: read 100 new rows from a 200k-row file (1M with --full) and
rebuild the aggregates, for each window from the same copy of the file.

    python benchmarks/bench_poll.py           # 200k rows
    python benchmarks/bench_poll.py --full    # 1M rows

Target: under 20 ms per tick (24 h window, the default; 7 d and 30 d are reported too).
The tick's CPU time is printed beside the wall clock: on a loaded machine the wall clock
measures the other work as much as the tick. Baseline in the same run: the
same window answered by plain indexed queries with exact percentiles (``plain_window``),
what a poll would cost without our rollups.
"""

from __future__ import annotations

import argparse
import shutil
import time

from _common import CACHE, NOW, call_log, median, plain_window, remove_db, table

from hermes_dash.calllog.records import Window
from hermes_dash.calllog.store import CallStore
from hermes_dash.demo.generator import CallSynth
from hermes_dash.services.dashboard import build_dashboard


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--full", action="store_true", help="1M rows")
    n = 1_000_000 if parser.parse_args().full else 200_000
    src = call_log(n)
    path = CACHE / f"poll-{n}.db"
    rows = []
    for window in ("24h", "7d", "30d"):
        # Each window starts from the same copy: the ticks add 1,000 calls within a few
        # seconds, and a window measured after the others would read their 2,000 too (the
        # alert signals scan the last minutes' calls).
        remove_db(path)  # a stale -wal beside a fresh copy would corrupt it
        shutil.copy(src, path)
        store = CallStore(path)
        synth = CallSynth(seed=9)
        ticks = []
        cpu = []  # the tick's CPU time: what a loaded machine does not inflate as much
        last = store.max_id()
        for i in range(10):
            store.insert([synth.call(NOW - 50 + j * 0.1) for j in range(100)])
            t, c = time.perf_counter(), time.thread_time()
            new = store.rows_after(last)
            build_dashboard(store, window, NOW + i, None)
            ticks.append(time.perf_counter() - t)
            cpu.append(time.thread_time() - c)
            last = new[-1].id
        since = Window.named(window, NOW).start
        plain = []
        for _ in range(3):
            t = time.perf_counter()
            plain_window(str(path), since)
            plain.append(time.perf_counter() - t)
        scan = median(plain)
        store.close()
        rows.append(
            [
                f"{n:,}",
                window,
                f"{median(ticks) * 1000:.1f}",
                f"{max(ticks) * 1000:.1f}",
                f"{median(cpu) * 1000:.1f}",
                f"{scan * 1000:.1f}",
                f"{median(ticks) / scan:.3f}",
                "yes" if median(ticks) < 0.020 else "NO",
            ]
        )
    table(
        "poll tick: 100 new rows + aggregates (ms)",
        ["rows", "window", "median", "max", "cpu", "plain", "ratio", "< 20 ms"],
        rows,
    )
    remove_db(path)


if __name__ == "__main__":
    main()
