"""hermes-dash recorder: a Hermes Agent plugin that logs one row per HTTP attempt Hermes
makes to a model endpoint, from any code path.

Standard library plus the httpx Hermes already loaded. Hermes loads this folder from
``$HERMES_HOME/plugins/`` and calls ``register(ctx)``, which wraps httpx's send (see
``wire``) and registers the hooks that add context (session, platform, task). The wire row
is the truth: a hook writes a row of its own (``source='hook'``) only for a request the
wire did not see (a transport other than httpx, or the wire not installed, as in the demo).

Nothing here waits on SQLite: rows go to one background writer thread (see ``writer``).
Nothing is ever raised into Hermes. No prompt, response text, header or key is stored.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import context, values, wire, writer

PLUGIN_NAME = "hermes-dash-recorder"

_pinned_path: str | None = None
_hook_attempts: OrderedDict[str, int] = OrderedDict()
_hook_lock = threading.Lock()


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


def write_row(row: Mapping[str, Any]) -> None:
    """Queue one calls row for the background writer (cleaned there); never blocks."""
    snapshot = dict(row)
    writer.submit(default_db_path(), lambda: snapshot)


def flush(timeout: float = 5.0) -> bool:
    """Wait until every queued row is written (or dropped and counted); False on timeout."""
    return writer.flush(timeout)


def __getattr__(name: str) -> Any:
    # Rows dropped by this process so far (the writer thread keeps the count).
    if name == "dropped_total":
        return writer.dropped_total
    raise AttributeError(name)


def _host(base_url: Any) -> tuple[str | None, str | None]:
    """(host, host[:port]) of Hermes' base_url."""
    if not isinstance(base_url, str) or not base_url:
        return None, None
    try:
        parts = urlsplit(base_url)
        host = parts.hostname
        return host, values.endpoint(host, parts.port)
    except ValueError:
        return None, None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _identity(kw: Mapping[str, Any]) -> dict[str, Any]:
    """The fields both hooks share (cleaned later, on the writer thread)."""
    host, endpoint = _host(kw.get("base_url"))
    session = values.text(kw.get("session_id"))
    request_id = values.text(kw.get("api_request_id"))
    started = values.unix_time(kw.get("started_at"))
    duration = values.number(kw.get("api_duration"), 1e9)
    ended = values.unix_time(kw.get("ended_at"))
    if started is None and ended is not None:
        started = ended - (duration or 0.0)
    if ended is None and started is not None:
        ended = started + (duration or 0.0)
    provider = values.text(kw.get("provider")) or context.provider_for_host(host)
    return {
        "started_at": started,
        "ended_at": ended,
        "session_id": session,
        "task_id": values.text(kw.get("task_id")),
        "request_id": request_id,
        "platform": values.text(kw.get("platform")),
        "provider": provider,
        "base_url_host": host,
        "endpoint": endpoint,
        "model": values.text(kw.get("model")) or "",
        # Hook latency includes Hermes' retry backoff: it is what the hook measured.
        "latency_s": duration,
        "source": "hook",
        "task": "main",
        "api": "chat" if kw.get("api_mode") == "chat_completions" else None,
        "call_key": f"hook:{session or ''}:{request_id}" if request_id else None,
    }


def _next_attempt(call_key: str | None, retry_count: Any = None) -> int | None:
    """Attempts of one request id, counted from the hooks that fired for it."""
    if call_key is None:
        return None
    with _hook_lock:
        n = _hook_attempts.get(call_key, 0) + 1
        given = values.count(retry_count)
        if given is not None:
            n = max(n, given + 1)
        _hook_attempts[call_key] = n
        _hook_attempts.move_to_end(call_key)
        while len(_hook_attempts) > context.MAX_REMEMBERED:
            _hook_attempts.popitem(last=False)
        return n


