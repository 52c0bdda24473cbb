"""A seeded, realistic synthetic call log: several models and upstreams, a local backend,
bursts of 429s, a day-and-night rhythm, costs that follow the catalogue's prices."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterator
from typing import Any

from hermes_dash.calllog.store import CallStore
from hermes_dash.demo.catalog import MODELS, DemoModel

PLATFORMS = ("cli", "telegram", "cron", "discord")
PLATFORM_WEIGHTS = (0.5, 0.2, 0.2, 0.1)
#: One hour in this many has a burst of rate limiting.
BURST_EVERY_HOURS = 9


def _diurnal(t: float) -> float:
    """Relative load at a time of day (UTC): quiet at night, busy in the afternoon."""
    hour = (t % 86400) / 3600.0
    return 0.35 + 0.65 * (0.5 - 0.5 * math.cos((hour - 3.0) / 24.0 * 2 * math.pi))


def is_burst(t: float) -> bool:
    """Whether this hour is one of the rate-limit bursts."""
    return int(t // 3600) % BURST_EVERY_HOURS == 4


def _failed(
    row: dict[str, Any], latency: float, status: int, reason: str, retries: int
) -> dict[str, Any]:
    """Complete a row as a failed call: no tokens, not billed."""
    row.update(
        ended_at=row["started_at"] + latency,
        status="error",
        http_status=status,
        error_reason=reason,
        retry_count=retries,
        latency_s=latency,
        cost_usd=0.0,
        cost_source="none",
    )
    return row


class CallSynth:
    """Makes one plausible call at a given time; the same rules serve bulk and live data."""

    def __init__(self, seed: int = 1):
        self.rng = random.Random(seed)
        self._models = list(MODELS)
        self._weights = [m.weight for m in MODELS]
        self._counter = 0

    def pick_model(self) -> DemoModel:
        """A model by traffic share."""
        return self.rng.choices(self._models, self._weights)[0]

    def call(self, t: float) -> dict[str, Any]:
        """One call row (CALL_COLUMNS names) starting at ``t``."""
        rng = self.rng
        self._counter += 1
        model = self.pick_model()
        ups = model.upstreams
        upstream = ups[0] if len(ups) == 1 else rng.choices(ups, [u.share for u in ups])[0]
        platform = rng.choices(PLATFORMS, PLATFORM_WEIGHTS)[0]
        p429 = model.rate_limit_prob
        if is_burst(t) and not model.is_local:
            p429 = min(0.6, p429 * 8 + 0.05)
        row: dict[str, Any] = {
            "started_at": t,
            "session_id": f"{platform}-{int(t // 1800)}",
            "task_id": None,
            "request_id": f"req-{self._counter}",
            "platform": platform,
            "provider": model.provider,
            "base_url_host": model.base_url.split("/")[2].split(":")[0],
            "model": model.id,
        }
        if rng.random() < p429:
            latency = rng.uniform(0.05, 0.4)
            return _failed(row, latency, 429, "rate_limit", rng.randint(0, 3))
        if rng.random() < 0.004:
            latency = rng.uniform(0.5, 30.0)
            status = rng.choice((500, 502, 503, 408))
            return _failed(row, latency, status, "server_error", rng.randint(0, 2))
        input_tokens = int(rng.lognormvariate(8.6, 0.7))  # ~5,400 median: agents send context
        output_tokens = int(rng.lognormvariate(5.6, 0.8))  # ~270 median
        cache_read = int(input_tokens * rng.uniform(0.3, 0.8)) if rng.random() < 0.4 else 0
        latency = upstream.latency_s * rng.lognormvariate(0.0, 0.35) * (0.6 + output_tokens / 700.0)
        cost = (
            (input_tokens * model.prompt_per_m + output_tokens * model.completion_per_m)
            / 1e6
            * upstream.price_factor
        )
        if model.is_local:
            cost_source: str | None = "none"
        elif rng.random() < 0.1:
            cost_source = None  # left for enrichment through /generation
        else:
            cost_source = "openrouter"
        row.update(
            ended_at=t + latency,
            response_model=model.id,
            upstream=None if (model.is_local or cost_source is None) else upstream.name,
            generation_id=None if model.is_local else f"gen-{self._counter}-{int(t)}",
            status="ok",
            http_status=200,
            latency_s=latency,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cache_read_tokens=cache_read,
            cache_write_tokens=0,
            reasoning_tokens=0,
            cost_usd=None if cost_source is None else round(cost, 8),
            cost_source=cost_source,
            finish_reason=rng.choices(("stop", "tool_calls", "length"), (0.55, 0.43, 0.02))[0],
        )
        return row

    def times(self, n: int, start: float, end: float) -> list[float]:
        """``n`` sorted start times in ``[start, end)`` following the day rhythm."""
        rng = self.rng
        out: list[float] = []
        span = end - start
        while len(out) < n:
            t = start + rng.random() * span
            if rng.random() < _diurnal(t):
                out.append(t)
        out.sort()
        return out


def generate_rows(
    n: int, *, seed: int = 1, days: float = 7.0, now: float | None = None
) -> Iterator[dict[str, Any]]:
    """``n`` calls spread over the last ``days`` days before ``now``."""
    end = time.time() if now is None else now
    synth = CallSynth(seed)
    for t in synth.times(n, end - days * 86400.0, end):
        yield synth.call(t)


def generate(
    store: CallStore, n: int, *, seed: int = 1, days: float = 7.0, now: float | None = None
) -> int:
    """Write ``n`` synthetic calls into the store; returns how many were written."""
    return store.bulk_load(generate_rows(n, seed=seed, days=days, now=now))
