"""`summary --json --offline` against plain indexed queries over the same file.

    python benchmarks/bench_summary.py            # 200k calls (about a minute with generation)
    python benchmarks/bench_summary.py --full     # 1M and 10M calls

Baseline: what a competent person writes without our rollups (``plain_window``: indexed
aggregate queries over the window and exact percentiles from its rows).
Target: summary at most 0.2x the baseline's time.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from _common import NOW, best_of, call_log, plain_window, table

from hermes_dash.calllog.records import Window
from hermes_dash.calllog.store import CallStore
from hermes_dash.services.account import AccountState
from hermes_dash.services.summary import build_summary


def ours(path: str, window: str) -> None:
    store = CallStore(path, readonly=True)
    build_summary(store, Window.named(window, NOW), AccountState.offline(), {}, NOW)
    store.close()


def cli_seconds(path: str) -> float:
    env = {**os.environ, "HERMES_HOME": "/nonexistent"}
    t = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "hermes_dash",
            "summary",
            "--json",
            "--offline",
            "--window",
            "30d",
            "--db",
            path,
        ],
        check=True,
        capture_output=True,
        env=env,
    )
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--full", action="store_true", help="1M and 10M calls")
    sizes = [1_000_000, 10_000_000] if parser.parse_args().full else [200_000]
    rows = []
    for n in sizes:
        path = str(call_log(n))
        for window in ("24h", "30d"):
            since = Window.named(window, NOW).start
            t_plain = best_of(lambda p=path, s=since: plain_window(p, s), runs=3)
            t_ours = best_of(lambda p=path, w=window: ours(p, w), runs=5)
            rows.append(
                [
                    f"{n:,}",
                    window,
                    f"{t_plain * 1000:.1f}",
                    f"{t_ours * 1000:.1f}",
                    f"{t_ours / t_plain:.3f}",
                    "yes" if t_ours / t_plain <= 0.2 else "NO",
                ]
            )
        cli = best_of(lambda p=path: cli_seconds(p), runs=3)
        rows.append([f"{n:,}", "30d (CLI process)", "", f"{cli * 1000:.0f}", "", ""])
    table(
        "summary vs plain indexed queries (ms, best of runs)",
        ["calls", "window", "plain", "summary", "ratio", "<= 0.2"],
        rows,
    )


if __name__ == "__main__":
    main()
