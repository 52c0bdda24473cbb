"""Values read back from the call log, checked: another program may have written text, blobs,
inf, NaN, negative or impossible numbers into any column, and each is read as unknown (or
as text) rather than trusted. Every reader of the call log goes through these checks.
"""

from __future__ import annotations

import math

#: A call's ``started_at`` must be unix seconds in [0, this): 1e10 is the year 2286, so a
#: time in milliseconds (1.7e12), inf, -1e18, text or a blob is outside.
MAX_SANE_TIME = 1e10
#: Counts (tokens, retries) above this are impossible rather than large.
MAX_SANE_COUNT = 1e15
#: Amounts (seconds, USD) above this are impossible rather than large: a call lasting
#: 115 days or costing $10M; kept, they would swamp every percentile, sum and figure.
MAX_SANE_AMOUNT = 1e7
#: Tokens of one attempt above this are impossible: the largest context windows hold ~1e7,
#: and one row of 1e14 would price a week's what-if at billions.
MAX_SANE_TOKENS = 1e9


def finite(value: object) -> float | None:
    """A finite float from a stored value; None for NULL, text, blobs, inf and NaN."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def sane_time(value: object) -> float | None:
    """A call's start time as unix seconds, or None when it cannot be one."""
    t = finite(value)
    return t if t is not None and 0 <= t < MAX_SANE_TIME else None


def sane_count(value: object, low: float = 0, high: float = MAX_SANE_COUNT) -> int | None:
    """A whole number in [low, high], or None (a float must be integral)."""
    f = finite(value)
    if f is None or not low <= f <= high or f != int(f):
        return None
    return int(f)


def sane_amount(value: object) -> float | None:
    """A non-negative finite amount (seconds, USD) up to :data:`MAX_SANE_AMOUNT`, or None."""
    f = finite(value)
    return f if f is not None and 0 <= f <= MAX_SANE_AMOUNT else None


def text_or_none(value: object) -> str | None:
    """Stored text; None for NULL and for numbers or blobs in a text column."""
    return value if isinstance(value, str) else None


def key_text(value: object) -> str:
    """A grouping key (provider, upstream, model) as text, whatever was stored."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)
