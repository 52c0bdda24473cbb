"""Filling in what the wire could not see: the cost (and upstream) of unpriced calls.

OpenRouter's billed ``usage.cost``, read on the wire by the recorder, *is* the cost
(``cost_source='openrouter'``); such rows are never touched here. What is left:

- calls to a local endpoint (see :mod:`hermes_dash.services.endpoints`) cost a known 0
  (``'none'``), as do refused attempts (HTTP 4xx/5xx: nobody bills a 429);
- a call with a generation id is looked up with ``GET /generation`` (billed cost,
  upstream). Right after a call that answers 404, so the dashboard retries on later
  rounds, up to a cap; ``summary`` cannot wait and estimates at once;
- otherwise the tokens are priced (``'estimate'``) at the upstream endpoint's own price
  when the upstream is known (``/models/{id}/endpoints``), else at the model's price
  from ``/models``, by the prompt-length tier the call fell into.

A stream that was cut or failed after it began (HTTP 200, status error) is billed by
OpenRouter, so it is priced like a success. Each call is priced once: only rows with no
cost source are picked, and the rollups follow the update by trigger.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from hermes_dash.calllog.records import CallRow
from hermes_dash.calllog.store import CallStore
from hermes_dash.openrouter import errors
from hermes_dash.openrouter.client import OpenRouterClient
from hermes_dash.openrouter.records import Endpoint, Pricing
from hermes_dash.services.endpoints import EndpointPolicy

#: Generation lookups per call before falling back to an estimate.
GENERATION_ATTEMPTS = 4
#: Rounds a call stays eligible at all (unknown model, no prices): then it is left alone.
MAX_ATTEMPTS = 8
PRICES_TTL_S = 3600.0
#: After ``/models`` failed, wait this long before asking again (not once per call).
PRICES_RETRY_S = 60.0

Priced = tuple[float, str, str | None]


def estimate_cost(row: CallRow, price: Pricing) -> float:
    """USD for a call's tokens at these prices.

    ``input_tokens`` is the prompt's full count (cache reads included), so the fresh part
    is ``input - cache_read``; cache writes are billed at their own rate on top, reasoning
    tokens (part of the output) at the reasoning rate when the model has one, plus any
    per-request price. The prompt's length picks the price tier.
    """
    prompt = row.input_tokens or 0
    price = price.for_prompt(prompt)
    cache_read = min(prompt, row.cache_read_tokens or 0)
    cache_write = row.cache_write_tokens or 0
    output = row.output_tokens or 0
    reasoning = min(output, row.reasoning_tokens or 0) if price.reasoning is not None else 0
    return (
        (prompt - cache_read) * price.prompt
        + cache_read * (price.cache_read if price.cache_read is not None else price.prompt)
        + cache_write * (price.cache_write if price.cache_write is not None else price.prompt)
        + (output - reasoning) * price.completion
        + reasoning * (price.reasoning or 0.0)
        + (price.request or 0.0)
    )


def is_billed_attempt(row: CallRow) -> bool:
    """Whether OpenRouter bills this attempt: a success, or a stream that broke after it
    began (HTTP 200 with an error status, or no status seen); refusals are not billed."""
    if row.status == "ok":
        return True
    return row.http_status is None or row.http_status < 400


class Enricher:
    """Prices unpriced calls; one round at a time for the dashboard's timer, or every
    pending call until a deadline for ``summary`` and ``export``."""

    def __init__(
        self,
        store: CallStore,
        api: OpenRouterClient,
        clock: Callable[[], float] = time.time,
        policy: EndpointPolicy | None = None,
    ):
        self.store = store
        self.api = api
        self.clock = clock
        self.policy = policy or EndpointPolicy()
        self._prices: dict[str, Pricing] = {}
        self._prices_at: float | None = None
        self._prices_failed_at: float | None = None
        self._endpoints: dict[str, tuple[float, list[Endpoint]]] = {}

    async def prices(self) -> dict[str, Pricing]:
        """Model prices from ``/models``, cached for an hour; {} when unavailable."""
        now = self.clock()
        if self._prices_failed_at is not None and now - self._prices_failed_at < PRICES_RETRY_S:
            return self._prices
        if self._prices_at is None or now - self._prices_at > PRICES_TTL_S:
            try:
                models = await self.api.models()
            except errors.OpenRouterError:
                self._prices_failed_at = now
                return self._prices
            self._prices = {m.id: m.pricing for m in models}
            self._prices_at = now
        return self._prices

    async def _endpoint_price(self, model: str, upstream: str) -> Pricing | None:
        """The price of one upstream's endpoint for a model (cached for an hour, failures
        too, so an unknown model is not asked again every round)."""
        now = self.clock()
        cached = self._endpoints.get(model)
        if cached is None or now - cached[0] > PRICES_TTL_S:
            try:
                found = await self.api.endpoints(model)
            except errors.OpenRouterError:
                found = []
            cached = self._endpoints[model] = (now, found)
        wanted = upstream.lower()
        for ep in cached[1]:
            if wanted in (ep.provider_name.lower(), ep.slug.lower()):
                return ep.pricing
        return None

    def _price_for(self, prices: dict[str, Pricing], model: str) -> Pricing | None:
        if model in prices:
            return prices[model]
        # Direct providers name models without the author prefix ("claude-sonnet-4.5").
        matches = [p for mid, p in prices.items() if mid.split("/", 1)[-1] == model]
        return matches[0] if len(matches) == 1 else None

    def mark_known_zero(self) -> int:
        """Give every unpriced call to a local endpoint, and every refused attempt, its
        known cost of 0 (no network needed)."""
        local = self.store.mark_unbilled(self.policy.local_of(self.store.unpriced_hosts()))
        return local + self.store.mark_refused()

    async def run_once(self, limit: int = 40) -> int:
        """Price up to ``limit`` calls; returns how many got a cost."""
        priced = await asyncio.to_thread(self.mark_known_zero)
        rows = await asyncio.to_thread(self.store.unpriced, MAX_ATTEMPTS, limit)
        return priced + await self._price_rows(rows, patient=True)

    async def run_until(self, deadline: float, batch: int = 200) -> int:
        """Price every pending call, oldest lookups first, until ``deadline`` (a
        ``time.monotonic()`` value); what is left stays unpriced. Generation lookups are
        tried once: a 404 falls back to an estimate at once."""
        priced = await asyncio.to_thread(self.mark_known_zero)
        before: int | None = None
        while time.monotonic() < deadline:
            rows = await asyncio.to_thread(self.store.unpriced, MAX_ATTEMPTS, batch, before)
            if not rows:
                break
            before = rows[-1][0].id
            left = deadline - time.monotonic()
            try:
                priced += await asyncio.wait_for(self._price_rows(rows, patient=False), left)
            except TimeoutError:
                break
        return priced

    async def _price_rows(self, rows: list[tuple[CallRow, int]], *, patient: bool) -> int:
        done: list[tuple[int, float, str, str | None]] = []
        failed: list[int] = []
        for row, attempts in rows:
            cost = await self._price(row, attempts, patient=patient)
            if cost is None:
                failed.append(row.id)
            else:
                done.append((row.id, *cost))
        if done:
            await asyncio.to_thread(self.store.set_costs, done)
        if failed:
            await asyncio.to_thread(self.store.note_enrich_attempt, failed)
        return len(done)

    async def _price(self, row: CallRow, attempts: int, *, patient: bool) -> Priced | None:
        """(cost, source, upstream) for one call, or None to try again later."""
        if self.policy.is_local(row.host) or not is_billed_attempt(row):
            return 0.0, "none", None
        upstream = row.upstream
        if row.generation_id and self.api.has_key and attempts < GENERATION_ATTEMPTS:
            try:
                gen = await self.api.generation(row.generation_id)
            except errors.OpenRouterError:
                gen = None  # a 404 right after a call is normal
            if gen is not None and gen.total_cost is not None:
                return gen.total_cost, "openrouter", gen.provider_name
            if gen is not None:
                upstream = gen.provider_name or upstream
            elif patient:
                return None
        price = None
        if upstream and "/" in row.model:
            price = await self._endpoint_price(row.model, upstream)
        if price is None:
            price = self._price_for(await self.prices(), row.model)
        if price is None:
            return None
        if row.status != "ok" and not (row.input_tokens or row.output_tokens):
            return None  # a broken stream whose tokens nobody reported: wait for a lookup
        return estimate_cost(row, price), "estimate", upstream if upstream != row.upstream else None
