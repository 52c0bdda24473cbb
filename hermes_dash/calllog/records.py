"""Typed records the call log hands out: windows, totals, group stats, rows, snapshots."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from hermes_dash.calllog.recorder.schema import V2_COLUMNS, bucket_bounds
from hermes_dash.calllog.sane import (
    MAX_SANE_AMOUNT,
    MAX_SANE_COUNT,
    MAX_SANE_TOKENS,
    finite,
    sane_amount,
    sane_count,
    sane_time,
    text_or_none,
)

WINDOWS: dict[str, float] = {"1h": 3600.0, "24h": 86400.0, "7d": 7 * 86400.0, "30d": 30 * 86400.0}


@dataclass(frozen=True)
class Window:
    """A half-open time range ``[start, end)`` in unix seconds."""

    start: float
    end: float
    name: str = ""

    @classmethod
    def named(cls, name: str, now: float) -> Window:
        """The window called '1h', '24h', '7d' or '30d' that ends just after ``now``."""
        if name not in WINDOWS:
            raise ValueError(f"unknown window {name!r}: use one of {', '.join(WINDOWS)}")
        # The end is a hair after now so a call recorded at `now` is inside.
        return cls(now - WINDOWS[name], now + 0.001, name)

    @property
    def hours(self) -> float:
        """The window's length in hours."""
        return (self.end - self.start) / 3600.0


def percentile(hist: dict[int, int], q: float) -> float | None:
    """The q-quantile (0..1) of a latency histogram, interpolated in the bucket."""
    total = sum(hist.values())
    if total <= 0:
        return None
    target = q * total
    seen = 0.0
    for bucket in sorted(hist):
        n = hist[bucket]
        if n <= 0:
            continue
        if seen + n >= target:
            lo, hi = bucket_bounds(bucket)
            frac = (target - seen) / n
            return lo + (hi - lo) * frac
        seen += n
    return bucket_bounds(max(hist))[1]


@dataclass(frozen=True)
class CallTotals:
    """Every call in a window, added up.

    ``calls`` counts logical calls (a call and its retries once), ``attempts`` the HTTP
    requests on the wire; ``ok``, ``errors`` and ``rate_limited`` count attempts.
    ``cost_usd`` adds up the known costs only; ``unpriced`` attempts have none yet.
    """

    calls: int
    ok: int
    errors: int
    rate_limited: int
    cost_usd: float
    cost_estimated_usd: float
    input_tokens: int
    output_tokens: int
    attempts: int = 0
    unpriced: int = 0

    @classmethod
    def from_measures(cls, m: dict[str, float]) -> CallTotals:
        """Build from the rollup measure sums."""
        return cls(
            calls=int(m["logical_calls"]),
            attempts=int(m["calls"]),
            unpriced=int(m["unpriced"]),
            ok=int(m["ok"]),
            errors=int(m["errors"]),
            rate_limited=int(m["rate_limited"]),
            cost_usd=float(m["cost_usd"]),
            cost_estimated_usd=float(m["cost_estimated_usd"]),
            input_tokens=int(m["input_tokens"]),
            output_tokens=int(m["output_tokens"]),
        )

    @property
    def known_cost_usd(self) -> float | None:
        """The known cost: with unpriced attempts a lower bound (``unpriced`` says how
        many), and None when some are unpriced and nothing billed is known, so unknown
        is never shown as $0."""
        if self.unpriced and self.cost_usd == 0:
            return None
        return self.cost_usd


@dataclass(frozen=True)
class GroupStats:
    """Stats of one provider endpoint (provider, endpoint, upstream) or one model
    (model,) over a window; latency is wire time of successful attempts."""

    key: tuple[str, ...]
    totals: CallTotals
    latency_p50_s: float | None
    latency_p95_s: float | None
    ttft_p50_s: float | None = None
    ttft_p95_s: float | None = None

    @classmethod
    def from_measures(
        cls,
        key: tuple[str, ...],
        m: dict[str, float],
        hist: dict[int, int],
        ttft: dict[int, int] | None = None,
    ) -> GroupStats:
        """Build from measure sums, a latency and a time-to-first-token histogram."""
        ttft = ttft or {}
        return cls(
            key,
            CallTotals.from_measures(m),
            percentile(hist, 0.5),
            percentile(hist, 0.95),
            percentile(ttft, 0.5),
            percentile(ttft, 0.95),
        )

    @property
    def calls(self) -> int:
        """Number of calls."""
        return self.totals.calls


