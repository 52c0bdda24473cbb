"""Filling in what the recorder could not know: the cost (and upstream) of each call.

A call with a generation id is looked up with ``GET /generation`` (billed cost, upstream
provider). Right after a call that answers 404, so a lookup is retried on later rounds, up
to a cap; after that, or without an id, the tokens are priced from ``/models`` and the cost
is marked as an estimate. Each call is priced once: only rows with no cost source are
picked, and the rollups follow the update by trigger, so nothing is counted twice.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Callable

from hermes_dash.calllog.records import CallRow
from hermes_dash.calllog.store import CallStore
from hermes_dash.openrouter import errors
from hermes_dash.openrouter.client import OpenRouterClient
from hermes_dash.openrouter.records import Pricing

#: Generation lookups per call before falling back to an estimate.
GENERATION_ATTEMPTS = 4
#: Rounds a call stays eligible at all (unknown model, no prices): then it is left alone.
MAX_ATTEMPTS = 8
PRICES_TTL_S = 3600.0
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
            if gen.total_cost is not None:
                return gen.total_cost, "openrouter", gen.provider_name
        price = self._price_for(await self.prices(), row.model)
        if price is None:
            return None
        return estimate_cost(row, price), "estimate", None
