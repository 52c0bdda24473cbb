"""Filling in what the recorder could not know: the cost (and upstream) of each call.

A call with a generation id is looked up with ``GET /generation`` (billed cost, upstream
provider). Right after a call that answers 404, so a lookup is retried on later rounds, up
to a cap; after that, or without an id, the tokens are priced from ``/models`` and the cost
is marked as an estimate. Each call is priced once: only rows with no cost source are
picked, and the rollups follow the update by trigger, so nothing is counted twice.

A failed, malformed or slow lookup skips that call for this round and the round goes on.
``/models`` (megabytes, hundreds of thousands of entries on a hostile server) is fetched at
most once an hour, or once in five minutes after a failure, and indexed on a thread.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from hermes_dash.calllog.records import CallRow
from hermes_dash.calllog.store import CallStore
from hermes_dash.openrouter import errors
from hermes_dash.openrouter.client import OpenRouterClient
from hermes_dash.openrouter.records import ModelInfo, Pricing
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
#: After ``/models`` failed, ask again no sooner than this (not once per call of a round).
PRICES_RETRY_S = 300.0
#: A generation lookup that takes longer is skipped for this round: a server that drips
#: its answer would otherwise hold the round for the client's whole deadline, call after call.
LOOKUP_DEADLINE_S = 5.0
#: No lookup starts after a round has run this long, so it ends before the dashboard
#: starts the next (every 20 s); the calls left wait for that one, their tries not counted.
ROUND_BUDGET_S = 12.0
#: Host names that always mean this machine or the local network.
LOCAL_NAMES = ("localhost", "host.docker.internal")
#: Addresses of this machine and of private networks: a backend there is not billed.
LOCAL_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "127.0.0.0/8",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "169.254.0.0/16",
        "0.0.0.0/32",
        "::1/128",
        "::/128",
        "fc00::/7",
        "fe80::/10",
    )
)


def is_local_host(host: str | None) -> bool:
    """Whether a base-URL host is this machine or a private network (by address, not by
    how the text starts: ``10.1.2.3`` and ``fd00::5`` are local, ``10.example.com`` not)."""
    name = (host or "").strip().lower().rstrip(".")
    if name.startswith("[") and "]" in name:  # a bracketed IPv6 literal, maybe with a port
        name = name[1 : name.index("]")]
    elif name.count(":") == 1:  # host:port
        name = name.split(":", 1)[0]
    if name in LOCAL_NAMES or name.endswith((".localhost", ".local")):
        return True
    try:
        address = ipaddress.ip_address(name.split("%", 1)[0])  # drop an IPv6 zone (%eth0)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in net for net in LOCAL_NETWORKS)


def is_local(row: CallRow) -> bool:
    """A call to a backend on this machine or the local network (Ollama, LM Studio, vLLM):
    it costs nothing."""
    return is_local_host(row.base_url_host)


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
    """One round at a time, driven by the dashboard's timer."""

    def __init__(
        self,
        store: CallStore,
        api: OpenRouterClient,
        clock: Callable[[], float] = time.time,
        *,
        lookup_deadline_s: float = LOOKUP_DEADLINE_S,
        round_budget_s: float = ROUND_BUDGET_S,
    ):
        self.store = store
        self.api = api
        self.clock = clock
        self.lookup_deadline_s = lookup_deadline_s
        self.round_budget_s = round_budget_s
        self._book = PriceBook()
        self._next_fetch: float | None = None

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

    async def run_once(self, limit: int = 40) -> int:
        """Price up to ``limit`` calls; returns how many got a cost."""
        rows = await asyncio.to_thread(self.store.unpriced, MAX_ATTEMPTS, limit)
        priced = 0
        failed: list[int] = []
        started = time.monotonic()
        for row, attempts in rows:
            if time.monotonic() - started > self.round_budget_s:
                break
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
                async with asyncio.timeout(self.lookup_deadline_s):
                    gen = await self.api.generation(row.generation_id)
            except errors.NotFound:
                return None  # not visible yet: normal right after a call
            except (errors.OpenRouterError, TimeoutError):
                return None  # malformed, slow or refused: skip this call, the round goes on
            # The answer is outside data stored for good and shown on every start: only
            # sane values are kept (an insane cost falls back to an estimate).
            cost = sane_cost(gen.total_cost)
            if cost is not None:
                return cost, "openrouter", sane_upstream(gen.provider_name)
        price = (await self.prices()).price_for(row.model)
        if price is None:
            return None
        estimate = sane_cost(estimate_cost(row, price))
        if estimate is None:
            return None
        return estimate, "estimate", None
