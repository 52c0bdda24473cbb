"""The open call-log file: one SQLite connection shared by the store's parts.

The store (writes, row reads) and its window queries (aggregates) both hold this object;
it opens and migrates the file, notices when the file was replaced, serialises the
threads that use it, and turns SQLite's errors into one-line :class:`CallLogError`.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hermes_dash.calllog.recorder import schema
from hermes_dash.calllog.records import CallRow

#: The rows a partial index keeps apart: payment refusals and rate limits.
LIMITED_WHERE = "http_status IN (402, 429)"

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


def describe(exc: sqlite3.Error, path: Path) -> CallLogError:
    """One line saying what went wrong with the file, for the user."""
    text = str(exc)
    if "locked" in text or "busy" in text:
        return CallLogError(f"call log {path} is locked by another process; try again")
    if "not a database" in text or "malformed" in text:
        return CallLogError(f"call log {path} is not a valid SQLite database (corrupt?)")
    if "unable to open" in text or "readonly" in text:
        return CallLogError(f"call log {path} cannot be opened: {text}")
    return CallLogError(f"call log {path}: {text}")


def _refuse_non_regular(path: Path) -> None:
    """A call log must be a regular file: SQLite opening a FIFO read-only waits for a
    writer forever, and a directory only reads as a vague "disk I/O error"."""
    try:
        mode = os.stat(path).st_mode  # through a symlink: what SQLite would open
    except OSError:
        return  # missing (created, or refused, by the open that follows)
    if not stat.S_ISREG(mode):
        kind = "a directory" if stat.S_ISDIR(mode) else "a FIFO, socket or device"
        raise CallLogError(f"call log {path} is {kind}, not a regular file")


def _lenient_text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


class CallLogConnection:
    """The connection to one call-log file, migrated on open when writable."""

    def __init__(self, path: str | Path, *, readonly: bool = False, timeout: float = 5.0):
        self.path = Path(path)
        self.readonly = readonly
        self._timeout = timeout
        # The dashboard reads from worker threads; one connection, one statement at a time.
        self.lock = threading.RLock()
        #: Rows read since opening whose id or start time is impossible (skipped), and rows
        #: whose other impossible values were read as unknown: ``export`` reports both.
        self.skipped_rows = 0
        self.repaired_rows = 0
        self._opened = self._identity()
        self.conn = self._connect()
        if self._opened is None:
            # The open made the file: it is the one open, not a replacement of it.
            self._opened = self._identity()

    def _identity(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_dev, st.st_ino

    def _connect(self) -> sqlite3.Connection:
        try:
            if self.readonly and not self.path.exists():
                raise CallLogError(f"call log {self.path} does not exist")
            _refuse_non_regular(self.path)
            conn = schema.connect(
                str(self.path), timeout=self._timeout, readonly=self.readonly, shared=True
            )
            if self.readonly:
                return self._readable(conn)
            try:
                schema.migrate(conn)
                for statement in READER_INDEXES:
                    conn.execute(statement)
            except BaseException:
                conn.close()
                raise
            return conn
        except sqlite3.Error as exc:
            raise describe(exc, self.path) from None

    def _readable(self, conn: sqlite3.Connection) -> sqlite3.Connection:
        try:
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            return conn
        except sqlite3.OperationalError as exc:
            text = str(exc)
            if "readonly" not in text and "unable to open" not in text:
                conn.close()
                raise
        # A log in a folder we cannot write to (a read-only mount, someone else's copy):
        # SQLite cannot make the WAL index beside it, so read the file as it stands,
        # which is all anyone can do there.
        conn.close()
        conn = schema.connect(
            str(self.path), timeout=self._timeout, readonly=True, shared=True, immutable=True
        )
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        return conn

    def reopen_if_replaced(self) -> bool:
        """Reopen the log when the file at its path is no longer the one open (it was
        deleted and the recorder made a new one): an open connection would go on reading
        the deleted file forever. Returns whether it reopened; a log that is gone and not
        made anew yet keeps the old connection."""
        identity = self._identity()
        if identity is None or identity == self._opened:
            return False
        with self.lock:
            fresh = self._connect()
            old, self.conn = self.conn, fresh
            self._opened = identity
        old.close()
        return True

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    @contextmanager
    def patience(self, seconds: float) -> Iterator[None]:
        """Wait at most ``seconds`` for another process's lock inside the block (instead
        of the store's timeout): for reads that must not hold anything up."""
        with self.lock:
            self.conn.execute(f"PRAGMA busy_timeout = {int(seconds * 1000)}")
            try:
                yield
            finally:
                self.conn.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000)}")

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Every read inside the block sees the file as it was at the first one (one read
        transaction), so an answer and the newest id it covers always agree."""
        with self.lock:
            try:
                self.conn.execute("BEGIN")
            except sqlite3.Error as exc:
                raise describe(exc, self.path) from None
            try:
                yield
            finally:
                self.conn.execute("COMMIT")

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        """All rows of one read-only statement."""
        try:
            with self.lock:
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
            raise describe(exc, self.path) from None

    def scan(self, where: str, params: Iterable[Any]) -> tuple[list[CallRow], int | None]:
        """Checked call rows, and the id of the last row read (skipped ones included)."""
        cols = ", ".join(CallRow.COLUMNS)
        rows: list[CallRow] = []
        last: int | None = None
        with self.lock:
            for values in self.query(f"SELECT {cols} FROM calls {where}", params):
                last = values[0]
                row, changed = CallRow.from_db(values)
                if row is None:
                    self.skipped_rows += 1
                else:
                    self.repaired_rows += changed
                    rows.append(row)
        return rows, last

    def rows(self, where: str, params: Iterable[Any]) -> list[CallRow]:
        """Checked call rows (impossible ones skipped and counted)."""
        return self.scan(where, params)[0]

    def max_id(self) -> int:
        """The id of the newest row, 0 for an empty log."""
        return int(self.query("SELECT COALESCE(MAX(id), 0) FROM calls")[0][0])
