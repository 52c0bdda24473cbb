"""The call-log schema: the one definition shared by the recorder plugin and the dashboard.

Standard library only: this module is copied next to the recorder plugin inside
``$HERMES_HOME/plugins/`` and runs inside the agent's own Python, where hermes-dash
itself is usually not installed.

Aggregates are kept in hourly and daily rollup tables maintained by triggers (see
:mod:`.rollups`), so every writer (the plugin, the demo, the enrichment that fills in
costs) keeps them exact without knowing about them, and dashboard queries never scan the
whole ``calls`` table.
"""

from __future__ import annotations

import math
import os
import sqlite3
from collections.abc import Mapping
from typing import Any

from .rollups import (
    CALLS_ROLLUP,
    CALLS_TABLES,
    LATENCY_ROLLUP,
    LATENCY_TABLES,
    TRIGGER_NAMES,
    TTFT_TABLES,
    rebuild_rollups_sql,
    trigger_sql,
)

SCHEMA_VERSION = 2

#: Latency histogram: bucket ``b`` holds latencies in ``[BASE**b, BASE**(b+1))`` ms.
#: A ratio of 1.1 keeps interpolated percentiles within about 5 % of the exact value.
LATENCY_BUCKET_BASE = 1.1
MAX_LATENCY_BUCKET = 200

#: Columns of ``calls`` that a writer may fill, in insert order.
CALL_COLUMNS: tuple[str, ...] = (
    "started_at",
    "ended_at",
    "session_id",
    "task_id",
    "request_id",
    "platform",
    "provider",
    "base_url_host",
    "model",
    "response_model",
    "upstream",
    "generation_id",
    "status",
    "http_status",
    "error_reason",
    "retry_count",
    "latency_s",
    "latency_bucket",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost_usd",
    "cost_source",
    "finish_reason",
    # v2: the wire-level recorder (one row per HTTP attempt).
    "call_key",
    "attempt",
    "source",
    "task",
    "api",
    "endpoint",
    "stream",
    "ttft_s",
    "ttft_bucket",
    "wait_s",
    "retry_after_s",
    "ratelimit_limit",
    "ratelimit_remaining",
    "ratelimit_reset",
    "error_code",
    "error_provider",
    "limit_source",
    "upstream_cost_usd",
)

#: Columns v2 adds to ``calls``, with their SQL types and what they hold.
V2_COLUMNS: tuple[tuple[str, str], ...] = (
    ("call_key", "TEXT"),  # links the attempts of one logical call (retries share it)
    ("attempt", "INTEGER"),  # 1-based attempt number within the call; NULL counts as 1
    ("source", "TEXT"),  # 'wire' (seen on the HTTP layer), 'hook' (Hermes' hooks only)
    ("task", "TEXT"),  # main, subagent, or the auxiliary task (title, compression, ...)
    ("api", "TEXT"),  # chat, responses, messages, completions, or the path's last part
    ("endpoint", "TEXT"),  # host[:port] the request went to; groups provider rows
    ("stream", "INTEGER"),  # 1 for a streamed response
    ("ttft_s", "REAL"),  # time to the first token (streams) or first byte, seconds
    ("ttft_bucket", "INTEGER"),  # latency_bucket(ttft_s) for the TTFT rollups
    ("wait_s", "REAL"),  # time since the previous attempt of the call ended (backoff)
    ("retry_after_s", "REAL"),  # the server's Retry-After, seconds
    ("ratelimit_limit", "INTEGER"),  # X-RateLimit-Limit
    ("ratelimit_remaining", "INTEGER"),  # X-RateLimit-Remaining
    ("ratelimit_reset", "REAL"),  # X-RateLimit-Reset as unix seconds
    ("error_code", "TEXT"),  # OpenRouter error.code (or the API's error type)
    ("error_provider", "TEXT"),  # error.metadata.provider_name: an upstream's own error
    ("limit_source", "TEXT"),  # a 402's error.metadata.limit_source
    ("upstream_cost_usd", "REAL"),  # usage.cost_details.upstream_inference_cost (BYOK)
)