def call_row_from_success(kw: Mapping[str, Any]) -> dict[str, Any]:
    """Map ``post_api_request`` keyword arguments to a calls row."""
    row = _identity(kw)
    response = _mapping(kw.get("response"))
    usage = _mapping(kw.get("usage")) or _mapping(response.get("usage"))
    cache_read = values.count(usage.get("cache_read_tokens"))
    # The wire's prompt count includes cache reads; Hermes' input_tokens excludes them.
    prompt = values.count(usage.get("prompt_tokens"))
    if prompt is None:
        base = values.count(usage.get("input_tokens"))
        prompt = None if base is None else base + (cache_read or 0)
    output = values.count(usage.get("output_tokens"))
    if output is None:
        output = values.count(usage.get("completion_tokens"))
    # Newer Hermes versions may pass the upstream provider, a generation id and the cost.
    cost = values.number(usage.get("cost"), values.MAX_USD)
    if cost is None:
        cost = values.number(response.get("cost"), values.MAX_USD)
    row.update(
        status="ok",
        http_status=200,
        attempt=_next_attempt(row["call_key"]),
        response_model=kw.get("response_model") or response.get("model"),
        upstream=kw.get("upstream_provider")
        or response.get("upstream_provider")
        or response.get("provider"),
        generation_id=kw.get("generation_id")
        or response.get("generation_id")
        or response.get("id"),
        finish_reason=kw.get("finish_reason") or response.get("finish_reason"),
        input_tokens=prompt,
        output_tokens=output,
        cache_read_tokens=cache_read,
        cache_write_tokens=usage.get("cache_write_tokens"),
        reasoning_tokens=usage.get("reasoning_tokens"),
        cost_usd=cost,
        cost_source="openrouter" if cost is not None else None,
    )
    return row


def call_row_from_error(kw: Mapping[str, Any]) -> dict[str, Any]:
    """Map ``api_request_error`` keyword arguments to a calls row (no message text)."""
    row = _identity(kw)
    error = _mapping(kw.get("error"))
    status = values.count(kw.get("status_code"))
    reason = kw.get("reason") or error.get("type")
    if status is None and reason == "rate_limit":
        status = 429
    row.update(
        status="error",
        http_status=status,
        error_reason=reason,
        retry_count=kw.get("retry_count"),
        attempt=_next_attempt(row["call_key"], kw.get("retry_count")),
        cost_usd=0.0,
        # A failed request is not billed: its cost is known, so enrichment skips it.
        cost_source="none",
    )
    return row


def on_pre_api_request(**kwargs: Any) -> None:
    """Hook: Hermes is about to send a request (context for the wire rows)."""
    with contextlib.suppress(Exception):
        context.hook_context(kwargs)


def on_post_api_request(**kwargs: Any) -> None:
    """Hook: one successful API call (a row only if the wire did not see it)."""
    with contextlib.suppress(Exception):
        context.hook_done(kwargs)
        if not context.wire_saw(values.text(kwargs.get("api_request_id"))):
            write_row(call_row_from_success(kwargs))


def on_api_request_error(**kwargs: Any) -> None:
    """Hook: one failed API call (a 429 arrives as status_code=429)."""
    with contextlib.suppress(Exception):
        if not context.wire_saw(values.text(kwargs.get("api_request_id"))):
            write_row(call_row_from_error(kwargs))


#: How long the end of a turn may wait for the turn's rows to be written.
TURN_END_FLUSH_S = 0.5


def on_session_end(**kwargs: Any) -> None:
    """Hook: the end of a turn. Its rows are written before Hermes goes on: ``hermes -z``
    leaves with ``os._exit``, which skips every ``atexit`` handler."""
    with contextlib.suppress(Exception):
        writer.flush(TURN_END_FLUSH_S)


class _FlushOnLoggingShutdown(logging.Handler):
    """Writes what is queued when ``logging.shutdown()`` runs: at a normal exit, and in
    Hermes' one-shot exit, which calls it just before ``os._exit``. It handles no record:
    ``logging`` keeps every handler it has seen and closes them all at shutdown."""

    def emit(self, record: logging.LogRecord) -> None:
        pass

    def close(self) -> None:
        with contextlib.suppress(Exception):
            wire.end_open_attempts()
            writer.flush(writer.EXIT_FLUSH_S)
        super().close()


_shutdown_handler: logging.Handler | None = None


def install_wire() -> bool:
    """Observe this process's httpx requests (what ``register`` does); idempotent."""
    global _shutdown_handler
    wire.db_path = default_db_path
    if _shutdown_handler is None:
        _shutdown_handler = _FlushOnLoggingShutdown()
    return wire.install()


def register(ctx: Any) -> None:
    """Entry point Hermes calls when the plugin is enabled."""
    with contextlib.suppress(Exception):
        install_wire()
    ctx.register_hook("pre_api_request", on_pre_api_request)
    ctx.register_hook("post_api_request", on_post_api_request)
    ctx.register_hook("api_request_error", on_api_request_error)
    ctx.register_hook("on_session_end", on_session_end)
