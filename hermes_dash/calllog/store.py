"""Read and write access to the call log, behind one small interface.

The window aggregates (sums, percentiles, chart series) live in
:mod:`hermes_dash.calllog.windows`; this module opens the file, writes rows and
snapshots, and reads rows for the live table, the calls browser and export.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from hermes_dash.calllog.recorder import schema
from hermes_dash.calllog.records import (
    MAX_SANE_TIME,
    AccountSnapshot,
    CallRow,
    Window,
    sane_count,
    sane_time,
)
from hermes_dash.calllog.windows import LIMITED_WHERE, WindowQueries

#: Indexes the dashboard's own queries need beyond the shared schema: the 402s and 429s
#: of a window are read without scanning its other rows. Made when the log is writable;
#: a read-only log answers the same queries, only slower.
READER_INDEXES = (
    # Covering: counting a month of 429s by origin never reads the rows themselves.
    "CREATE INDEX IF NOT EXISTS calls_limits ON calls "
    f"(started_at, http_status, error_provider, limit_source) WHERE {LIMITED_WHERE}",
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


def _lenient_text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


#: The calls browser's and export's status filter: any, successes, errors, 429s only.
StatusFilter = Literal["", "ok", "error", "429"]


@dataclass
class CallFilter:
    """Filters of the calls browser and of ``export``; empty fields match everything."""

    model: str = ""
    provider: str = ""
    status: StatusFilter = ""
    session: str = ""
    window: Window | None = None


class CallStore(WindowQueries):
    """The call log file: migrations on open, writes, window queries, incremental reads."""

    def __init__(self, path: str | Path, *, readonly: bool = False, timeout: float = 5.0):
        self.path = Path(path)
        self.readonly = readonly
        self._timeout = timeout
        # The dashboard reads from worker threads; one connection, one statement at a time.
        self._lock = threading.RLock()
        self.forget_cached()
        #: Rows read since opening whose id or start time is impossible (skipped), and rows
        #: whose other impossible values were read as unknown: ``export`` reports both.
        self.skipped_rows = 0
        self.repaired_rows = 0
        self._opened = self._identity()
        self._open()

    def _identity(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_dev, st.st_ino

    def _open(self) -> None:
        try:
            if self.readonly and not self.path.exists():
                raise CallLogError(f"call log {self.path} does not exist")
            self.conn = schema.connect(
                str(self.path), timeout=self._timeout, readonly=self.readonly, shared=True
            )
            if not self.readonly:
                schema.migrate(self.conn)
                for statement in READER_INDEXES:
                    self.conn.execute(statement)
            else:
                self._check_readable()
        except sqlite3.Error as exc:
            raise _describe(exc, self.path) from None

    def reopen_if_replaced(self) -> bool:
        """Reopen the log when the file at its path is no longer the one open (it was
        deleted and the recorder made a new one): an open connection would go on reading
        the deleted file forever. Returns whether it reopened; a log that is gone and not
        made anew yet keeps the old connection."""
        identity = self._identity()
        if identity is None or identity == self._opened:
            return False
        with self._lock:
            old = self.conn
            try:
                self._open()
            except CallLogError:
                if self.conn is not old:  # opened, then failed to migrate
                    self.conn.close()
                self.conn = old
                raise
            self._opened = identity
            self.forget_cached()
        old.close()
        return True

    def _check_readable(self) -> None:
        try:
            self.conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError as exc:
            text = str(exc)
            if "readonly" not in text and "unable to open" not in text:
                raise
            # A log in a folder we cannot write to (a read-only mount, someone else's
            # copy): SQLite cannot make the WAL index beside it, so read the file as it
            # stands, which is all anyone can do there.
            self.conn.close()
            self.conn = schema.connect(
                str(self.path), timeout=self._timeout, readonly=True, shared=True, immutable=True
            )
            self.conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    @contextmanager
    def patience(self, seconds: float) -> Iterator[None]:
        """Wait at most ``seconds`` for another process's lock inside the block (instead
        of the store's timeout): for reads that must not hold anything up."""
        with self._lock:
            self.conn.execute(f"PRAGMA busy_timeout = {int(seconds * 1000)}")
            try:
                yield
            finally:
                self.conn.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000)}")

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            with self._lock:
                try:
                    return self.conn.execute(sql, tuple(params)).fetchall()
                except sqlite3.OperationalError as exc:
                    if "decode" not in str(exc) or self.conn.text_factory is _lenient_text:
                        raise
                    # Another writer left text that is not UTF-8: read it with U+FFFD in
                    # place of the bad bytes rather than lose the whole log. Only then:
                    # decoding in Python costs every later read of this connection.
                    self.conn.text_factory = _lenient_text
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
        for statement in schema.rebuild_rollups_sql():
            self.conn.execute(statement)

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

    def mark_unbilled(self, hosts: list[str]) -> int:
        """Give every unpriced call to these endpoints (host[:port]) a known cost of 0
        (``cost_source='none'``); returns how many rows changed."""
        if not hosts:
            return 0
        self.forget_cached()
        marks = ", ".join("?" for _ in hosts)
        try:
            with self._lock:
                cur = self.conn.execute(
                    "UPDATE calls SET cost_usd = 0, cost_source = 'none' WHERE "
                    f"cost_source IS NULL AND COALESCE(endpoint, base_url_host, '') IN ({marks})",
                    hosts,
                )
                return cur.rowcount
        except sqlite3.Error as exc:
            raise _describe(exc, self.path) from None

    def mark_refused(self) -> int:
        """Give every unpriced attempt the server refused (HTTP 4xx/5xx: a 429, a 402) a
        known cost of 0: nobody bills a refusal. Returns how many rows changed."""
        self.forget_cached()
        try:
            with self._lock:
                return self.conn.execute(
                    "UPDATE calls SET cost_usd = 0, cost_source = 'none' "
                    "WHERE cost_source IS NULL AND http_status >= 400"
                ).rowcount
        except sqlite3.Error as exc:
            raise _describe(exc, self.path) from None

    def unpriced_hosts(self) -> list[str]:
        """The endpoints that have calls with no cost yet (from the rollups)."""
        rows = self._query("SELECT DISTINCT endpoint FROM calls_daily WHERE unpriced > 0")
        return [r[0] for r in rows]

    def set_cost(self, call_id: int, cost: float, source: str, upstream: str | None) -> None:
        """Fill in a call's cost (and upstream provider when newly known)."""
        self.forget_cached()  # the upstream moves the call to another latency group
        self._query(
            "UPDATE calls SET cost_usd = ?, cost_source = ?, "
            "upstream = COALESCE(?, upstream) WHERE id = ?",
            (cost, source, upstream, call_id),
        )

    def set_costs(self, costs: list[tuple[int, float, str, str | None]]) -> None:
        """Fill in many calls' (id, cost, source, upstream) in one transaction."""
        self.forget_cached()
        try:
            with self._lock:
                self.conn.execute("BEGIN IMMEDIATE")
                try:
                    self.conn.executemany(
                        "UPDATE calls SET cost_usd = ?, cost_source = ?, "
                        "upstream = COALESCE(?, upstream) WHERE id = ? AND cost_source IS NULL",
                        [(cost, source, upstream, i) for i, cost, source, upstream in costs],
                    )
                    self.conn.execute("COMMIT")
                except BaseException:
                    self.conn.execute("ROLLBACK")
                    raise
        except sqlite3.Error as exc:
            raise _describe(exc, self.path) from None

    def note_enrich_attempt(self, call_ids: list[int]) -> None:
        """Count one more failed attempt to price these calls."""
        with self._lock:
            self.conn.executemany(
                "UPDATE calls SET enrich_attempts = enrich_attempts + 1 WHERE id = ?",
                [(i,) for i in call_ids],
            )

    def last_rate_limit(self, window: Window) -> CallRow | None:
        """The most recent 429 in the window."""
        # Both bounds: SQLite sorts text and blobs after every number, so a start time
        # stored as text would pass a lower bound alone (and sort first).
        rows = self._rows(
            "WHERE started_at >= ? AND started_at <= ? AND http_status = 429 "
            "ORDER BY started_at DESC LIMIT 1",
            (window.start, window.end),
        )
        return rows[0] if rows else None

    def attempts_of(self, call_key: str, limit: int = 50) -> list[CallRow]:
        """Every attempt of one logical call, in order."""
        return self._rows(
            "WHERE call_key = ? ORDER BY COALESCE(attempt, 1), id LIMIT ?", (call_key, limit)
        )

    # -- rows --------------------------------------------------------------------------

    def _scan(self, where: str, params: Iterable[Any]) -> tuple[list[CallRow], int | None]:
        """Checked rows, and the id of the last row read (skipped ones included)."""
        cols = ", ".join(CallRow.COLUMNS)
        rows: list[CallRow] = []
        last: int | None = None
        with self._lock:
            for values in self._query(f"SELECT {cols} FROM calls {where}", params):
                last = values[0]
                row, changed = CallRow.from_db(values)
                if row is None:
                    self.skipped_rows += 1
                else:
                    self.repaired_rows += changed
                    rows.append(row)
        return rows, last

    def _rows(self, where: str, params: Iterable[Any]) -> list[CallRow]:
        return self._scan(where, params)[0]

    def max_id(self) -> int:
        """The id of the newest row, 0 for an empty log."""
        return int(self._query("SELECT COALESCE(MAX(id), 0) FROM calls")[0][0])

    def tail(self, after_id: int, limit: int = 500) -> tuple[list[CallRow], int]:
        """Rows newer than ``after_id``, oldest first (the live tail reads only these), and
        the id to continue after: past skipped rows too, so they are not read again."""
        rows, last = self._scan("WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit))
        return rows, after_id if last is None else last

    def rows_after(self, after_id: int, limit: int = 500) -> list[CallRow]:
        """Rows newer than ``after_id``, oldest first."""
        return self.tail(after_id, limit)[0]

    def impossible_rows(self) -> int:
        """Rows whose start time cannot be unix seconds (text, a blob, inf, negative,
        milliseconds): every reader skips them. Cheap: two ranges of the time index."""
        return int(
            self._query(
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
        rows = self._query(
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
            rows, seen = self._scan(
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
        rows = self._query(
            f"SELECT DISTINCT {column} FROM calls_hourly "
            f"WHERE typeof({column}) = 'text' AND {column} <> '' "
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

    def snapshot_at(self, t: float, *, before: bool) -> AccountSnapshot | None:
        """The last account poll with a usage figure at or before ``t`` (``before``), or
        the first one at or after it."""
        op, order = ("<=", "DESC") if before else (">=", "ASC")
        rows = self._query(
            "SELECT taken_at, label, usage, usage_daily, usage_weekly, usage_monthly, "
            "limit_usd, limit_remaining, limit_reset, credits_total, credits_used, "
            f"is_free_tier FROM account_snapshots WHERE taken_at {op} ? AND usage IS NOT NULL "
            f"ORDER BY taken_at {order} LIMIT 1",
            (t,),
        )
        return AccountSnapshot.from_row(rows[0]) if rows else None

    def last_write(self) -> float | None:
        """When the newest call row started (the recorder's last sign of life)."""
        row = self._query(
            "SELECT MAX(started_at) FROM calls WHERE started_at >= 0 AND started_at < ?",
            (MAX_SANE_TIME,),
        )
        return sane_time(row[0][0])

    def dropped_rows(self) -> int:
        """Rows the recorder had to drop (and reported later)."""
        row = self._query("SELECT value FROM recorder_state WHERE key = 'dropped'")
        return (sane_count(row[0][0]) or 0) if row else 0