@dataclass(frozen=True)
class LimitEvents:
    """The window's 429s and 402s, by where they came from.

    An upstream's own 429 carries ``error.metadata.provider_name`` (``error_provider``);
    one without it came from the endpoint itself (OpenRouter's own limit, or a local
    server's). A 402 carries ``limit_source``: which of the key limit, the credits or
    the in-flight budget was hit.
    """

    upstream_429: dict[str, int]
    own_429: int
    payment_402: dict[str, int]
    last_402: CallRow | None = None
    last_ok_at: float | None = None

    @property
    def rate_limited(self) -> int:
        """Every 429 attempt."""
        return self.own_429 + sum(self.upstream_429.values())


@dataclass(frozen=True)
class SeriesPoint:
    """One time bucket of a chart."""

    t: float
    cost_usd: float
    rate_limited: int
    calls: int


@dataclass(frozen=True)
class CallRow:
    """One API call as stored."""

    COLUMNS: ClassVar[tuple[str, ...]] = (
        "id",
        "started_at",
        "session_id",
        "platform",
        "provider",
        "base_url_host",
        "model",
        "upstream",
        "generation_id",
        "status",
        "http_status",
        "error_reason",
        "retry_count",
        "latency_s",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "reasoning_tokens",
        "cost_usd",
        "cost_source",
        "finish_reason",
        # v2: the wire-level recorder (its bucket column is for the rollups only).
        *(name for name, _ in V2_COLUMNS if name != "ttft_bucket"),
    )

    id: int
    started_at: float
    session_id: str | None
    platform: str | None
    provider: str
    base_url_host: str | None
    model: str
    upstream: str | None
    generation_id: str | None
    status: str
    http_status: int | None
    error_reason: str | None
    retry_count: int | None
    latency_s: float | None
    input_tokens: int | None
    output_tokens: int | None
    cache_read_tokens: int | None
    cache_write_tokens: int | None
    reasoning_tokens: int | None
    cost_usd: float | None
    cost_source: str | None
    finish_reason: str | None
    call_key: str | None = None
    attempt: int | None = None
    source: str | None = None
    task: str | None = None
    api: str | None = None
    endpoint: str | None = None
    stream: int | None = None
    ttft_s: float | None = None
    wait_s: float | None = None
    retry_after_s: float | None = None
    ratelimit_limit: int | None = None
    ratelimit_remaining: int | None = None
    ratelimit_reset: float | None = None
    error_code: str | None = None
    error_provider: str | None = None
    limit_source: str | None = None
    upstream_cost_usd: float | None = None

    @property
    def host(self) -> str:
        """host[:port] the request went to (v1 rows only know the host)."""
        return self.endpoint or self.base_url_host or ""

    @classmethod
    def from_db(cls, values: tuple[Any, ...]) -> tuple[CallRow | None, bool]:
        """A row as read from SQLite (in COLUMNS order), checked: ``(None, True)`` when
        its id or start time is impossible (the row is skipped), else the row with any
        impossible value (text or a blob in a number column, inf, a negative count)
        read as unknown, and whether anything had to be changed."""
        row_id = sane_count(values[0], 1, 2**63)
        started = sane_time(values[1])
        if row_id is None or started is None:
            return None, True
        rest = values[2:]
        clean = [check(v) for check, v in zip(_CHECKS, rest, strict=True)]
        # One comparison of two lists (in C) instead of one per column in Python: the
        # live table reads every new row through here on each poll.
        changed = row_id != values[0] or started != values[1] or clean != list(rest)
        return cls(row_id, started, *clean), changed

    @property
    def is_rate_limited(self) -> bool:
        """Whether this call got an HTTP 429."""
        return self.http_status == 429

    def as_dict(self) -> dict[str, Any]:
        """The row as a plain dict (for export)."""
        return {c: getattr(self, c) for c in self.COLUMNS}


