"""Read and write access to the call log, behind one small interface.

Window queries combine the hourly rollups for whole hours with a scan of the raw rows
for the partial hours at the two edges (at most two hours of rows, found through the
``started_at`` index), so the answers are exact and their cost does not grow with the
size of the file.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hermes_dash.calllog.recorder import schema
from hermes_dash.calllog.records import (
    AccountSnapshot,
    CallRow,
    CallTotals,
    GroupStats,
    SeriesPoint,
    Window,
)


class CallLogError(Exception):
    """The call log cannot be opened or read (corrupt, locked, unreadable)."""


def _describe(exc: sqlite3.Error, path: Path) -> CallLogError:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return CallLogError(f"call log {path} is locked by another process; try again")
    if "not a database" in text or "malformed" in text:
        return CallLogError(f"call log {path} is not a valid SQLite database (corrupt?)")
    if "unable to open" in text or "readonly" in text:
        return CallLogError(f"call log {path} cannot be opened: {text}")
    return CallLogError(f"call log {path}: {text}")


@dataclass
class CallFilter:
    """Filters of the calls browser and of ``export``; empty fields match everything."""

    model: str = ""
    provider: str = ""
    status: str = ""  # '', 'ok', 'error', '429'
    session: str = ""
    window: Window | None = None


_MEASURES = [name for name, _ in schema.ROLLUP_MEASURES]
_RAW_MEASURES = ", ".join(f"SUM({expr.format(r='c')})" for _, expr in schema.ROLLUP_MEASURES)
_ROLLUP_SUMS = ", ".join(f"SUM({name})" for name in _MEASURES)
_GROUP_EXPR = {
    "provider": ("c.provider", "provider"),
    "upstream": ("COALESCE(c.upstream, '')", "upstream"),
    "model": ("c.model", "model"),
}


@dataclass(frozen=True)
class Breakdown:
    """A window's totals with its per-provider and per-model stats."""

    totals: CallTotals
    providers: list[GroupStats]
    models: list[GroupStats]


@dataclass
class _Accumulator:
    sums: dict[tuple[str, ...], list[float]] = field(default_factory=dict)

    def add(self, key: tuple[str, ...], values: Iterable[Any]) -> None:
        acc = self.sums.setdefault(key, [0.0] * len(_MEASURES))
        for i, v in enumerate(values):
            acc[i] += v or 0


