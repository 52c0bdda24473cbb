"""Sane values only: what the recorder stores is cleaned here, whatever a server or a hook sent.

Standard library only (this module travels with the plugin). Strings lose control
characters and are cut to a bound; numbers must be finite and non-negative; times must be
plausible unix seconds (milliseconds are converted, nonsense is replaced by "now").
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from typing import Any

#: Longest text kept in any column (model names, ids, error codes...).
MAX_TEXT = 200
#: Counts above this are not token counts: dropped rather than stored.
MAX_COUNT = 10**12
#: Dollar figures above this for one request are not real: dropped.
MAX_USD = 1e6
#: Earliest plausible call time (2020-01-01) and how far ahead of the clock a time may be.
MIN_TIME = 1_577_836_800.0
MAX_AHEAD_S = 86_400.0

# Whole terminal escape sequences first (CSI, OSC up to its terminator, two-byte ESC),
# so no "[31m" is left behind; then any C0/C1 control character, DEL, and the bidi
# overrides that reorder a terminal line.
_ESCAPES = re.compile(
    "\x1b\\[[0-?]*[ -/]*[@-~]|\x1b\\][^\x07\x1b]*(?:\x07|\x1b\\\\)?|\x1b[@-Z\\\\-_]"
)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

#: Text columns of a calls row.
TEXT_COLUMNS = frozenset(
    {
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
        "error_reason",
        "cost_source",
        "finish_reason",
        "call_key",
        "source",
        "task",
        "api",
        "endpoint",
        "error_code",
        "error_provider",
        "limit_source",
    }
)
INT_COLUMNS = frozenset(
    {
        "http_status",
        "retry_count",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "reasoning_tokens",
        "attempt",
        "stream",
        "ratelimit_limit",
        "ratelimit_remaining",
    }
)
FLOAT_COLUMNS = frozenset(
    {
        "latency_s",
        "ttft_s",
        "wait_s",
        "retry_after_s",
        "cost_usd",
        "upstream_cost_usd",
    }
)
#: Columns that must not be NULL.
NOT_NULL_TEXT = ("provider", "model", "status")


def text(value: Any, limit: int = MAX_TEXT) -> str | None:
    """A printable, bounded string, or None for anything else (or nothing left)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # error codes arrive as numbers too
        else:
            return None
    cleaned = _CONTROL.sub("", _ESCAPES.sub("", value[: limit * 4])).strip()[:limit]
    return cleaned or None


def endpoint(host: str | None, port: int | None) -> str | None:
    """host[:port] as a URL writes it: an IPv6 literal in brackets (``[::1]:8000``), so
    that it reads back as one address and one port, and matches the user's settings."""
    if not host:
        return None
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{port}" if port else host


def number(value: Any, limit: float = float(MAX_COUNT)) -> float | None:
    """A finite float in ``[0, limit]``, or None (bools, text, NaN, infinities, negatives)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        out = float(value)
    except OverflowError:
        return None
    if not math.isfinite(out) or out < 0 or out > limit:
        return None
    return out


def count(value: Any) -> int | None:
    """A non-negative integer count, or None."""
    out = number(value)
    return None if out is None else int(out)


def unix_time(value: Any, now: float | None = None) -> float | None:
    """Plausible unix seconds: milliseconds (and microseconds) are scaled down; None if not."""
    t = number(value, limit=1e18)
    if t is None:
        return None
    now = time.time() if now is None else now
    for _ in range(3):
        if t <= now + MAX_AHEAD_S:
            break
        t /= 1000.0
    if MIN_TIME <= t <= now + MAX_AHEAD_S:
        return t
    return None


def clean_row(row: Mapping[str, Any], now: float | None = None) -> dict[str, Any]:
    """A calls row with every value checked; ``started_at`` always set to a sane time."""
    now = time.time() if now is None else now
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key in TEXT_COLUMNS:
            out[key] = text(value)
        elif key in INT_COLUMNS:
            out[key] = count(value)
        elif key in FLOAT_COLUMNS:
            out[key] = number(value, MAX_USD if key.endswith("_usd") else 1e9)
        elif key in ("started_at", "ended_at", "ratelimit_reset"):
            out[key] = unix_time(value, now)
        else:
            out[key] = value
    started = out.get("started_at")
    if started is None:
        ended = out.get("ended_at")
        started = ended - (out.get("latency_s") or 0.0) if ended is not None else now
        out["started_at"] = max(started, MIN_TIME)
    if out.get("cost_usd") is None and out.get("cost_source") in ("openrouter", "estimate"):
        # A billed cost that was no sane number (NaN, negative, text) is not a known cost:
        # left with its source it would read as a known $0 and never be priced.
        out["cost_source"] = None
    for key in NOT_NULL_TEXT:
        if out.get(key) is None:
            out[key] = "error" if key == "status" else ""
    if out["status"] not in ("ok", "error"):
        out["status"] = "error"
    return out