_CALLS_TABLE = """
CREATE TABLE IF NOT EXISTS calls (
    id INTEGER PRIMARY KEY,
    started_at REAL NOT NULL,          -- unix seconds, UTC
    ended_at REAL,
    session_id TEXT,
    task_id TEXT,
    request_id TEXT,
    platform TEXT,
    provider TEXT NOT NULL DEFAULT '', -- Hermes' provider name: openrouter, custom, ...
    base_url_host TEXT,
    model TEXT NOT NULL DEFAULT '',
    response_model TEXT,
    upstream TEXT,                     -- OpenRouter upstream provider, when known
    generation_id TEXT,
    status TEXT NOT NULL,              -- 'ok' or 'error'
    http_status INTEGER,
    error_reason TEXT,
    retry_count INTEGER,
    latency_s REAL,
    latency_bucket INTEGER,            -- see latency_bucket(); NULL for failed calls
    input_tokens INTEGER,
    output_tokens INTEGER,
    cache_read_tokens INTEGER,
    cache_write_tokens INTEGER,
    reasoning_tokens INTEGER,
    cost_usd REAL,
    cost_source TEXT,                  -- openrouter, estimate, none (unbilled), NULL (unknown)
    finish_reason TEXT,
    enrich_attempts INTEGER NOT NULL DEFAULT 0
)
"""

_V1 = [
    _CALLS_TABLE,
    "CREATE INDEX IF NOT EXISTS calls_started ON calls (started_at)",
    "CREATE INDEX IF NOT EXISTS calls_session ON calls (session_id)",
    # Enrichment looks for calls whose cost is not known yet; keep that set indexed.
    "CREATE INDEX IF NOT EXISTS calls_unpriced ON calls (id) WHERE cost_source IS NULL",
    # ...and by generation id, for the demo's stand-in of OpenRouter's /generation.
    "CREATE INDEX IF NOT EXISTS calls_unpriced_generation ON calls (generation_id) "
    "WHERE cost_source IS NULL",
    """CREATE TABLE IF NOT EXISTS account_snapshots (
        id INTEGER PRIMARY KEY,
        taken_at REAL NOT NULL,
        label TEXT,
        usage REAL, usage_daily REAL, usage_weekly REAL, usage_monthly REAL,
        limit_usd REAL, limit_remaining REAL, limit_reset TEXT,
        credits_total REAL, credits_used REAL, is_free_tier INTEGER
    )""",
    "CREATE INDEX IF NOT EXISTS snapshots_taken ON account_snapshots (taken_at)",
    """CREATE TABLE IF NOT EXISTS recorder_state (
        key TEXT PRIMARY KEY,
        value REAL
    )""",
]

#: v2: the wire-level recorder. New columns; rollups keyed by endpoint too, with logical
#: calls, unpriced calls and time-to-first-token histograms; rebuilt from the rows.
#: Rows written by the hook-only recorder (v1) kept Hermes' ``input_tokens``, which
#: excludes cache reads: they get the prompt's full token count, as the wire reports it.
_V2 = [
    *[f"ALTER TABLE calls ADD COLUMN {name} {kind}" for name, kind in V2_COLUMNS],
    # Their estimates took the cache reads off a count that had none: priced ~6x low.
    # Unknown again (before the tokens change below), they are priced anew on the full prompt.
    "UPDATE calls SET cost_usd = NULL, cost_source = NULL WHERE source IS NULL "
    "AND cost_source = 'estimate' AND COALESCE(cache_read_tokens, 0) > 0",
    "UPDATE calls SET source = 'hook', endpoint = base_url_host, "
    "input_tokens = input_tokens + COALESCE(cache_read_tokens, 0) WHERE source IS NULL",
    "CREATE INDEX IF NOT EXISTS calls_call_key ON calls (call_key) WHERE call_key IS NOT NULL",
    *[f"DROP TRIGGER IF EXISTS {name}" for name in TRIGGER_NAMES],
    *[f"DROP TABLE IF EXISTS {t}" for t, _, _ in CALLS_TABLES + LATENCY_TABLES],
    *[CALLS_ROLLUP.format(table=t, period=p) for t, p, _ in CALLS_TABLES],
    *[LATENCY_ROLLUP.format(table=t, period=p) for t, p, _ in LATENCY_TABLES + TTFT_TABLES],
    *rebuild_rollups_sql(),
    *trigger_sql(),
]

