"""Read and write access to the call log, behind one small interface.

The store holds two parts: the open file (:class:`CallLogConnection`: opening,
migrating, locking, checked row reads) and its window aggregates
(:class:`~hermes_dash.calllog.windows.WindowQueries`: sums, percentiles, chart
series). This module writes rows and snapshots and reads rows for the live table, the
calls browser and export; every write drops the aggregates' kept answers.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from hermes_dash.calllog.connection import CallLogConnection, CallLogError, describe
from hermes_dash.calllog.filters import CallFilter, filter_sql
from hermes_dash.calllog.recorder import rollups, schema
from hermes_dash.calllog.records import (
    AccountSnapshot,
    CallRow,
    CallTotals,
    GroupStats,
    LimitEvents,
    SeriesPoint,
    Window,
)
from hermes_dash.calllog.sane import MAX_SANE_TIME, sane_count, sane_time
from hermes_dash.calllog.snapshots import AccountSnapshots
from hermes_dash.calllog.window_events import WindowEvents
from hermes_dash.calllog.windows import Breakdown, WindowQueries

__all__ = ["CallFilter", "CallLogError", "CallStore"]


class CallStore:
    """The call log file: migrations on open, writes, window queries, incremental reads."""

    def __init__(self, path: str | Path, *, readonly: bool = False, timeout: float = 5.0):
        self.db = CallLogConnection(path, readonly=readonly, timeout=timeout)
        self.windows = WindowQueries(self.db)
        self.events = WindowEvents(self.windows)
        self.account = AccountSnapshots(self.db)

    @property
    def path(self) -> Path:
        """Where the log is."""
        return self.db.path

    @property
    def readonly(self) -> bool:
        """Whether the log was opened read-only."""
        return self.db.readonly

    @property
    def conn(self) -> sqlite3.Connection:
        """The SQLite connection (tests and benchmarks look at the file through it)."""
        return self.db.conn

    @property
    def skipped_rows(self) -> int:
        """Rows read since opening whose id or start time is impossible (skipped)."""
        return self.db.skipped_rows

    @property
    def repaired_rows(self) -> int:
        """Rows read since opening whose other impossible values were read as unknown."""
        return self.db.repaired_rows

    def reopen_if_replaced(self) -> bool:
        """Reopen the log when the file at its path was replaced (see
        :meth:`CallLogConnection.reopen_if_replaced`); kept answers go with the old file."""
        reopened = self.db.reopen_if_replaced()
        if reopened:
            self.windows.forget()
        return reopened

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    def patience(self, seconds: float) -> AbstractContextManager[None]:
        """Wait at most ``seconds`` for another process's lock inside the block."""
        return self.db.patience(seconds)

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        """All rows of one read-only statement (for the call log's own readers)."""
        return self.db.query(sql, params)

    def max_id(self) -> int:
        """The id of the newest row, 0 for an empty log."""
        return self.db.max_id()

    def forget_cached(self) -> None:
        """Drop every kept aggregate answer (after a write through this store)."""
        self.windows.forget()

    # -- window aggregates (see WindowQueries) ------------------------------------------

    def totals(self, window: Window) -> CallTotals:
        """Counts, cost and tokens of every call in the window."""
        return self.windows.totals(window)

    def requests_to(self, window: Window, model_suffix: str) -> int:
        """Requests (429s excluded) in the window to models whose id ends with a suffix."""
        return self.windows.requests_to(window, model_suffix)

    def breakdown(self, window: Window) -> Breakdown:
        """Totals, per-provider and per-model stats of the window."""
        return self.windows.breakdown(window)

    def by_endpoint(self, window: Window) -> dict[tuple[str, str], CallTotals]:
        """Totals per (provider, endpoint), without latency."""
        return self.windows.by_endpoint(window)

    def by_provider(self, window: Window) -> list[GroupStats]:
        """Per (provider, endpoint, upstream) stats with latency, busiest first."""
        return self.windows.breakdown(window).providers

    def by_model(self, window: Window) -> list[GroupStats]:
        """Per model stats, busiest first."""
        return self.windows.breakdown(window).models

    def limit_events(self, window: Window) -> LimitEvents:
        """The window's 429s by origin and 402s by limit source."""
        return self.events.limit_events(window)

    def daily_costs(self, start: float, end: float) -> list[tuple[int, str, str, str, float]]:
        """(day, provider, endpoint, model, cost) per whole UTC day in [start, end)."""
        return self.events.daily_costs(start, end)

    def task_counts(self, window: Window) -> dict[str, dict[str, int]]:
        """Logical calls per model and task in the window."""
        return self.events.task_counts(window)

    def series(self, window: Window, points: int = 60) -> list[SeriesPoint]:
        """Spend and 429s over the window in equal buckets."""
        return self.events.series(window, points)

    # -- writing ---------------------------------------------------------------------

    def insert(self, rows: list[Mapping[str, Any]]) -> None:
        """Insert call rows in one transaction (the rollups follow by trigger)."""
        try:
            with self.db.lock:
                schema.insert_calls(self.conn, rows)
        except sqlite3.Error as exc:
            raise describe(exc, self.path) from None

    def bulk_load(self, rows: Iterator[Mapping[str, Any]], batch: int = 50_000) -> int:
        """Load many rows fast: triggers off, rollups rebuilt once, all in one transaction."""
        with self.db.lock:
            return self._bulk_load(rows, batch)

    def _bulk_load(self, rows: Iterator[Mapping[str, Any]], batch: int) -> int:
        n = 0
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            for name in rollups.TRIGGER_NAMES:
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
            for statement in rollups.trigger_sql():
                conn.execute(statement)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return n

    def _rebuild_rollups(self) -> None:
        for statement in rollups.rebuild_rollups_sql():
            self.db.conn.execute(statement)

    def add_snapshot(self, snap: AccountSnapshot) -> None:
        """Record one account poll so spend over time survives restarts."""
        self.account.add(snap)

    def mark_unbilled(self, hosts: list[str]) -> int:
        """Give every unpriced call to these endpoints (host[:port]) a known cost of 0
        (``cost_source='none'``); returns how many rows changed."""
        if not hosts:
            return 0
        self.forget_cached()
        marks = ", ".join("?" for _ in hosts)
        try:
            with self.db.lock:
                cur = self.db.conn.execute(
                    "UPDATE calls SET cost_usd = 0, cost_source = 'none' WHERE "
                    f"cost_source IS NULL AND COALESCE(endpoint, base_url_host, '') IN ({marks})",
                    hosts,
                )
                return cur.rowcount
        except sqlite3.Error as exc:
            raise describe(exc, self.path) from None

    def mark_refused(self) -> int:
        """Give every unpriced attempt the server refused (HTTP 4xx/5xx: a 429, a 402) a
        known cost of 0: nobody bills a refusal. Returns how many rows changed."""
        self.forget_cached()
        try:
            with self.db.lock:
                return self.db.conn.execute(
                    "UPDATE calls SET cost_usd = 0, cost_source = 'none' "
                    "WHERE cost_source IS NULL AND http_status >= 400"
                ).rowcount
        except sqlite3.Error as exc:
            raise describe(exc, self.path) from None

    def unpriced_hosts(self) -> list[str]:
        """The endpoints that have calls with no cost yet (from the rollups)."""
        rows = self.db.query("SELECT DISTINCT endpoint FROM calls_daily WHERE unpriced > 0")
        return [r[0] for r in rows]

    def set_cost(self, call_id: int, cost: float, source: str, upstream: str | None) -> None:
        """Fill in a call's cost (and upstream provider when newly known)."""
        self.forget_cached()  # the upstream moves the call to another latency group
        self.db.query(
            "UPDATE calls SET cost_usd = ?, cost_source = ?, "
            "upstream = COALESCE(?, upstream) WHERE id = ?",
            (cost, source, upstream, call_id),
        )

    def set_costs(self, costs: list[tuple[int, float, str, str | None]]) -> None:
        """Fill in many calls' (id, cost, source, upstream) in one transaction."""
        self.forget_cached()
        try:
            with self.db.lock:
                self.db.conn.execute("BEGIN IMMEDIATE")
                try:
                    self.db.conn.executemany(
                        "UPDATE calls SET cost_usd = ?, cost_source = ?, "
                        "upstream = COALESCE(?, upstream) WHERE id = ? AND cost_source IS NULL",
                        [(cost, source, upstream, i) for i, cost, source, upstream in costs],
                    )
                    self.db.conn.execute("COMMIT")
                except BaseException:
                    self.db.conn.execute("ROLLBACK")
                    raise
        except sqlite3.Error as exc:
            raise describe(exc, self.path) from None

    def note_enrich_attempt(self, call_ids: list[int]) -> None:
        """Count one more failed attempt to price these calls."""
        with self.db.lock:
            self.db.conn.executemany(
                "UPDATE calls SET enrich_attempts = enrich_attempts + 1 WHERE id = ?",
                [(i,) for i in call_ids],
            )

    def last_rate_limit(self, window: Window) -> CallRow | None:
        """The most recent 429 in the window."""
        # Both bounds: SQLite sorts text and blobs after every number, so a start time
        # stored as text would pass a lower bound alone (and sort first).
        rows = self.db.rows(
            "WHERE started_at >= ? AND started_at <= ? AND http_status = 429 "
            "ORDER BY started_at DESC LIMIT 1",
            (window.start, window.end),
        )
        return rows[0] if rows else None

    def attempts_of(self, call_key: str, limit: int = 50) -> list[CallRow]:
        """Every attempt of one logical call, in order."""
        return self.db.rows(
            "WHERE call_key = ? ORDER BY COALESCE(attempt, 1), id LIMIT ?", (call_key, limit)
        )

    # -- rows --------------------------------------------------------------------------

    def tail(self, after_id: int, limit: int = 500) -> tuple[list[CallRow], int]:
        """Rows newer than ``after_id``, oldest first (the live tail reads only these), and
        the id to continue after: past skipped rows too, so they are not read again."""
        rows, last = self.db.scan("WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit))
        return rows, after_id if last is None else last

    def rows_after(self, after_id: int, limit: int = 500) -> list[CallRow]:
        """Rows newer than ``after_id``, oldest first."""
        return self.tail(after_id, limit)[0]

    def impossible_rows(self) -> int:
        """Rows whose start time cannot be unix seconds (text, a blob, inf, negative,
        milliseconds): every reader skips them. Cheap: two ranges of the time index."""
        return int(
            self.db.query(
                "SELECT COUNT(*) FROM calls WHERE started_at < 0 OR started_at >= ?",
                (MAX_SANE_TIME,),
            )[0][0]
        )

    def unpriced(
        self, max_attempts: int, limit: int = 50, before_id: int | None = None
    ) -> list[tuple[CallRow, int]]:
        """Calls whose cost is not known yet and that may still be retried, newest first
        (older than ``before_id`` when given), each with the number of rounds that
        already failed to price it."""
        cols = ", ".join(CallRow.COLUMNS)
        rows = self.db.query(
            f"SELECT {cols}, enrich_attempts FROM calls "
            "WHERE cost_source IS NULL AND enrich_attempts < ? AND id < ? "
            "AND started_at >= 0 AND started_at < ? ORDER BY id DESC LIMIT ?",
            (
                max_attempts,
                before_id if before_id is not None else 2**62,
                MAX_SANE_TIME,
                limit,
            ),
        )
        out: list[tuple[CallRow, int]] = []
        for r in rows:
            row, _ = CallRow.from_db(r[:-1])
            if row is not None:
                out.append((row, sane_count(r[-1]) or 0))
        return out

    def query_calls(self, flt: CallFilter, limit: int = 200, offset: int = 0) -> list[CallRow]:
        """A page of calls matching a filter, newest first."""
        where, params = filter_sql(flt)
        return self.db.rows(f"{where} ORDER BY id DESC LIMIT ? OFFSET ?", [*params, limit, offset])

    def count_calls(self, flt: CallFilter) -> int:
        """How many calls match a filter."""
        where, params = filter_sql(flt)
        return int(self.db.query(f"SELECT COUNT(*) FROM calls {where}", params)[0][0])

    def iter_calls(self, flt: CallFilter, chunk: int = 5000) -> Iterator[CallRow]:
        """Every call matching a filter, oldest first, read in chunks (for export)."""
        where, params = filter_sql(flt)
        last = 0
        joiner = " AND " if where else "WHERE "
        while True:
            rows, seen = self.db.scan(
                f"{where}{joiner}id > ? ORDER BY id LIMIT ?", [*params, last, chunk]
            )
            yield from rows
            if seen is None:
                return
            last = seen

    def distinct(self, column: str, limit: int = 200) -> list[str]:
        """Distinct values of model/provider/upstream for filter menus (from the rollup)."""
        if column not in ("model", "provider", "upstream"):
            raise ValueError(column)
        rows = self.db.query(
            f"SELECT DISTINCT {column} FROM calls_hourly "
            f"WHERE typeof({column}) = 'text' AND {column} <> '' "
            f"ORDER BY {column} LIMIT ?",
            (limit,),
        )
        return [r[0] for r in rows]

    # -- account snapshots (see AccountSnapshots) --------------------------------------

    def snapshots(self, window: Window, limit: int = 2000) -> list[AccountSnapshot]:
        """Account polls in the window, oldest first (thinned to at most ``limit``)."""
        return self.account.in_window(window, limit)

    def snapshot_at(self, t: float, *, before: bool) -> AccountSnapshot | None:
        """The last account poll with a usage figure at or before ``t`` (``before``), or
        the first one at or after it."""
        return self.account.at(t, before=before)

    def last_write(self) -> float | None:
        """When the newest call row started (the recorder's last sign of life)."""
        row = self.db.query(
            "SELECT MAX(started_at) FROM calls WHERE started_at >= 0 AND started_at < ?",
            (MAX_SANE_TIME,),
        )
        return sane_time(row[0][0])

    def dropped_rows(self) -> int:
        """Rows the recorder had to drop (and reported later)."""
        row = self.db.query("SELECT value FROM recorder_state WHERE key = 'dropped'")
        return (sane_count(row[0][0]) or 0) if row else 0
