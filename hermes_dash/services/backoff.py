"""When to poll OpenRouter next: the refresh interval, longer after each failure."""

from __future__ import annotations

import math
from dataclasses import dataclass

from hermes_dash.openrouter import errors
from hermes_dash.openrouter.wire import RETRY_AFTER_MAX_S

#: The refresh intervals ``--refresh`` accepts: OpenRouter asks for gentle polling, and a
#: dashboard that waits more than an hour between polls is not showing anything live.
MIN_REFRESH_S = 5.0
MAX_REFRESH_S = 3600.0
DEFAULT_REFRESH_S = 30.0
#: The longest wait between polls, whatever happened (failures, Retry-After).
MAX_DELAY_S = RETRY_AFTER_MAX_S
#: The schedule's own floor, below the command line's: a NaN or zero that slipped past
#: validation must not turn into a poll every few milliseconds.
MIN_POLL_S = 1.0


def refresh_error(seconds: float) -> str | None:
    """Why ``seconds`` is not a usable refresh interval, or None when it is."""
    if not math.isfinite(seconds) or not MIN_REFRESH_S <= seconds <= MAX_REFRESH_S:
        return (
            f"--refresh takes seconds from {MIN_REFRESH_S:g} to {MAX_REFRESH_S:g} "
            "(OpenRouter asks for gentle polling)"
        )
    return None


def _bounded(seconds: float, low: float, high: float, default: float) -> float:
    if math.isnan(seconds):
        return default
    return min(high, max(low, seconds))


@dataclass
class PollSchedule:
    """Doubles the delay after each failure (capped), honours Retry-After, resets on success.

    Every delay it hands out is finite and between :data:`MIN_POLL_S` and
    :data:`MAX_DELAY_S` (or :data:`MAX_REFRESH_S` for a longer chosen interval), whatever
    interval it was built with and whatever a server said.
    """

    interval_s: float
    failures: int = 0

    def __post_init__(self) -> None:
        self.interval_s = _bounded(self.interval_s, MIN_POLL_S, MAX_REFRESH_S, DEFAULT_REFRESH_S)

    def after_success(self) -> float:
        """Delay before the next poll after a good one."""
        self.failures = 0
        return self.interval_s

    def after_failure(self, exc: errors.OpenRouterError) -> float:
        """Delay before the next poll after a failure."""
        self.failures += 1
        ceiling = max(MAX_DELAY_S, self.interval_s)
        delay = min(ceiling, self.interval_s * 2 ** min(self.failures, 8))
        if isinstance(exc, errors.RateLimited) and exc.retry_after is not None:
            # Never sooner than the server asked, never later than the ceiling.
            delay = max(delay, _bounded(exc.retry_after, 0.0, ceiling, delay))
        if not exc.retryable:
            # A bad key will not fix itself quickly: check again rarely.
            delay = ceiling
        return delay
