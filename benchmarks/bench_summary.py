"""`summary --json --offline` against a naive full-scan aggregate over the same file.

    python benchmarks/bench_summary.py            # 200k calls (about a minute with generation)
    python benchmarks/bench_summary.py --full     # 1M and 10M calls

Target: summary at most 0.2x the naive time (rollups and indexes, not scans).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import time

from _common import NOW, best_of, call_log, table

from hermes_dash.calllog.records import Window
from hermes_dash.calllog.store import CallStore
from hermes_dash.services.account import AccountState
from hermes_dash.services.summary import build_summary


def naive(path: str, since: float) -> None:
    """What a summary costs without rollups: scan every row, sort latencies per provider."""
    conn = sqlite3.connect(path)
    q = (
        "SELECT COUNT(*), SUM(status <> 'ok'), SUM(http_status = 429), SUM(COALESCE(cost_usd, 0)), "
        "SUM(input_tokens), SUM(output_tokens) FROM calls NOT INDEXED WHERE started_at >= ?"
    )
    conn.execute(q, (since,)).fetchall()
    conn.execute(
        q.replace("SELECT", "SELECT provider, upstream,") + " GROUP BY 1, 2", (since,)
    ).fetchall()
    conn.execute(q.replace("SELECT", "SELECT model,") + " GROUP BY 1", (since,)).fetchall()
    lat: dict[tuple[str, str], list[float]] = {}
    for p, u, v in conn.execute(
        "SELECT provider, upstream, latency_s FROM calls NOT INDEXED WHERE started_at >= ? "
        "AND status = 'ok'",
        (since,),
    ):
        lat.setdefault((p, u), []).append(v)
    for values in lat.values():
        values.sort()
    conn.close()


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
            t_naive = best_of(lambda p=path, s=since: naive(p, s), runs=3)
            t_ours = best_of(lambda p=path, w=window: ours(p, w), runs=5)
            rows.append(
                [
                    f"{n:,}",
                    window,
                    f"{t_naive * 1000:.1f}",
                    f"{t_ours * 1000:.1f}",
                    f"{t_ours / t_naive:.3f}",
                    "yes" if t_ours / t_naive <= 0.2 else "NO",
                ]
            )
        cli = best_of(lambda p=path: cli_seconds(p), runs=3)
        rows.append([f"{n:,}", "30d (CLI process)", "", f"{cli * 1000:.0f}", "", ""])
    table(
        "summary vs naive full scan (ms, best of runs)",
        ["calls", "window", "naive", "summary", "ratio", "<= 0.2"],
        rows,
    )


if __name__ == "__main__":
    main()
