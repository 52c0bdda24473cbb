"""Route preview and what-if cost: which endpoints OpenRouter would use under draft rules.

Semantics follow OpenRouter's provider-routing documentation: ``only`` and ``ignore``
filter the endpoints; endpoints named in ``order`` are tried first, in that order; the
rest follow by ``sort`` (price ascending, throughput descending, latency ascending);
with neither ``order`` nor ``sort`` OpenRouter load-balances weighted towards the
cheapest endpoints, shown here as price order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hermes_dash.openrouter.records import Endpoint
from hermes_dash.routing.rules import RoutingRules


@dataclass(frozen=True)
class RouteRow:
    """One endpoint under the draft rules."""

    endpoint: Endpoint
    eligible: bool
    reason: str  # why excluded, or how it was placed
    rank: int | None  # 1 = tried first; None when excluded


def _names(endpoint: Endpoint) -> tuple[str, str]:
    """The slugs a rule can name this endpoint by: its tag (``deepinfra/turbo``) and its
    provider (``deepinfra``)."""
    tag = endpoint.slug
    return tag, tag.split("/", 1)[0]


def price_per_token(e: Endpoint) -> float:
    """Prompt plus completion price, the quantity OpenRouter's price sort uses."""
    return e.pricing.prompt + e.pricing.completion


def _sort_key(rules: RoutingRules) -> Callable[[Endpoint], float]:
    if rules.sort == "throughput":
        return lambda e: -(e.throughput_p50 or 0.0)
    if rules.sort == "latency":
        return lambda e: e.latency_p50_ms if e.latency_p50_ms is not None else float("inf")
    return price_per_token


def simulate(endpoints: list[Endpoint], rules: RoutingRules) -> list[RouteRow]:
    """Every endpoint, eligible ones ranked in the order OpenRouter would try them."""
    only, ignore = set(rules.only), set(rules.ignore)
    eligible: list[Endpoint] = []
    excluded: list[RouteRow] = []
    for e in endpoints:
        if only and only.isdisjoint(_names(e)):
            excluded.append(RouteRow(e, False, "not in only", None))
        elif not ignore.isdisjoint(_names(e)):
            excluded.append(RouteRow(e, False, "ignored", None))
        else:
            eligible.append(e)
    # Endpoints by every name a rule can use, so an order of thousands of slugs (one per
    # upstream ever seen) is placed in linear time, not in time squared.
    named: dict[str, list[Endpoint]] = {}
    for e in eligible:
        for name in dict.fromkeys(_names(e)):
            named.setdefault(name, []).append(e)
    ordered: list[tuple[Endpoint, str]] = []
    placed: set[int] = set()
    for n, slug in enumerate(rules.order, 1):
        for e in named.get(slug, ()):
            if id(e) not in placed:
                placed.add(id(e))
                ordered.append((e, f"order #{n}"))
    rest = [e for e in eligible if id(e) not in placed]
    how = (
        f"by {rules.sort}"
        if rules.sort
        else ("fallback by price" if rules.order else "load-balanced, cheapest first")
    )
    ordered += [(e, how) for e in sorted(rest, key=_sort_key(rules))]
    rows = [RouteRow(e, True, why, i + 1) for i, (e, why) in enumerate(ordered)]
    return rows + excluded


def first_choice(endpoints: list[Endpoint], rules: RoutingRules) -> Endpoint | None:
    """The endpoint tried first, or None when the rules exclude them all."""
    rows = simulate(endpoints, rules)
    return rows[0].endpoint if rows and rows[0].eligible else None


@dataclass(frozen=True)
class WhatIf:
    """Logged calls' actual cost versus their cost at the draft's first choice."""

    model: str
    actual_usd: float
    draft_usd: float | None  # None when no endpoint is eligible
    first_choice: str | None


def what_if(
    model: str,
    input_tokens: int,
    output_tokens: int,
    actual_usd: float,
    endpoints: list[Endpoint],
    rules: RoutingRules,
) -> WhatIf:
    """Price a model's logged tokens at the draft rules' first choice."""
    choice = first_choice(endpoints, rules)
    if choice is None:
        return WhatIf(model, actual_usd, None, None)
    cost = input_tokens * choice.pricing.prompt + output_tokens * choice.pricing.completion
    return WhatIf(model, actual_usd, cost, choice.provider_name)