#: Number columns of a call row and the range their values must be in.
_INT_COLUMNS: dict[str, tuple[float, float]] = {
    "http_status": (100, 599),
    "retry_count": (0, 10_000),
    "input_tokens": (0, MAX_SANE_TOKENS),
    "output_tokens": (0, MAX_SANE_TOKENS),
    "cache_read_tokens": (0, MAX_SANE_TOKENS),
    "cache_write_tokens": (0, MAX_SANE_TOKENS),
    "reasoning_tokens": (0, MAX_SANE_TOKENS),
    "attempt": (1, 10_000),
    "stream": (0, 1),
    "ratelimit_limit": (0, MAX_SANE_COUNT),
    "ratelimit_remaining": (0, MAX_SANE_COUNT),
}
#: Amount columns (seconds, USD): finite and not negative, else unknown.
_AMOUNT_COLUMNS = frozenset(
    ("latency_s", "cost_usd", "ttft_s", "wait_s", "retry_after_s", "upstream_cost_usd")
)


def _int_check(low: float, high: float) -> Callable[[Any], int | None]:
    def check(value: Any) -> int | None:
        # The usual case first: an integer in range, as our writers store it.
        if type(value) is int and low <= value <= high:
            return value
        return sane_count(value, low, high)

    return check


def _amount_check(value: Any) -> float | None:
    if type(value) is float and 0 <= value <= MAX_SANE_AMOUNT:
        return value
    return sane_amount(value)


def _text_check(value: Any) -> str | None:
    return value if type(value) is str else text_or_none(value)


def _name_check(value: Any) -> str:
    return value if type(value) is str else (text_or_none(value) or "")


def _check_for(name: str) -> Callable[[Any], Any]:
    if name in _INT_COLUMNS:
        return _int_check(*_INT_COLUMNS[name])
    if name in _AMOUNT_COLUMNS:
        return _amount_check
    if name == "ratelimit_reset":
        return sane_time
    if name in ("provider", "model", "status"):
        return _name_check
    return _text_check


#: The check of each column after id and started_at, in COLUMNS order (the dataclass's
#: field order, which :meth:`CallRow.from_db` fills by position).
_CHECKS = tuple(_check_for(name) for name in CallRow.COLUMNS[2:])
assert tuple(f.name for f in fields(CallRow)) == CallRow.COLUMNS


@dataclass(frozen=True)
class AccountSnapshot:
    """One poll of OpenRouter's ``/key`` (and ``/credits`` when available)."""

    taken_at: float
    label: str | None = None
    usage: float | None = None
    usage_daily: float | None = None
    usage_weekly: float | None = None
    usage_monthly: float | None = None
    limit: float | None = None
    limit_remaining: float | None = None
    limit_reset: str | None = None
    credits_total: float | None = None
    credits_used: float | None = None
    is_free_tier: bool | None = None
    # Not stored in account_snapshots: only the newest poll's values matter.
    free_requests_used: int | None = None
    free_requests_limit: int | None = None

    STORED: ClassVar[tuple[str, ...]] = (
        "taken_at",
        "label",
        "usage",
        "usage_daily",
        "usage_weekly",
        "usage_monthly",
        "limit",
        "limit_remaining",
        "limit_reset",
        "credits_total",
        "credits_used",
        "is_free_tier",
    )

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> AccountSnapshot:
        """Build from an ``account_snapshots`` row."""
        values: dict[str, Any] = dict(zip(cls.STORED, row, strict=True))
        free = finite(values.pop("is_free_tier"))
        for name, value in values.items():
            # Whatever another program left in the table: only finite numbers and text.
            values[name] = (
                text_or_none(value) if name in ("label", "limit_reset") else finite(value)
            )
        values["taken_at"] = values["taken_at"] or 0.0
        return cls(**values, is_free_tier=None if free is None else bool(free))

    @property
    def balance(self) -> float | None:
        """Credits left, when known."""
        if self.credits_total is None or self.credits_used is None:
            return None
        return self.credits_total - self.credits_used
