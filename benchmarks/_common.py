"""Shared pieces of the benchmarks: cached demo call logs, timing, table printing."""

from __future__ import annotations

import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hermes_dash.calllog.store import CallStore
from hermes_dash.demo.generator import generate

CACHE = Path(tempfile.gettempdir()) / "hermes-dash-bench"
#: All benchmark logs end at the same instant so runs are comparable.
NOW = 1_795_618_800.0


def call_log(n: int, days: float = 30.0, now: float = NOW) -> Path:
    """A generated call log of n calls over `days` days ending at `now`, built once and
    cached (a log for another end time replaces the previous one of that size)."""
    CACHE.mkdir(exist_ok=True)
    path = CACHE / (f"calls-{n}.db" if now == NOW else f"calls-{n}-at{int(now)}.db")
    if not path.exists():
        if now != NOW:
            for old in CACHE.glob(f"calls-{n}-at*.db"):
                remove_db(old)
        tmp = path.with_suffix(".part")
        tmp.unlink(missing_ok=True)
        started = time.perf_counter()
        store = CallStore(tmp)
        generate(store, n, seed=1, days=days, now=now)
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        store.close()
        tmp.rename(path)
        print(
            f"(generated {n:,} calls in {time.perf_counter() - started:.1f} s: {path})",
            file=sys.stderr,
        )
    return path


def remove_db(path: Path) -> None:
    """Delete a SQLite file with its -wal and -shm companions."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def best_of(fn: Callable[[], object], runs: int = 5) -> float:
    """The fastest of several runs, in seconds (the least disturbed by the machine)."""
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def median(values: list[float]) -> float:
    """The median."""
    return statistics.median(values)


def table(title: str, header: list[str], rows: list[list[object]]) -> None:
    """Print an aligned table."""
    cells = [header] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n{title}")
    for i, r in enumerate(cells):
        print(
            "  "
            + "  ".join(
                c.rjust(w) if j else c.ljust(w)
                for j, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
        if i == 0:
            print("  " + "  ".join("-" * w for w in widths))


def plain_window(path: str, since: float) -> None:
    """What a competent person writes without our rollups: indexed aggregate queries over
    the window (the ``started_at`` index) and exact p50/p95 latency per provider from the
    window's rows, sorted in Python."""
    conn = sqlite3.connect(path)
    q = (
        "SELECT COUNT(*), SUM(status <> 'ok'), SUM(http_status = 429), SUM(COALESCE(cost_usd, 0)), "
        "SUM(input_tokens), SUM(output_tokens) FROM calls WHERE started_at >= ?"
    )
    conn.execute(q, (since,)).fetchall()
    conn.execute(
        q.replace("SELECT", "SELECT provider, upstream,") + " GROUP BY 1, 2", (since,)
    ).fetchall()
    conn.execute(q.replace("SELECT", "SELECT model,") + " GROUP BY 1", (since,)).fetchall()
    lat: dict[tuple[str, str], list[float]] = {}
    for p, u, v in conn.execute(
        "SELECT provider, upstream, latency_s FROM calls WHERE started_at >= ? "
        "AND status = 'ok' AND latency_s IS NOT NULL",
        (since,),
    ):
        lat.setdefault((p, u), []).append(v)
    for values in lat.values():
        values.sort()
        _ = values[len(values) // 2], values[int(len(values) * 0.95)]
    conn.close()
