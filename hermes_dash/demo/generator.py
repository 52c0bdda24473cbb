"""A seeded, realistic synthetic call log, shaped like what the wire recorder writes: one
row per HTTP attempt, the attempts of one logical call linked by ``call_key`` with the
wait between them, time to first token, endpoint, upstream, generation id and billed cost;
upstream 429s (with the upstream named) told apart from OpenRouter's own (with its
rate-limit headers), a rare 402 with its limit source, 5xx, streams that fail after they
began; auxiliary tasks beside the main loop; several models and upstreams, a local
backend, bursts of 429s, a day-and-night rhythm, costs that follow the catalogue's prices.
"""

from __future__ import annotations

import heapq
import math
import random
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from hermes_dash.calllog.store import CallStore
from hermes_dash.demo.catalog import MODELS, DemoModel, DemoUpstream

PLATFORMS = ("cli", "telegram", "cron", "discord")
PLATFORM_WEIGHTS = (0.5, 0.2, 0.2, 0.1)
#: Who made a call: the main loop, a subagent, or an auxiliary task (no hook context).
TASKS = ("main", "subagent", "title_generation", "compression", "vision")
TASK_WEIGHTS = (0.80, 0.08, 0.05, 0.05, 0.02)
#: One hour in this many has a burst of rate limiting.
BURST_EVERY_HOURS = 9
#: Hermes gives up after this many attempts of one call.
MAX_ATTEMPTS = 4
#: The share of 429s that an upstream returned (the rest are OpenRouter's own).
UPSTREAM_429_SHARE = 0.7


def _diurnal(t: float) -> float:
    """Relative load at a time of day (UTC): quiet at night, busy in the afternoon."""
    hour = (t % 86400) / 3600.0
    return 0.35 + 0.65 * (0.5 - 0.5 * math.cos((hour - 3.0) / 24.0 * 2 * math.pi))