#: Forward migrations: version -> statements that bring version-1 to version.
MIGRATIONS: dict[int, list[str]] = {1: _V1, 2: _V2}


def schema_version(conn: sqlite3.Connection) -> int:
    """The version recorded in the file, 0 for an empty file."""
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the file up to SCHEMA_VERSION; safe to run from several processes at once."""
    current = schema_version(conn)
    if current > SCHEMA_VERSION:
        raise sqlite3.DatabaseError(
            f"call log schema v{current} is newer than this program (v{SCHEMA_VERSION})"
        )
    if current == SCHEMA_VERSION:
        return current
    conn.execute("BEGIN IMMEDIATE")
    try:
        current = schema_version(conn)  # another process may have migrated meanwhile
        for version in range(current + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[version]:
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return SCHEMA_VERSION


def connect(
    path: str,
    *,
    timeout: float = 5.0,
    readonly: bool = False,
    shared: bool = False,
    immutable: bool = False,
) -> sqlite3.Connection:
    """Open the call log in WAL mode; a new file is created with mode 0600.

    ``shared`` lets several threads use the connection (the caller serialises them).
    ``immutable`` (read-only only) reads the file as it stands, without the WAL index
    beside it: for a log in a folder nobody can write to.
    """
    if readonly:
        conn = sqlite3.connect(
            f"file:{path}?mode=ro" + ("&immutable=1" if immutable else ""),
            uri=True,
            timeout=timeout,
            isolation_level=None,
            check_same_thread=not shared,
        )
    else:
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, mode=0o700, exist_ok=True)
        if not os.path.exists(path):
            # Create it ourselves so the mode is 0600 from the first byte on.
            fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
        conn = sqlite3.connect(
            path, timeout=timeout, isolation_level=None, check_same_thread=not shared
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
    return conn


def latency_bucket(seconds: float | None) -> int | None:
    """The histogram bucket of a latency in seconds (None stays None)."""
    if seconds is None or seconds != seconds or seconds < 0:
        return None
    ms = seconds * 1000.0
    if ms < 1.0:
        return 0
    return min(MAX_LATENCY_BUCKET, int(math.log(ms) / math.log(LATENCY_BUCKET_BASE)))


def bucket_bounds(bucket: int) -> tuple[float, float]:
    """The latency range in seconds that a bucket covers."""
    if bucket <= 0:
        return 0.0, LATENCY_BUCKET_BASE / 1000.0
    return (
        LATENCY_BUCKET_BASE**bucket / 1000.0,
        LATENCY_BUCKET_BASE ** (bucket + 1) / 1000.0,
    )


def row_values(row: Mapping[str, Any]) -> tuple[Any, ...]:
    """A row dict as a tuple in CALL_COLUMNS order, filling in the latency bucket."""
    values = dict(row)
    if "latency_bucket" not in values and values.get("status") == "ok":
        values["latency_bucket"] = latency_bucket(values.get("latency_s"))
    if "ttft_bucket" not in values and values.get("status") == "ok":
        values["ttft_bucket"] = latency_bucket(values.get("ttft_s"))
    return tuple(values.get(c) for c in CALL_COLUMNS)


INSERT_CALL_SQL = (
    f"INSERT INTO calls ({', '.join(CALL_COLUMNS)}) VALUES ({', '.join('?' for _ in CALL_COLUMNS)})"
)


def insert_calls(conn: sqlite3.Connection, rows: list[Mapping[str, Any]]) -> None:
    """Insert rows in one short transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(INSERT_CALL_SQL, [row_values(r) for r in rows])
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
