"""Filling in what the recorder could not know: the cost (and upstream) of each call.

A call with a generation id is looked up with ``GET /generation`` (billed cost, upstream
provider). Right after a call that answers 404, so a lookup is retried on later rounds, up
to a cap; after that, or without an id, the tokens are priced from ``/models`` and the cost
is marked as an estimate. Each call is priced once: only rows with no cost source are
picked, and the rollups follow the update by trigger, so nothing is counted twice.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable

from hermes_dash.calllog.records import CallRow
from hermes_dash.calllog.store import CallStore
from hermes_dash.openrouter import errors
from hermes_dash.openrouter.client import OpenRouterClient
from hermes_dash.openrouter.records import Pricing
from hermes_dash.text import clean

#: Generation lookups per call before falling back to an estimate.
GENERATION_ATTEMPTS = 4
#: Rounds a call stays eligible at all (unknown model, no prices): then it is left alone.
MAX_ATTEMPTS = 8
PRICES_TTL_S = 3600.0
#: The most one call can plausibly cost, USD: a larger figure from a server is not stored.
MAX_CALL_COST_USD = 10_000.0
#: The longest upstream name stored (OpenRouter's are a few words).
MAX_UPSTREAM_CHARS = 64
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "0.0.0.0", "host.docker.internal")


def is_local(row: CallRow) -> bool:
    """A call to a backend on this machine (Ollama, LM Studio, vLLM): it costs nothing."""
    host = (row.base_url_host or "").lower()
    return host in LOCAL_HOSTS or host.endswith(".local") or host.startswith("192.168.")


def estimate_cost(row: CallRow, price: Pricing) -> float:
    """USD for a call's tokens at a model's prices (cache reads/writes at their own rate)."""
    cache_read = row.cache_read_tokens or 0
    cache_write = row.cache_write_tokens or 0
    fresh = max(0, (row.input_tokens or 0) - cache_read - cache_write)
    return (
        fresh * price.prompt
        + cache_read * (price.cache_read if price.cache_read is not None else price.prompt)
        + cache_write * (price.cache_write if price.cache_write is not None else price.prompt)
        + (row.output_tokens or 0) * price.completion
    )


def sane_cost(value: float | None) -> float | None:
    """A cost fit to store: finite, not negative, not absurd; otherwise None."""
    if value is None or not math.isfinite(value) or not 0.0 <= value <= MAX_CALL_COST_USD:
        return None
    return value


def sane_upstream(value: str | None) -> str | None:
    """An upstream name fit to store and show: one clean, short line; None when empty."""
    if value is None:
        return None
    return clean(value, MAX_UPSTREAM_CHARS).strip() or None


class Enricher:
    """One round at a time, driven by the dashboard's timer."""

    def __init__(
        self, store: CallStore, api: OpenRouterClient, clock: Callable[[], float] = time.time
    ):
        self.store = store
        self.api = api
        self.clock = clock
        self._prices: dict[str, Pricing] = {}
        self._prices_at: float | None = None

    async def prices(self) -> dict[str, Pricing]:
        """Model prices from ``/models``, cached for an hour; {} when unavailable."""
        now = self.clock()
        if self._prices_at is None or now - self._prices_at > PRICES_TTL_S:
            try:
                models = await self.api.models()
            except errors.OpenRouterError:
                return self._prices
            self._prices = {m.id: m.pricing for m in models}
            self._prices_at = now
        return self._prices

    def _price_for(self, prices: dict[str, Pricing], model: str) -> Pricing | None:
        if model in prices:
            return prices[model]
        # Direct providers name models without the author prefix ("claude-sonnet-4.5").
        matches = [p for mid, p in prices.items() if mid.split("/", 1)[-1] == model]
        return matches[0] if len(matches) == 1 else None

    async def run_once(self, limit: int = 40) -> int:
        """Price up to ``limit`` calls; returns how many got a cost."""
        rows = await asyncio.to_thread(self.store.unpriced, MAX_ATTEMPTS, limit)
        priced = 0
        failed: list[int] = []
        for row, attempts in rows:
            cost = await self._price(row, attempts)
            if cost is None:
                failed.append(row.id)
            else:
                await asyncio.to_thread(self.store.set_cost, row.id, *cost)
                priced += 1
        if failed:
            await asyncio.to_thread(self.store.note_enrich_attempt, failed)
        return priced

    async def _price(self, row: CallRow, attempts: int) -> tuple[float, str, str | None] | None:
        """(cost, source, upstream) for one call, or None to try again later."""
        if row.status != "ok" or is_local(row):
            return 0.0, "none", None
        if row.generation_id and self.api.has_key and attempts < GENERATION_ATTEMPTS:
            try:
                gen = await self.api.generation(row.generation_id)
            except errors.NotFound:
                return None  # not visible yet: normal right after a call
            except errors.OpenRouterError:
                return None
            # The answer is outside data stored for good and shown on every start: only
            # sane values are kept (an insane cost falls back to an estimate).
            cost = sane_cost(gen.total_cost)
            if cost is not None:
                return cost, "openrouter", sane_upstream(gen.provider_name)
        price = self._price_for(await self.prices(), row.model)
        if price is None:
            return None
        estimate = sane_cost(estimate_cost(row, price))
        if estimate is None:
            return None
        return estimate, "estimate", None
