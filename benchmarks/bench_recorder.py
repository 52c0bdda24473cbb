"""The recorder plugin's cost per recorded call, against the bare hook call.

    python benchmarks/bench_recorder.py          # 2,000 calls per process
    python benchmarks/bench_recorder.py --full   # 20,000 calls per process

Baseline in the same run: calling a no-op hook with the same keyword arguments. Then the
real hook (one short SQLite transaction per call) in 1 process, then in 4 at once.
Target: under 1 ms median per call, zero lost rows.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import time
from pathlib import Path

from _common import table

from hermes_dash.calllog import recorder
from hermes_dash.calllog.store import CallStore

KW = dict(
    task_id="t",
    turn_id="u",
    api_request_id="r",
    session_id="s",
    platform="cli",
    model="anthropic/claude-sonnet-4.5",
    provider="openrouter",
    base_url="https://openrouter.ai/api/v1",
    api_mode="chat_completions",
    api_call_count=1,
    api_duration=1.5,
    finish_reason="stop",
    message_count=12,
    response_model="x",
    response={"model": "x", "id": "gen-1", "upstream_provider": "Anthropic"},
    usage={
        "input_tokens": 5000,
        "output_tokens": 300,
        "cache_read_tokens": 1000,
        "cache_write_tokens": 0,
        "reasoning_tokens": 0,
    },
    assistant_message=None,
    assistant_content_chars=800,
    assistant_tool_call_count=1,
)


def noop(**kwargs: object) -> None:
    """The baseline hook."""


def timed(hook, n: int) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for i in range(n):
        t = time.time()
        kw = {**KW, "started_at": t, "ended_at": t + 1.5, "api_request_id": str(i)}
        s = time.perf_counter()
        hook(**kw)
        out.append(time.perf_counter() - s)
    return out


def worker(path: str, n: int, q) -> None:  # type: ignore[no-untyped-def]
    recorder.configure(path)
    q.put((timed(recorder.on_post_api_request, n), recorder.dropped_total))


def pct(values: list[float], p: float) -> float:
    return sorted(values)[min(len(values) - 1, int(p * len(values)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--full", action="store_true")
    n = 20_000 if parser.parse_args().full else 2_000
    rows = []
    base = timed(noop, n)
    rows.append(
        [
            "bare hook call",
            "1",
            f"{statistics.median(base) * 1000:.4f}",
            f"{pct(base, 0.99):.4f}",
            "",
            "-",
        ]
    )
    with tempfile.TemporaryDirectory() as d:
        path = str(Path(d) / "calls.db")
        recorder.configure(path)
        one = timed(recorder.on_post_api_request, n)
        ratio = statistics.median(one) / statistics.median(base)
        lost = n - CallStore(path).max_id()
        rows.append(
            [
                "recorder",
                "1",
                f"{statistics.median(one) * 1000:.4f}",
                f"{pct(one, 0.99):.4f}",
                f"{ratio:,.0f}x",
                str(lost + recorder.dropped_total),
            ]
        )
        path4 = str(Path(d) / "calls4.db")
        CallStore(path4).close()
        ctx = multiprocessing.get_context("spawn")
        q = ctx.Queue()
        procs = [ctx.Process(target=worker, args=(path4, n, q)) for _ in range(4)]
        for p in procs:
            p.start()
        results = [q.get() for _ in procs]
        for p in procs:
            p.join()
        times = [t for r in results for t in r[0]]
        dropped = sum(r[1] for r in results)
        written = CallStore(path4).conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0]
        rows.append(
            [
                "recorder, 4 processes at once",
                "4",
                f"{statistics.median(times) * 1000:.4f}",
                f"{pct(times, 0.99):.4f}",
                f"{statistics.median(times) / statistics.median(base):,.0f}x",
                str(4 * n - written + dropped),
            ]
        )
    table(
        f"cost per recorded call ({n:,} calls per process, ms)",
        ["hook", "procs", "median", "p99", "vs bare", "lost rows"],
        rows,
    )


if __name__ == "__main__":
    main()
