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
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from hermes_dash.calllog.records import CallRow
from hermes_dash.calllog.store import CallStore
from hermes_dash.openrouter import errors
from hermes_dash.openrouter.client import OpenRouterClient
from hermes_dash.openrouter.records import Endpoint, ModelInfo, Pricing
from hermes_dash.services.endpoints import EndpointPolicy
from hermes_dash.text import clean

#: Generation lookups per call before falling back to an estimate.
GENERATION_ATTEMPTS = 4
#: Rounds a call stays eligible at all (unknown model, no prices): then it is left alone.
MAX_ATTEMPTS = 8
PRICES_TTL_S = 3600.0
#: After ``/models`` failed, ask again no sooner than this (not once per call of a round).
PRICES_RETRY_S = 300.0
#: The most one call can plausibly cost, USD: a larger figure from a server is not stored.
MAX_CALL_COST_USD = 10_000.0
#: The longest upstream name stored (OpenRouter's are a few words).
MAX_UPSTREAM_CHARS = 64
#: A generation lookup that takes longer is skipped for this round: a server that drips
#: its answer would otherwise hold the round for the client's whole deadline, call after call.
LOOKUP_DEADLINE_S = 5.0
#: No lookup starts after a round has run this long, so it ends before the dashboard
#: starts the next (every 20 s); the calls left wait for that one, their tries not counted.
ROUND_BUDGET_S = 12.0

Priced = tuple[float, str, str | None]