class CallStore:
    """The call log file: migrations on open, window queries, incremental reads."""

    def __init__(self, path: str | Path, *, readonly: bool = False, timeout: float = 5.0):
        self.path = Path(path)
        self.readonly = readonly
        # The dashboard reads from worker threads; one connection, one statement at a time.
        self._lock = threading.RLock()
        try:
            if readonly and not self.path.exists():
                raise CallLogError(f"call log {self.path} does not exist")
            self.conn = schema.connect(
                str(self.path), timeout=timeout, readonly=readonly, shared=True
            )
            if not readonly:
                schema.migrate(self.conn)
            else:
                self.conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        except sqlite3.Error as exc:
            raise _describe(exc, self.path) from None

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            with self._lock:
                return self.conn.execute(sql, tuple(params)).fetchall()
        except sqlite3.Error as exc:
            raise _describe(exc, self.path) from None

    # -- writing ---------------------------------------------------------------------

    def insert(self, rows: list[Mapping[str, Any]]) -> None:
        """Insert call rows in one transaction (the rollups follow by trigger)."""
        try:
            with self._lock:
                schema.insert_calls(self.conn, rows)
        except sqlite3.Error as exc:
            raise _describe(exc, self.path) from None

    def bulk_load(self, rows: Iterator[Mapping[str, Any]], batch: int = 50_000) -> int:
        """Load many rows fast: triggers off, rollups rebuilt once, all in one transaction."""
        with self._lock:
            return self._bulk_load(rows, batch)

    def _bulk_load(self, rows: Iterator[Mapping[str, Any]], batch: int) -> int:
        n = 0
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            for name in schema.TRIGGER_NAMES:
                conn.execute(f"DROP TRIGGER IF EXISTS {name}")
            chunk: list[tuple[Any, ...]] = []
            for row in rows:
                chunk.append(schema.row_values(row))
                if len(chunk) >= batch:
                    conn.executemany(schema.INSERT_CALL_SQL, chunk)
                    n += len(chunk)
                    chunk.clear()
            if chunk:
                conn.executemany(schema.INSERT_CALL_SQL, chunk)
                n += len(chunk)
            self._rebuild_rollups()
            for statement in schema.trigger_sql():
                conn.execute(statement)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return n

    def _rebuild_rollups(self) -> None:
        key_exprs = ", ".join(e.format(r="c") for _, e in schema.ROLLUP_KEY)
        for table, period, length in schema.CALLS_TABLES:
            self.conn.execute(f"DELETE FROM {table}")
            self.conn.execute(
                f"INSERT INTO {table} ({period}, provider, upstream, model, "
                f"{', '.join(_MEASURES)}) SELECT {schema.period_sql('c', length)}, {key_exprs}, "
                f"c.model, {_RAW_MEASURES} FROM calls c GROUP BY 1, 2, 3, 4"
            )
        for table, period, length in schema.LATENCY_TABLES:
            self.conn.execute(f"DELETE FROM {table}")
            self.conn.execute(
                f"INSERT INTO {table} ({period}, provider, upstream, bucket, n) "
                f"SELECT {schema.period_sql('c', length)}, {key_exprs}, c.latency_bucket, "
                "COUNT(*) FROM calls c WHERE c.status = 'ok' AND c.latency_bucket IS NOT NULL "
                "GROUP BY 1, 2, 3, 4"
            )

    def add_snapshot(self, snap: AccountSnapshot) -> None:
        """Record one account poll so spend over time survives restarts."""
        try:
            self._query(
                "INSERT INTO account_snapshots (taken_at, label, usage, usage_daily, "
                "usage_weekly, usage_monthly, limit_usd, limit_remaining, limit_reset, "
                "credits_total, credits_used, is_free_tier) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    snap.taken_at,
                    snap.label,
                    snap.usage,
                    snap.usage_daily,
                    snap.usage_weekly,
                    snap.usage_monthly,
                    snap.limit,
                    snap.limit_remaining,
                    snap.limit_reset,
                    snap.credits_total,
                    snap.credits_used,
                    None if snap.is_free_tier is None else int(snap.is_free_tier),
                ),
            )
        except sqlite3.Error as exc:
            raise _describe(exc, self.path) from None

    def set_cost(self, call_id: int, cost: float, source: str, upstream: str | None) -> None:
        """Fill in a call's cost (and upstream provider when newly known)."""
        self._query(
            "UPDATE calls SET cost_usd = ?, cost_source = ?, "
            "upstream = COALESCE(?, upstream) WHERE id = ?",
            (cost, source, upstream, call_id),
        )

    def enrich_attempts(self, call_id: int) -> int:
        """How many rounds have failed to price this call."""
        rows = self._query("SELECT enrich_attempts FROM calls WHERE id = ?", (call_id,))
        return int(rows[0][0]) if rows else 0

    def note_enrich_attempt(self, call_ids: list[int]) -> None:
        """Count one more failed attempt to price these calls."""
        with self._lock:
            self.conn.executemany(
                "UPDATE calls SET enrich_attempts = enrich_attempts + 1 WHERE id = ?",
                [(i,) for i in call_ids],
            )

    # -- window aggregates -----------------------------------------------------------

    @staticmethod
    def _plan(
        window: Window, tables: tuple[tuple[str, str, int], ...]
    ) -> tuple[list[tuple[str, str, int, int]], list[tuple[float, float]]]:
        """Which rollup periods cover the window, and the seconds left for raw rows.

        Whole days come from the daily table, whole hours at their edges from the hourly
        one, and only what is left over (under an hour at each end) from ``calls``.
        """
        parts: list[tuple[str, str, int, int]] = []
        pending = [(window.start, window.end)]
        for table, period, length in tables:
            rest: list[tuple[float, float]] = []
            for lo, hi in pending:
                p0, p1 = -(-int(lo) // length) * length, int(hi) // length * length
                if p0 >= p1:
                    rest.append((lo, hi))
                    continue
                parts.append((table, period, p0, p1))
                rest += [(a, b) for a, b in ((lo, float(p0)), (float(p1), hi)) if b > a]
            pending = rest
        return parts, pending

    def _collect(
        self,
        window: Window,
        tables: tuple[tuple[str, str, int], ...],
        rollup_sql: Callable[[str, str], str],
        raw_sql: str,
    ) -> list[tuple[Any, ...]]:
        """Rows of one query asked of each rollup period in the plan and of the raw rest;
        both SQL forms take a (from, to) pair and return rows of the same shape."""
        parts, raw = self._plan(window, tables)
        rows: list[tuple[Any, ...]] = []
        for table, period, p0, p1 in parts:
            rows += self._query(rollup_sql(table, period), (p0, p1))
        for lo, hi in raw:
            rows += self._query(raw_sql, (lo, hi))
        return rows

    def _grouped(
        self, window: Window, group: tuple[str, ...]
    ) -> dict[tuple[str, ...], list[float]]:
        """Sums of every rollup measure per group over the window, exact to the second."""
        acc = _Accumulator()
        width = len(group) or 1
        raw_group = ", ".join(_GROUP_EXPR[g][0] for g in group) or "'all'"
        rollup_group = ", ".join(_GROUP_EXPR[g][1] for g in group) or "'all'"
        rows = self._collect(
            window,
            schema.CALLS_TABLES,
            lambda table, period: (
                f"SELECT {rollup_group}, {_ROLLUP_SUMS} FROM {table} "
                f"WHERE {period} >= ? AND {period} < ? GROUP BY {rollup_group}"
            ),
            f"SELECT {raw_group}, {_RAW_MEASURES} FROM calls c "
            f"WHERE c.started_at >= ? AND c.started_at < ? GROUP BY {raw_group}",
        )
        for row in rows:
            acc.add(tuple(row[:width]), row[width:])
        return acc.sums

    def _latency_hist(
        self, window: Window, group: tuple[str, ...]
    ) -> dict[tuple[str, ...], dict[int, int]]:
        """Latency histogram per group over the window (successful calls only)."""
        hist: dict[tuple[str, ...], dict[int, int]] = {}
        width = len(group)
        cols = ", ".join(_GROUP_EXPR[g][1] for g in group)
        raw_cols = ", ".join(_GROUP_EXPR[g][0] for g in group)
        rows = self._collect(
            window,
            schema.LATENCY_TABLES,
            lambda table, period: (
                f"SELECT {cols}, bucket, SUM(n) FROM {table} "
                f"WHERE {period} >= ? AND {period} < ? GROUP BY {cols}, bucket"
            ),
            f"SELECT {raw_cols}, c.latency_bucket, COUNT(*) FROM calls c "
            "WHERE c.started_at >= ? AND c.started_at < ? AND c.status = 'ok' "
            f"AND c.latency_bucket IS NOT NULL GROUP BY {raw_cols}, c.latency_bucket",
        )
        for row in rows:
            bucket = hist.setdefault(tuple(row[:width]), {})
            bucket[row[width]] = bucket.get(row[width], 0) + row[width + 1]
        return hist

    def totals(self, window: Window) -> CallTotals:
        """Counts, cost and tokens of every call in the window."""
        sums = self._grouped(window, ())
        values = next(iter(sums.values()), [0.0] * len(_MEASURES))
        return CallTotals.from_measures(dict(zip(_MEASURES, values, strict=True)))

    def breakdown(self, window: Window) -> Breakdown:
        """Totals, per-provider and per-model stats from one pass over the rollups."""
        sums = self._grouped(window, ("provider", "upstream", "model"))
        hist = self._latency_hist(window, ("provider", "upstream"))
        total = _Accumulator()
        providers = _Accumulator()
        models = _Accumulator()
        for (provider, upstream, model), values in sums.items():
            total.add(("all",), values)
            providers.add((provider, upstream), values)
            models.add((model,), values)

        def stats(acc: _Accumulator, with_latency: bool) -> list[GroupStats]:
            out = [
                GroupStats.from_measures(
                    key,
                    dict(zip(_MEASURES, values, strict=True)),
                    hist.get(key, {}) if with_latency else {},
                )
                for key, values in acc.sums.items()
            ]
            return sorted((g for g in out if g.calls), key=lambda g: (-g.calls, g.key))

        values = total.sums.get(("all",), [0.0] * len(_MEASURES))
        return Breakdown(
            CallTotals.from_measures(dict(zip(_MEASURES, values, strict=True))),
            stats(providers, True),
            stats(models, False),
        )

    def by_provider(self, window: Window) -> list[GroupStats]:
        """Per (Hermes provider, upstream) stats with p50/p95 latency, busiest first."""
        return self.breakdown(window).providers

    def by_model(self, window: Window) -> list[GroupStats]:
        """Per model stats, busiest first."""
        return self.breakdown(window).models

    def series(self, window: Window, points: int = 60) -> list[SeriesPoint]:
        """Spend and 429s over the window in equal buckets (hourly data for long windows)."""
        span = window.end - window.start
        step = max(60.0, span / points)
        if span >= 6 * 3600:  # hourly rollups: never scan a day of raw rows for a chart
            step = max(3600, round(step / 3600) * 3600)
            rows = self._query(
                "SELECT hour, SUM(cost_usd), SUM(rate_limited), SUM(calls) FROM calls_hourly "
                "WHERE hour >= ? AND hour <= ? GROUP BY hour",
                (int(window.start) // 3600 * 3600, window.end),
            )
        else:
            rows = self._query(
                "SELECT CAST(started_at / 60 AS INTEGER) * 60, SUM(COALESCE(cost_usd, 0)), "
                "SUM(COALESCE(http_status, 0) = 429), COUNT(*) FROM calls "
                "WHERE started_at >= ? AND started_at <= ? GROUP BY 1",
                (window.start, window.end),
            )
        n = max(1, int(-(-span // step)))
        cost = [0.0] * n
        limited = [0] * n
        calls = [0] * n
        for t, c, rl, k in rows:
            i = min(n - 1, max(0, int((t - window.start) // step)))
            cost[i] += c or 0.0
            limited[i] += int(rl or 0)
            calls[i] += int(k or 0)
        return [
            SeriesPoint(window.start + i * step, cost[i], limited[i], calls[i]) for i in range(n)
        ]

    def last_rate_limit(self, window: Window) -> CallRow | None:
        """The most recent 429 in the window."""
        rows = self._rows(
            "WHERE started_at >= ? AND http_status = 429 ORDER BY started_at DESC LIMIT 1",
            (window.start,),
        )
        return rows[0] if rows else None

    def requests_since(self, since: float, model_suffix: str) -> int:
        """Requests (429s excluded) to models whose id ends with a suffix, e.g. ':free'."""
        row = self._query(
            "SELECT COUNT(*) FROM calls WHERE started_at >= ? AND model LIKE ? "
            "AND COALESCE(http_status, 0) <> 429",
            (since, f"%{model_suffix}"),
        )
        return int(row[0][0])

    # -- rows --------------------------------------------------------------------------

    def _rows(self, where: str, params: Iterable[Any]) -> list[CallRow]:
        cols = ", ".join(CallRow.COLUMNS)
        return [CallRow(*r) for r in self._query(f"SELECT {cols} FROM calls {where}", params)]

    def max_id(self) -> int:
        """The id of the newest row, 0 for an empty log."""
        return int(self._query("SELECT COALESCE(MAX(id), 0) FROM calls")[0][0])

    def rows_after(self, after_id: int, limit: int = 500) -> list[CallRow]:
        """Rows newer than ``after_id``, oldest first (the live tail reads only these)."""
        return self._rows("WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit))

    def recent(self, limit: int = 50) -> list[CallRow]:
        """The newest rows, newest first."""
        return self._rows("ORDER BY id DESC LIMIT ?", (limit,))

    def unpriced(self, max_attempts: int, limit: int = 50) -> list[CallRow]:
        """Calls whose cost is not known yet and that may still be retried."""
        return self._rows(
            "WHERE cost_source IS NULL AND enrich_attempts < ? ORDER BY id DESC LIMIT ?",
            (max_attempts, limit),
        )

    def _filter_sql(self, flt: CallFilter) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if flt.window is not None:
            clauses.append("started_at >= ? AND started_at <= ?")
            params += [flt.window.start, flt.window.end]
        for col, value in (("model", flt.model), ("session_id", flt.session)):
            if value:
                clauses.append(f"{col} = ?")
                params.append(value)
        if flt.provider:
            clauses.append("(provider = ? OR upstream = ?)")
            params += [flt.provider, flt.provider]
        if flt.status == "429":
            clauses.append("http_status = 429")
        elif flt.status in ("ok", "error"):
            clauses.append("status = ?")
            params.append(flt.status)
        return ("WHERE " + " AND ".join(clauses)) if clauses else "", params

    def query_calls(self, flt: CallFilter, limit: int = 200, offset: int = 0) -> list[CallRow]:
        """A page of calls matching a filter, newest first."""
        where, params = self._filter_sql(flt)
        return self._rows(f"{where} ORDER BY id DESC LIMIT ? OFFSET ?", [*params, limit, offset])

    def count_calls(self, flt: CallFilter) -> int:
        """How many calls match a filter."""
        where, params = self._filter_sql(flt)
        return int(self._query(f"SELECT COUNT(*) FROM calls {where}", params)[0][0])

    def iter_calls(self, flt: CallFilter, chunk: int = 5000) -> Iterator[CallRow]:
        """Every call matching a filter, oldest first, read in chunks (for export)."""
        where, params = self._filter_sql(flt)
        last = 0
        joiner = " AND " if where else "WHERE "
        while True:
            rows = self._rows(f"{where}{joiner}id > ? ORDER BY id LIMIT ?", [*params, last, chunk])
            yield from rows
            if len(rows) < chunk:
                return
            last = rows[-1].id

    def distinct(self, column: str, limit: int = 200) -> list[str]:
        """Distinct values of model/provider/upstream for filter menus (from the rollup)."""
        if column not in ("model", "provider", "upstream"):
            raise ValueError(column)
        rows = self._query(
            f"SELECT DISTINCT {column} FROM calls_hourly WHERE {column} <> '' "
            f"ORDER BY {column} LIMIT ?",
            (limit,),
        )
        return [r[0] for r in rows]

    # -- account snapshots -----------------------------------------------------------

    def snapshots(self, window: Window, limit: int = 2000) -> list[AccountSnapshot]:
        """Account polls in the window, oldest first (thinned to at most ``limit``)."""
        rows = self._query(
            "SELECT taken_at, label, usage, usage_daily, usage_weekly, usage_monthly, "
            "limit_usd, limit_remaining, limit_reset, credits_total, credits_used, "
            "is_free_tier FROM account_snapshots WHERE taken_at >= ? AND taken_at <= ? "
            "ORDER BY taken_at",
            (window.start, window.end),
        )
        if len(rows) > limit:
            step = len(rows) / limit
            rows = [rows[int(i * step)] for i in range(limit)] + [rows[-1]]
        return [AccountSnapshot.from_row(r) for r in rows]

    def last_write(self) -> float | None:
        """When the newest call row started (the recorder's last sign of life)."""
        row = self._query("SELECT MAX(started_at) FROM calls")
        return row[0][0]

    def dropped_rows(self) -> int:
        """Rows the recorder had to drop (and reported later)."""
        row = self._query("SELECT value FROM recorder_state WHERE key = 'dropped'")
        return int(row[0][0]) if row else 0


def now_window(name: str, now: float | None = None) -> Window:
    """The window named '1h', '24h', '7d' or '30d' ending now."""
    return Window.named(name, time.time() if now is None else now)
