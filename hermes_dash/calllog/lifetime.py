"""Totals over the whole call log, for an exporter whose counters only grow.

Prometheus computes rates from counters itself, so the metrics exporter reports what the
log holds since its first row. The sums come from the daily rollups (a few rows per day
and key, kept exact by triggers), never from a scan of ``calls``; the one breakdown the
rollups do not hold (platform and status class) is counted incrementally by row id, so
each scrape reads only the rows written since the previous one.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hermes_dash.calllog.recorder import rollups
from hermes_dash.calllog.sane import key_text, sane_count

if TYPE_CHECKING:
    from hermes_dash.calllog.store import CallStore

#: Rollup sums read per (provider, endpoint, upstream, model), in this order.
LIFETIME_MEASURES = (
    "calls",
    "logical_calls",
    "unpriced",
    "errors",
    "rate_limited",
    "cost_usd",
    "cost_estimated_usd",
    "input_tokens",
    "output_tokens",
)

#: The status class of one attempt: what a dashboard groups failures by.
STATUS_CLASS_SQL = (
    "CASE WHEN status = 'ok' THEN 'ok' "
    "WHEN http_status = 429 THEN '429' "
    "WHEN http_status BETWEEN 400 AND 499 THEN '4xx' "
    "WHEN http_status BETWEEN 500 AND 599 THEN '5xx' "
    "WHEN http_status BETWEEN 200 AND 299 THEN 'stream_error' "
    "WHEN http_status IS NULL THEN 'no_response' "
    "ELSE 'other' END"
)


@dataclass(frozen=True)
class LifetimeGroup:
    """Whole-log sums for one (provider, endpoint, upstream, model)."""

    provider: str
    endpoint: str
    upstream: str
    model: str
    measures: dict[str, float]


def lifetime_groups(store: CallStore) -> list[LifetimeGroup]:
    """Sums of the daily rollup per key over every day the log holds."""
    sane = rollups.sane_number
    # TOTAL, not SUM: two 64-bit counts another writer left stopped every scrape with
    # "integer overflow" (and every call-log metric with it).
    sums = ", ".join(f"TOTAL({sane(m)})" for m in LIFETIME_MEASURES)
    rows = store.query(
        f"SELECT provider, endpoint, upstream, model, {sums} FROM calls_daily "
        "GROUP BY provider, endpoint, upstream, model"
    )
    return [
        LifetimeGroup(
            key_text(r[0]),
            key_text(r[1]),
            key_text(r[2]),
            key_text(r[3]),
            {m: float(v or 0) for m, v in zip(LIFETIME_MEASURES, r[4:], strict=True)},
        )
        for r in rows
    ]


@dataclass(frozen=True)
class LifetimeHistogram:
    """Cumulative counts of one (provider, endpoint, upstream) under each bound."""

    provider: str
    endpoint: str
    upstream: str
    cumulative: list[int]
    """Counts under each of the bounds asked for, in their order."""
    count: int


def lifetime_histograms(
    store: CallStore, table: str, bucket_edges: list[int]
) -> list[LifetimeHistogram]:
    """Counts per key of the log's histogram buckets below each edge: a log bucket ``b``
    covers ``[BASE**b, BASE**(b+1))`` ms, so ``bucket < k`` is exactly "under BASE**k
    ms". ``table`` is a daily histogram rollup (``latency_daily``, ``ttft_daily``)."""
    if table not in {t for tables, _ in rollups.HISTOGRAMS for t, _, _ in tables}:
        raise ValueError(f"not a histogram rollup: {table}")
    under = ", ".join(f"TOTAL(CASE WHEN bucket < {int(k)} THEN n ELSE 0 END)" for k in bucket_edges)
    rows = store.query(
        # A bucket another writer left as text, a fraction or a blob is no latency at
        # all: counted, it would sit only under +Inf, slower than every bound.
        f"SELECT provider, endpoint, upstream, {under}, TOTAL(n) FROM {table} "
        "WHERE typeof(bucket) = 'integer' GROUP BY provider, endpoint, upstream"
    )
    out = []
    for r in rows:
        counts = [sane_count(v) or 0 for v in r[3:]]
        out.append(
            LifetimeHistogram(
                key_text(r[0]), key_text(r[1]), key_text(r[2]), counts[:-1], counts[-1]
            )
        )
    return out


class StatusCounter:
    """Attempts per (platform, status class) over the whole log, read incrementally.

    A row's platform and status never change once written (enrichment fills in only cost
    and upstream), so counting the rows past the last id seen keeps the totals exact. A
    log that was replaced or emptied starts the counts over, as a counter reset; so does
    one restored into the same file (its ids go on, but the last row counted is not there
    any more, or started at another time).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_id = 0
        #: ``started_at`` of the row ``_last_id``: what tells this log from another.
        self._last_started: object = None
        self._counts: Counter[tuple[str, str]] = Counter()

    def reset(self) -> None:
        """Forget every count (the log file was replaced)."""
        with self._lock:
            self._forget()

    def _forget(self) -> None:
        self._last_id = 0
        self._last_started = None
        self._counts.clear()

    def _same_log(self, store: CallStore) -> bool:
        if self._last_id == 0:
            return True
        row = store.query("SELECT started_at FROM calls WHERE id = ?", (self._last_id,))
        return bool(row) and row[0][0] == self._last_started

    def read(self, store: CallStore) -> dict[tuple[str, str], int]:
        """The counts after reading the rows added since the previous read."""
        with self._lock:
            top = store.max_id()
            if top < self._last_id or not self._same_log(store):
                self._forget()
            if top > self._last_id:
                rows: list[tuple[Any, ...]] = store.query(
                    f"SELECT platform, {STATUS_CLASS_SQL}, COUNT(*) FROM calls "
                    "WHERE id > ? AND id <= ? GROUP BY 1, 2",
                    (self._last_id, top),
                )
                for platform, status_class, n in rows:
                    self._counts[(key_text(platform), str(status_class))] += int(n)
                self._last_id = top
                found = store.query("SELECT started_at FROM calls WHERE id = ?", (top,))
                self._last_started = found[0][0] if found else None
            return dict(self._counts)