def is_burst(t: float) -> bool:
    """Whether this hour is one of the rate-limit bursts."""
    return int(t // 3600) % BURST_EVERY_HOURS == 4


def _endpoint(base_url: str) -> tuple[str, str]:
    """(host, host[:port]) of a base URL, as the wire recorder stores them."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    return host, f"{host}:{parts.port}" if parts.port else host


class CallSynth:
    """Makes plausible logical calls (one or more attempts) at given times; the same rules
    serve bulk and live data."""

    def __init__(self, seed: int = 1):
        self.rng = random.Random(seed)
        self._models = list(MODELS)
        self._weights = [m.weight for m in MODELS]
        self._counter = 0

    def pick_model(self) -> DemoModel:
        """A model by traffic share."""
        return self.rng.choices(self._models, self._weights)[0]

    def call(self, t: float) -> dict[str, Any]:
        """The first attempt of one logical call starting at ``t`` (one row)."""
        return self.calls(t)[0]

    def calls(self, t: float) -> list[dict[str, Any]]:
        """Every attempt of one logical call starting at ``t``, in order."""
        rng = self.rng
        self._counter += 1
        n = self._counter
        model = self.pick_model()
        ups = model.upstreams
        upstream = ups[0] if len(ups) == 1 else rng.choices(ups, [u.share for u in ups])[0]
        platform = rng.choices(PLATFORMS, PLATFORM_WEIGHTS)[0]
        task = rng.choices(TASKS, TASK_WEIGHTS)[0]
        hooked = task in ("main", "subagent")
        host, endpoint = _endpoint(model.base_url)
        base: dict[str, Any] = {
            "session_id": f"{platform}-{int(t // 1800)}" if hooked else None,
            "task_id": None,
            "request_id": f"turn{n}:api:1" if hooked else None,
            "platform": platform if hooked else None,
            "provider": model.provider,
            "base_url_host": host,
            "endpoint": endpoint,
            "model": model.id,
            "call_key": f"demo-{n}",
            "source": "wire",
            "task": task,
            "api": "chat",
            "stream": 1 if hooked else 0,  # Hermes' main loop prefers streaming
        }
        p429 = model.rate_limit_prob
        if is_burst(t) and not model.is_local:
            p429 = min(0.6, p429 * 8 + 0.05)
        out: list[dict[str, Any]] = []
        start = t
        for attempt in range(1, MAX_ATTEMPTS + 1):
            row = {
                **base,
                "started_at": start,
                "attempt": attempt,
                "retry_count": attempt - 1,
                "wait_s": None if attempt == 1 else start - out[-1]["ended_at"],
            }
            out.append(row)
            if rng.random() < p429:
                self._rate_limited(row, model, upstream)
            elif rng.random() < 0.004:
                self._failed(row, rng.uniform(0.5, 30.0), rng.choice((500, 502, 503, 408)))
            elif not model.is_local and rng.random() < 0.0005:
                self._failed(row, rng.uniform(0.05, 0.3), 402, "payment_required")
                row["error_code"] = "402"
                row["limit_source"] = rng.choice(("openrouter_credits", "openrouter_key_limit"))
                return out  # Hermes does not retry a 402
            else:
                self._answered(row, model, upstream, n)
                return out
            # Hermes waits (Retry-After when given, else its backoff) and tries again.
            backoff = row.get("retry_after_s") or rng.uniform(1.0, 2.0) * 2 ** (attempt - 1)
            start = row["ended_at"] + backoff
        return out

    def _failed(
        self, row: dict[str, Any], latency: float, status: int, reason: str = "server_error"
    ) -> None:
        """Complete a row as a refused attempt: no tokens, not billed."""
        row.update(
            ended_at=row["started_at"] + latency,
            status="error",
            http_status=status,
            error_reason=reason,
            latency_s=latency,
            ttft_s=latency,
            cost_usd=0.0,
            cost_source="none",
        )
        if status >= 500:
            row["error_code"] = str(status)

    def _rate_limited(self, row: dict[str, Any], model: DemoModel, upstream: DemoUpstream) -> None:
        rng = self.rng
        self._failed(row, rng.uniform(0.05, 0.4), 429, "rate_limit")
        row["error_code"] = "429"
        if (
            not model.is_local
            and not model.id.endswith(":free")
            and (rng.random() < UPSTREAM_429_SHARE)
        ):
            row["error_provider"] = upstream.name  # an upstream's own 429
            row["retry_after_s"] = float(rng.choice((1, 2, 2, 5)))
        else:  # OpenRouter's own limit, with its headers
            row["ratelimit_limit"] = 20 if model.id.endswith(":free") else 200
            row["ratelimit_remaining"] = 0
            row["ratelimit_reset"] = float(int(row["started_at"]) // 60 * 60 + 60)

    def _answered(
        self, row: dict[str, Any], model: DemoModel, upstream: DemoUpstream, n: int
    ) -> None:
        """Complete a row as an answer: tokens, wire time, TTFT, billed cost."""
        rng = self.rng
        t = row["started_at"]
        input_tokens = int(rng.lognormvariate(8.6, 0.7))  # ~5,400 median: agents send context
        output_tokens = int(rng.lognormvariate(5.6, 0.8))  # ~270 median
        cache_read = int(input_tokens * rng.uniform(0.3, 0.8)) if rng.random() < 0.4 else 0
        latency = upstream.latency_s * rng.lognormvariate(0.0, 0.35) * (0.6 + output_tokens / 700.0)
        ttft = latency * rng.uniform(0.15, 0.45)
        cost = (
            (
                (
                    (input_tokens - cache_read) * model.prompt_per_m
                    + output_tokens * model.completion_per_m
                )
                + cache_read * model.prompt_per_m * 0.25
            )
            / 1e6
            * upstream.price_factor
        )
        outcome = rng.random()
        row.update(
            ended_at=t + latency,
            response_model=model.id,
            upstream=None if model.is_local else upstream.name,
            generation_id=None if model.is_local else f"gen-{n}-{int(t)}",
            status="ok",
            http_status=200,
            latency_s=latency,
            ttft_s=ttft,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cache_read_tokens=cache_read,
            cache_write_tokens=0,
            reasoning_tokens=0,
            # The wire reads OpenRouter's billed usage.cost; a local backend bills nothing.
            cost_usd=0.0 if model.is_local else round(cost, 8),
            cost_source="none" if model.is_local else "openrouter",
            finish_reason=rng.choices(("stop", "tool_calls", "length"), (0.55, 0.43, 0.02))[0],
        )
        if row["stream"] and not model.is_local and outcome < 0.005:
            # A failure after streaming began: an error chunk inside the 200, or a cut;
            # the cost is left to /generation (it may be billed).
            cut = outcome < 0.002
            row.update(
                status="error",
                error_reason="stream_cut" if cut else "stream_error",
                finish_reason=None if cut else "error",
                error_code=None if cut else "502",
                output_tokens=None,
                input_tokens=None,
                cache_read_tokens=None,
                cost_usd=None,
                cost_source=None,
            )

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
    """Exactly ``n`` rows (attempts) spread over the last ``days`` days before ``now``, in
    the order they started.

    ``n`` start times are drawn; a call whose retries put the log ahead of its slot count
    makes the next slot stay empty, so retries take the place of calls evenly over the
    window rather than piling up at its end. Retries that would start after ``now`` have
    not happened yet and are not made.
    """
    end = time.time() if now is None else now
    synth = CallSynth(seed)
    pending: list[tuple[float, int, dict[str, Any]]] = []
    made = 0
    for slot, t in enumerate(synth.times(n, end - days * 86400.0, end)):
        while pending and pending[0][0] <= t:
            yield heapq.heappop(pending)[2]
        if made > slot:
            continue  # an earlier call's retries used this slot
        attempts = [row for row in synth.calls(t) if row["started_at"] < end][: n - made]
        for row in attempts:
            made += 1
            heapq.heappush(pending, (row["started_at"], made, row))
    while pending:
        yield heapq.heappop(pending)[2]


def generate(
    store: CallStore, n: int, *, seed: int = 1, days: float = 7.0, now: float | None = None
) -> int:
    """Write ``n`` synthetic rows (attempts of logical calls) into the store; returns how
    many were written."""
    return store.bulk_load(generate_rows(n, seed=seed, days=days, now=now))
