"""When to poll OpenRouter next: the refresh interval, longer after each failure."""

from __future__ import annotations

from dataclasses import dataclass

from hermes_dash.openrouter import errors

MAX_DELAY_S = 600.0


@dataclass
class PollSchedule:
    """Doubles the delay after each failure (capped), honours Retry-After, resets on success."""

    interval_s: float
    failures: int = 0

    def after_success(self) -> float:
        """Delay before the next poll after a good one."""
        self.failures = 0
        return self.interval_s

    def after_failure(self, exc: errors.OpenRouterError) -> float:
        """Delay before the next poll after a failure."""
        self.failures += 1
        delay = min(MAX_DELAY_S, self.interval_s * 2 ** min(self.failures, 8))
        if isinstance(exc, errors.RateLimited) and exc.retry_after is not None:
            delay = max(delay, exc.retry_after)
        if not exc.retryable:
            # A bad key will not fix itself quickly: check again rarely.
            delay = MAX_DELAY_S
        return delay
