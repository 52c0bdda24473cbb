"""Validation messages, typo hints, and the route preview's semantics."""

from __future__ import annotations

import pytest

from hermes_dash.openrouter.records import Endpoint, Pricing
from hermes_dash.routing.rules import RoutingRules, errors_in, parse_slugs, validate
from hermes_dash.routing.simulate import first_choice, simulate, what_if

KNOWN = ["anthropic", "deepinfra", "fireworks", "google-vertex", "together"]


def ep(
    name: str,
    prompt: float,
    completion: float,
    tag: str | None = None,
    latency: float | None = None,
    tput: float | None = None,
) -> Endpoint:
    return Endpoint(
        name, tag, Pricing(prompt / 1e6, completion / 1e6), None, None, 99.0, latency, tput, 0
    )


ENDPOINTS = [
    ep("DeepInfra", 0.27, 1.1, "deepinfra", 600, 60),
    ep("DeepInfra", 0.5, 2.0, "deepinfra/turbo", 300, 150),
    ep("Fireworks", 0.4, 1.7, "fireworks", 400, 90),
    ep("Together", 0.35, 1.5, "together", 500, 110),
]


def test_valid_rules_have_no_issues() -> None:
    rules = RoutingRules(
        sort="price",
        only=("deepinfra", "together"),
        order=("together",),
        require_parameters=True,
        data_collection="deny",
    )
    assert validate(rules, KNOWN) == []


@pytest.mark.parametrize(
    ("rules", "field", "fragment"),
    [
        (RoutingRules(sort="fastest"), "sort", "price, throughput, latency"),
        (RoutingRules(data_collection="never"), "data_collection", "allow or deny"),
        (RoutingRules(only=("a", "a")), "only", "listed twice"),
        (RoutingRules(only=("x",), ignore=("x",)), "only", "both only and ignore"),
        (RoutingRules(order=("x",), ignore=("x",)), "order", "both order and ignore"),
        (RoutingRules(ignore=("Deep Infra",)), "ignore", "'deep-infra'"),
        (RoutingRules(order=("",)), "order", "empty"),
    ],
)
def test_each_error_says_what_and_how(rules: RoutingRules, field: str, fragment: str) -> None:
    errors = errors_in(validate(rules))
    assert any(e.field == field and fragment in e.message for e in errors), errors


def test_unknown_slug_is_a_warning_with_the_closest_names() -> None:
    issues = validate(RoutingRules(ignore=("deepinfa",)), KNOWN)
    assert [i.severity for i in issues] == ["warning"]
    assert "did you mean deepinfra" in issues[0].message
    assert (
        validate(RoutingRules(ignore=("deepinfra/turbo",)), KNOWN) == []
    )  # variant of a known one
    assert validate(RoutingRules(ignore=("deepinfa",))) == []  # offline: no list, no warning


def test_block_with_wrong_types_reports_problems() -> None:
    rules = RoutingRules.from_block(
        {"sort": 3, "only": "anthropic", "require_parameters": "yes", "models": {"x": 1}}
    )
    assert rules.only == ("anthropic",)
    fields = {i.field for i in errors_in(validate(rules))}
    assert fields == {"sort", "require_parameters"}


def test_parse_slugs() -> None:
    assert parse_slugs(" deepinfra, together ,,") == ("deepinfra", "together")
    assert parse_slugs("") == ()


def test_default_is_cheapest_first() -> None:
    rows = simulate(ENDPOINTS, RoutingRules())
    assert [r.endpoint.slug for r in rows] == [
        "deepinfra",
        "together",
        "fireworks",
        "deepinfra/turbo",
    ]
    assert all(r.eligible for r in rows) and rows[0].rank == 1


def test_only_ignore_order_then_sort() -> None:
    rules = RoutingRules(sort="throughput", ignore=("together",), order=("fireworks",))
    rows = simulate(ENDPOINTS, rules)
    assert [(r.endpoint.slug, r.rank) for r in rows] == [
        ("fireworks", 1),
        ("deepinfra/turbo", 2),
        ("deepinfra", 3),
        ("together", None),
    ]
    assert rows[-1].reason == "ignored"
    rows = simulate(ENDPOINTS, RoutingRules(only=("deepinfra",), sort="latency"))
    assert [r.endpoint.slug for r in rows if r.eligible] == ["deepinfra/turbo", "deepinfra"]
    assert {r.reason for r in rows if not r.eligible} == {"not in only"}
    rows = simulate(ENDPOINTS, RoutingRules(only=("deepinfra/turbo",)))
    assert [r.endpoint.slug for r in rows if r.eligible] == ["deepinfra/turbo"]


def test_what_if_prices_tokens_at_first_choice() -> None:
    wi = what_if("m", 1_000_000, 100_000, 2.0, ENDPOINTS, RoutingRules(order=("fireworks",)))
    assert wi.first_choice == "Fireworks"
    assert wi.draft_usd == pytest.approx(0.4 + 0.17)
    none = what_if("m", 1, 1, 1.0, ENDPOINTS, RoutingRules(only=("groq",)))
    assert none.draft_usd is None and first_choice(ENDPOINTS, RoutingRules(only=("groq",))) is None
