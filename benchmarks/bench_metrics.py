"""One Prometheus scrape of ``hermes-dash metrics`` against a plain exporter's scrape.

    python benchmarks/bench_metrics.py            # 200k calls
    python benchmarks/bench_metrics.py --full     # 1M calls too

Baseline: what a competent person writes without our rollups: on each scrape, the same
totals, histogram bucket counts and status breakdown as GROUP BY queries over the whole
``calls`` table. Ours: the collector's scrape (rollups, plus the rows new since the last
scrape), rendered to the text exposition format as the HTTP server does.
Target: a steady scrape at most 0.2x the baseline's time.
"""

from __future__ import annotations

import argparse
import sqlite3

from _common import best_of, call_log, table
from prometheus_client import CollectorRegistry, generate_latest

from hermes_dash.calllog.lifetime import STATUS_CLASS_SQL
from hermes_dash.calllog.store import CallStore
from hermes_dash.services.metrics import HISTOGRAM_EDGES, CallLogCollector


def plain_scrape(path: str) -> None:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.execute(
        "SELECT provider, COALESCE(endpoint, base_url_host, ''), COALESCE(upstream, ''), model, "
        "COUNT(*), SUM(COALESCE(attempt, 1) = 1), SUM(http_status = 429), "
        "SUM(status <> 'ok'), TOTAL(cost_usd), "
        "TOTAL(CASE WHEN cost_source = 'estimate' THEN cost_usd END), "
        "SUM(cost_source IS NULL), TOTAL(input_tokens), TOTAL(output_tokens) "
        "FROM calls GROUP BY 1, 2, 3, 4"
    ).fetchall()
    for col in ("latency_s", "ttft_s"):
        under = ", ".join(f"SUM({col} < {bound})" for _, bound in HISTOGRAM_EDGES)
        conn.execute(
            f"SELECT provider, COALESCE(endpoint, base_url_host, ''), COALESCE(upstream, ''), "
            f"{under}, COUNT({col}) FROM calls WHERE status = 'ok' "
            "GROUP BY 1, 2, 3"
        ).fetchall()
    conn.execute(
        f"SELECT platform, {STATUS_CLASS_SQL}, COUNT(*) FROM calls GROUP BY 1, 2"
    ).fetchall()
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--full", action="store_true", help="1M calls too")
    sizes = [200_000, 1_000_000] if parser.parse_args().full else [200_000]
    rows = []
    for n in sizes:
        path = str(call_log(n))
        store = CallStore(path, readonly=True)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(CallLogCollector(store))
        first = best_of(lambda r=registry: generate_latest(r), runs=1)
        t_ours = best_of(lambda r=registry: generate_latest(r), runs=7)
        t_plain = best_of(lambda p=path: plain_scrape(p), runs=3)
        store.close()
        ratio = t_ours / t_plain
        rows.append(
            [
                f"{n:,}",
                f"{t_plain * 1000:.1f}",
                f"{first * 1000:.1f}",
                f"{t_ours * 1000:.1f}",
                f"{ratio:.3f}",
                "yes" if ratio <= 0.2 else "NO",
            ]
        )
    table(
        "metrics scrape vs a plain exporter's GROUP BY scrape (ms, best of runs)",
        ["calls", "plain", "first scrape", "scrape", "ratio", "<= 0.2"],
        rows,
    )


if __name__ == "__main__":
    main()
