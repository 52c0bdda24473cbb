"""The recorder's only SQLite writer: one background thread fed by a queue.

Hermes threads never touch SQLite: handing a row over is a ``SimpleQueue.put`` (about a
microsecond, never blocking). The writer thread owns its connections (one per call-log
path), writes what is queued in batches of short transactions, and waits out another
process's write lock for up to ``RETRY_BUDGET_S``; a row it still cannot write, or one
that arrives while ``MAX_PENDING`` rows are queued, is dropped and counted, and the count
lands in ``recorder_state`` ('dropped') with the next write that succeeds. At exit the
queue is flushed for at most ``EXIT_FLUSH_S``.

Items are callables returning a row (or None): the wire recorder hands over its finished
observation and the JSON body is decoded here, off the agent's thread.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from . import schema, values

#: How long one write waits inside SQLite for another process's lock before retrying.
BUSY_TIMEOUT_S = 0.25
#: How long rows are kept and retried while the log stays locked, before they are dropped.
RETRY_BUDGET_S = 30.0
#: Rows queued beyond this are dropped (a log locked for minutes must not eat memory).
MAX_PENDING = 100_000
#: Rows written per transaction at most.
BATCH = 500
#: How long the writer gathers rows after the first before writing them.
COALESCE_S = 0.05
#: How long the process may wait at exit for queued rows to be written.
EXIT_FLUSH_S = 2.0

Item = Callable[[], Mapping[str, Any] | None]

_lock = threading.Lock()
_done = threading.Condition(_lock)
_queue: queue.SimpleQueue[tuple[str, Item] | None] = queue.SimpleQueue()
_thread: threading.Thread | None = None
_enqueued = 0
_finished = 0  # written or dropped
_dropped_unreported = 0
dropped_total = 0
#: The last error that made a row drop (for tests and diagnostics; no row content).
last_error: str | None = None


def _count_dropped(n: int, error: BaseException | str | None = None) -> None:
    global _dropped_unreported, dropped_total, last_error
    with _lock:
        _dropped_unreported += n
        dropped_total += n
        if error is not None:
            last_error = error if isinstance(error, str) else type(error).__name__


def submit(path: str, item: Item) -> None:
    """Queue one row (or a callable building it) for ``path``; never blocks, never raises."""
    global _enqueued, _finished
    try:
        with _lock:
            if _enqueued - _finished >= MAX_PENDING:
                full = True
            else:
                full = False
                _enqueued += 1
            _ensure_thread_locked()
        if full:
            _count_dropped(1, "queue full")
            return
        _queue.put((path, item))
    except Exception:
        with contextlib.suppress(Exception):
            _count_dropped(1)


def _ensure_thread_locked() -> None:
    global _thread
    if _thread is None or not _thread.is_alive():
        _thread = threading.Thread(target=_run, name="hermes-dash-recorder", daemon=True)
        _thread.start()


def pending() -> int:
    """Rows queued and not yet written or dropped."""
    with _lock:
        return _enqueued - _finished


def flush(timeout: float = 5.0) -> bool:
    """Wait until every row queued so far is written or dropped; False on timeout."""
    deadline = time.monotonic() + timeout
    _queue.put(None)  # wakes the writer out of its gathering pause
    with _lock:
        target = _enqueued
        while _finished < target:
            left = deadline - time.monotonic()
            if left <= 0 or _thread is None or not _thread.is_alive():
                return _finished >= target
            _done.wait(min(left, 0.1))
    return True


def _mark_finished(n: int) -> None:
    global _finished
    with _lock:
        _finished += n
        _done.notify_all()


class _Connections:
    """The writer thread's own connections, one per path (never shared across threads)."""

    def __init__(self) -> None:
        self._conns: dict[str, sqlite3.Connection] = {}
        self._files: dict[str, tuple[int, int]] = {}

    @staticmethod
    def _identity(path: str) -> tuple[int, int] | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        return st.st_dev, st.st_ino

    def get(self, path: str) -> sqlite3.Connection:
        conn = self._conns.get(path)
        if conn is not None and self._identity(path) != self._files.get(path):
            # The log was deleted or replaced since it was opened (a user starting afresh):
            # rows written through the old connection would land in a removed file.
            self.drop(path)
            conn = None
        if conn is None:
            conn = schema.connect(path, timeout=BUSY_TIMEOUT_S)
            try:
                schema.migrate(conn)
            except BaseException:
                conn.close()
                raise
            self._conns[path] = conn
            identity = self._identity(path)
            if identity is not None:
                self._files[path] = identity
        return conn

    def drop(self, path: str) -> None:
        conn = self._conns.pop(path, None)
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()


def _is_busy(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


def _write_batch(conns: _Connections, path: str, rows: list[tuple[Any, ...]]) -> None:
    """One transaction: the rows plus any drop count not reported yet."""
    global _dropped_unreported
    conn = conns.get(path)
    with _lock:
        unreported = _dropped_unreported
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(schema.INSERT_CALL_SQL, rows)
        if unreported:
            conn.execute(
                "INSERT INTO recorder_state (key, value) VALUES ('dropped', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = value + excluded.value",
                (unreported,),
            )
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(Exception):
            conn.execute("ROLLBACK")
        raise
    if unreported:
        with _lock:
            _dropped_unreported -= unreported


def _build(item: Item) -> tuple[Any, ...] | None:
    try:
        row = item()
        if row is None:
            return None
        return schema.row_values(values.clean_row(row))
    except Exception:
        return None


def _store(conns: _Connections, path: str, rows: list[tuple[Any, ...]]) -> None:
    """Write rows, retrying while the log is locked, within the retry budget."""
    deadline = time.monotonic() + RETRY_BUDGET_S
    delay = 0.01
    while True:
        try:
            _write_batch(conns, path, rows)
            return
        except Exception as exc:
            if not _is_busy(exc) or time.monotonic() + delay > deadline:
                # A broken connection (file deleted, disk full) is reopened next time.
                conns.drop(path)
                _count_dropped(len(rows), exc)
                return
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


def _run() -> None:
    conns = _Connections()
    while True:
        first = _queue.get()
        if first is None:
            _mark_finished(0)
            continue
        batch = [first]
        # Gather what arrives in the next moments into the same transaction: fewer
        # wake-ups of this thread while the agent's threads run Python.
        deadline = time.monotonic() + COALESCE_S
        with contextlib.suppress(queue.Empty):
            while len(batch) < BATCH:
                nxt = _queue.get(timeout=max(0.0, deadline - time.monotonic()))
                if nxt is None:
                    break  # a flush is waiting: write now
                batch.append(nxt)
        by_path: dict[str, list[tuple[Any, ...]]] = {}
        failed = 0
        for path, item in batch:
            row = _build(item)
            if row is None:
                failed += 1
            else:
                by_path.setdefault(path, []).append(row)
        if failed:
            _count_dropped(failed, "bad row")
        for path, rows in by_path.items():
            try:
                _store(conns, path, rows)
            except BaseException as exc:  # never let the writer thread die
                _count_dropped(len(rows), exc)
        _mark_finished(len(batch))


def _reset_after_fork() -> None:
    """A forked child has no writer thread: start afresh (the parent keeps its rows)."""
    global _lock, _done, _queue, _thread, _enqueued, _finished, _dropped_unreported
    _lock = threading.Lock()
    _done = threading.Condition(_lock)
    _queue = queue.SimpleQueue()
    _thread = None
    _enqueued = _finished = _dropped_unreported = 0


def _flush_at_exit() -> None:
    with contextlib.suppress(Exception):
        flush(EXIT_FLUSH_S)


atexit.register(_flush_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
