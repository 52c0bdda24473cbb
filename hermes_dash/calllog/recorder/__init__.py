"""hermes-dash recorder: a Hermes Agent plugin that logs one row per LLM API call.

Standard library only. Hermes loads this folder from ``$HERMES_HOME/plugins/`` and calls
``register(ctx)``. Every hook returns quickly and never raises: a row that cannot be
written (locked database, full disk) is dropped and counted, the agent carries on.
No prompt, response text, header or key is ever stored.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import schema

PLUGIN_NAME = "hermes-dash-recorder"

#: How long a write may wait for another process's write lock before the row is dropped.
BUSY_TIMEOUT_S = 2.0

_lock = threading.Lock()
_conn: sqlite3.Connection | None = None
_conn_path: str | None = None
_dropped_unreported = 0
dropped_total = 0
_pinned_path: str | None = None


def configure(db_path: str | None) -> None:
    """Pin the call log path (the demo and tests); None goes back to the default."""
    global _pinned_path
    _pinned_path = db_path


def default_db_path() -> str:
    """The pinned path, ``HERMES_DASH_DB``, else ``<HERMES_HOME>/hermes-dash/calls.db``.

    HERMES_HOME is taken from the environment, else from where this plugin lives
    (``<HERMES_HOME>/plugins/hermes-dash-recorder/``).
    """
    explicit = _pinned_path or os.environ.get("HERMES_DASH_DB")
    if explicit:
        return explicit
    home = os.environ.get("HERMES_HOME")
    if not home:
        here = Path(__file__).resolve().parent
        home = str(here.parent.parent) if here.parent.name == "plugins" else "~/.hermes"
    return str(Path(home).expanduser() / "hermes-dash" / "calls.db")


def _connection() -> sqlite3.Connection:
    global _conn, _conn_path
    path = default_db_path()
    if _conn is None or _conn_path != path:
        conn = schema.connect(path, timeout=BUSY_TIMEOUT_S)
        schema.migrate(conn)
        _conn, _conn_path = conn, path
    return _conn


def write_row(row: Mapping[str, Any]) -> bool:
    """Write one call row; on any failure drop it, count it and return False."""
    global _dropped_unreported, dropped_total, _conn
    with _lock:
        try:
            conn = _connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(schema.INSERT_CALL_SQL, schema.row_values(row))
                if _dropped_unreported:
                    conn.execute(
                        "INSERT INTO recorder_state (key, value) VALUES ('dropped', ?) "
                        "ON CONFLICT (key) DO UPDATE SET value = value + excluded.value",
                        (_dropped_unreported,),
                    )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            _dropped_unreported = 0
            return True
        except Exception:
            _dropped_unreported += 1
            dropped_total += 1
            # A broken connection (file deleted, disk error) is reopened next time.
            if _conn is not None:
                with contextlib.suppress(Exception):
                    _conn.close()
            _conn = None
            return False


def _host(base_url: Any) -> str | None:
    if not isinstance(base_url, str) or not base_url:
        return None
    try:
        return urlsplit(base_url).hostname
    except ValueError:
        return None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value == value:
        return int(value)
    return None


def _float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) and value == value:
        return float(value)
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _identity(kw: Mapping[str, Any]) -> dict[str, Any]:
    """The fields both hooks share."""
    started = _float(kw.get("started_at"))
    ended = _float(kw.get("ended_at"))
    duration = _float(kw.get("api_duration"))
    now = time.time()
    if started is None:
        started = (ended or now) - (duration or 0.0)
    return {
        "started_at": started,
        "ended_at": ended if ended is not None else started + (duration or 0.0),
        "session_id": _str(kw.get("session_id")),
        "task_id": _str(kw.get("task_id")),
        "request_id": _str(kw.get("api_request_id")),
        "platform": _str(kw.get("platform")),
        "provider": _str(kw.get("provider")) or "",
        "base_url_host": _host(kw.get("base_url")),
        "model": _str(kw.get("model")) or "",
        "latency_s": duration,
    }


def call_row_from_success(kw: Mapping[str, Any]) -> dict[str, Any]:
    """Map ``post_api_request`` keyword arguments to a calls row."""
    row = _identity(kw)
    response = _mapping(kw.get("response"))
    usage = _mapping(kw.get("usage")) or _mapping(response.get("usage"))
    input_tokens = _int(usage.get("input_tokens"))
    if input_tokens is None:
        input_tokens = _int(usage.get("prompt_tokens"))
    output_tokens = _int(usage.get("output_tokens"))
    if output_tokens is None:
        output_tokens = _int(usage.get("completion_tokens"))
    # Newer Hermes versions pass the upstream provider, a generation id and the cost.
    cost = _float(usage.get("cost"))
    if cost is None:
        cost = _float(response.get("cost"))
    row.update(
        status="ok",
        http_status=200,
        response_model=_str(kw.get("response_model")) or _str(response.get("model")),
        upstream=_str(kw.get("upstream_provider"))
        or _str(response.get("upstream_provider"))
        or _str(response.get("provider")),
        generation_id=_str(kw.get("generation_id"))
        or _str(response.get("generation_id"))
        or _str(response.get("id")),
        finish_reason=_str(kw.get("finish_reason")) or _str(response.get("finish_reason")),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=_int(usage.get("cache_read_tokens")),
        cache_write_tokens=_int(usage.get("cache_write_tokens")),
        reasoning_tokens=_int(usage.get("reasoning_tokens")),
        cost_usd=cost,
        cost_source="openrouter" if cost is not None else None,
    )
    return row


def call_row_from_error(kw: Mapping[str, Any]) -> dict[str, Any]:
    """Map ``api_request_error`` keyword arguments to a calls row (no message text)."""
    row = _identity(kw)
    error = _mapping(kw.get("error"))
    status = _int(kw.get("status_code"))
    reason = _str(kw.get("reason")) or _str(error.get("type"))
    if status is None and reason == "rate_limit":
        status = 429
    row.update(
        status="error",
        http_status=status,
        error_reason=reason,
        retry_count=_int(kw.get("retry_count")),
        cost_usd=0.0,
        # A failed request is not billed: its cost is known, so enrichment skips it.
        cost_source="none",
    )
    return row


def on_post_api_request(**kwargs: Any) -> None:
    """Hook: one successful API call."""
    with contextlib.suppress(Exception):
        write_row(call_row_from_success(kwargs))


def on_api_request_error(**kwargs: Any) -> None:
    """Hook: one failed API call (a 429 arrives as status_code=429)."""
    with contextlib.suppress(Exception):
        write_row(call_row_from_error(kwargs))


def register(ctx: Any) -> None:
    """Entry point Hermes calls when the plugin is enabled."""
    ctx.register_hook("post_api_request", on_post_api_request)
    ctx.register_hook("api_request_error", on_api_request_error)