def estimate_cost(row: CallRow, price: Pricing) -> float:
    """USD for a call's tokens at these prices.

    ``input_tokens`` is the prompt's full count (cache reads and writes included, as
    OpenRouter's ``prompt_tokens`` and the recorder's Anthropic sum count them), so the
    fresh part is ``input - cache_read - cache_write``; cache writes at their own rate, reasoning
    tokens (part of the output) at the reasoning rate when the model has one, plus any
    per-request price. The prompt's length picks the price tier.
    """
    prompt = row.input_tokens or 0
    price = price.for_prompt(prompt)
    cache_read = min(prompt, row.cache_read_tokens or 0)
    cache_write = min(prompt - cache_read, row.cache_write_tokens or 0)
    output = row.output_tokens or 0
    reasoning = min(output, row.reasoning_tokens or 0) if price.reasoning is not None else 0
    return (
        (prompt - cache_read - cache_write) * price.prompt
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


@dataclass(frozen=True)
class PriceBook:
    """Model prices by id, and by the id without its author (how direct providers name
    models, e.g. ``claude-sonnet-4.5``); a name two authors share prices nothing."""

    by_id: dict[str, Pricing] = field(default_factory=dict)
    by_name: dict[str, Pricing | None] = field(default_factory=dict)

    @classmethod
    def build(cls, models: Iterable[ModelInfo]) -> PriceBook:
        """Index ``/models`` once, rather than scanning it for every call."""
        by_id = {m.id: m.pricing for m in models}
        by_name: dict[str, Pricing | None] = {}
        for model_id, pricing in by_id.items():
            name = model_id.split("/", 1)[-1]
            by_name[name] = None if name in by_name else pricing
        return cls(by_id, by_name)

    def price_for(self, model: str) -> Pricing | None:
        """The prices for a logged model name, or None when unknown or ambiguous."""
        if model in self.by_id:
            return self.by_id[model]
        return self.by_name.get(model)


class Enricher:
    """Prices unpriced calls; one round at a time for the dashboard's timer, or every
    pending call until a deadline for ``summary`` and ``export``."""

    def __init__(
        self,
        store: CallStore,
        api: OpenRouterClient,
        clock: Callable[[], float] = time.time,
        policy: EndpointPolicy | None = None,
        *,
        lookup_deadline_s: float = LOOKUP_DEADLINE_S,
        round_budget_s: float = ROUND_BUDGET_S,
    ):
        self.store = store
        self.api = api
        self.clock = clock
        self.policy = policy or EndpointPolicy()
        self.lookup_deadline_s = lookup_deadline_s
        self.round_budget_s = round_budget_s
        self._book = PriceBook()
        self._next_fetch: float | None = None
        self._endpoints: dict[str, tuple[float, list[Endpoint]]] = {}

    async def prices(self) -> PriceBook:
        """Model prices from ``/models``, cached for an hour; the last good (or empty)
        book while it is unavailable, asking again after :data:`PRICES_RETRY_S`."""
        now = self.clock()
        if self._next_fetch is None or now >= self._next_fetch:
            try:
                models = await self.api.models()
            except errors.OpenRouterError:
                self._next_fetch = now + PRICES_RETRY_S
                return self._book
            self._book = await asyncio.to_thread(PriceBook.build, models)
            self._next_fetch = now + PRICES_TTL_S
        return self._book

    async def _endpoint_price(self, model: str, upstream: str) -> Pricing | None:
        """The price of one upstream's endpoint for a model (cached for an hour, failures
        too, so an unknown model is not asked again every round)."""
        now = self.clock()
        cached = self._endpoints.get(model)
        if cached is None or now - cached[0] > PRICES_TTL_S:
            try:
                async with asyncio.timeout(self.lookup_deadline_s):
                    found = await self.api.endpoints(model)
            except (errors.OpenRouterError, TimeoutError):
                found = []
            cached = self._endpoints[model] = (now, found)
        wanted = upstream.lower()
        for ep in cached[1]:
            if wanted in (ep.provider_name.lower(), ep.slug.lower()):
                return ep.pricing
        return None

    def mark_known_zero(self) -> int:
        """Give every unpriced call to a local endpoint, and every refused attempt, its
        known cost of 0 (no network needed)."""
        local = self.store.mark_unbilled(self.policy.local_of(self.store.unpriced_hosts()))
        return local + self.store.mark_refused()

    async def run_once(self, limit: int = 40) -> int:
        """Price up to ``limit`` calls; returns how many got a cost."""
        priced = await asyncio.to_thread(self.mark_known_zero)
        rows = await asyncio.to_thread(self.store.unpriced, MAX_ATTEMPTS, limit)
        budget = time.monotonic() + self.round_budget_s
        return priced + await self._price_rows(rows, patient=True, budget=budget)

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

    async def _price_rows(
        self, rows: list[tuple[CallRow, int]], *, patient: bool, budget: float | None = None
    ) -> int:
        done: list[tuple[int, float, str, str | None]] = []
        failed: list[int] = []
        for row, attempts in rows:
            if budget is not None and time.monotonic() > budget:
                break  # the rest waits for the next round, its tries not counted
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
                async with asyncio.timeout(self.lookup_deadline_s):
                    gen = await self.api.generation(row.generation_id)
            except (errors.OpenRouterError, TimeoutError):
                gen = None  # a 404 right after a call is normal; slow or malformed: skip
            # The answer is outside data stored for good and shown on every start: only
            # sane values are kept (an insane cost falls back to an estimate).
            cost = sane_cost(gen.total_cost) if gen is not None else None
            if gen is not None and cost is not None:
                return cost, "openrouter", sane_upstream(gen.provider_name)
            if gen is not None:
                upstream = sane_upstream(gen.provider_name) or upstream
            elif patient:
                return None
        price = None
        if upstream and "/" in row.model:
            price = await self._endpoint_price(row.model, upstream)
        if price is None:
            price = (await self.prices()).price_for(row.model)
        if price is None:
            return None
        if row.status != "ok" and not (row.input_tokens or row.output_tokens):
            return None  # a broken stream whose tokens nobody reported: wait for a lookup
        estimate = sane_cost(estimate_cost(row, price))
        if estimate is None:
            return None
        return estimate, "estimate", upstream if upstream != row.upstream else None
