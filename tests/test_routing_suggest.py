"""Suggestions from the scorecard: deterministic drafts from a seeded demo log, each with
its reason and its 7-day replay; only keys Hermes 0.19 sends, lowercase slugs."""

from __future__ import annotations

from pathlib import Path

from hermes_dash.calllog.records import Window
from hermes_dash.calllog.store import CallStore
from hermes_dash.demo.generator import generate
from hermes_dash.routing.rules import KNOWN_KEYS, SLUG, RoutingRules
from hermes_dash.routing.scorecard import load_scorecard
from hermes_dash.routing.suggest import Suggestion, suggest

from .conftest import call

NOW = 1_790_000_000.0
MODEL = "deepseek/deepseek-chat-v3.1"


def _suggestions(db: Path, rules: RoutingRules) -> list[Suggestion]:
    store = CallStore(db)
    generate(store, 20_000, seed=7, days=7, now=NOW)
    card = load_scorecard(store, MODEL, Window.named("24h", NOW))
    week = load_scorecard(store, MODEL, Window.named("7d", NOW))
    out = suggest(card, rules, week)
    store.close()
    return out


def test_suggestions_are_reproducible_from_a_seeded_demo_log(tmp_path: Path) -> None:
    first = _suggestions(tmp_path / "a.db", RoutingRules())
    again = _suggestions(tmp_path / "b.db", RoutingRules())
    assert first == again
    assert [s.title for s in first] == ["order: fireworks, together, deepinfra", "sort by latency"]
    for s in first:
        block = s.draft.as_block()
        assert set(block) <= set(KNOWN_KEYS) and set(s.keys) <= set(block)
        assert all(
            SLUG.match(slug) for k in ("only", "ignore", "order") for slug in block.get(k, [])
        )
        assert s.replay is not None and s.replay.draft is not None
        assert s.replay.draft.served_by == "Fireworks"
        assert s.replay.logged.calls == s.replay.draft.calls > 0


def test_the_order_reason_quotes_the_scorecard(tmp_path: Path) -> None:
    store = CallStore(tmp_path / "c.db")
    generate(store, 20_000, seed=7, days=7, now=NOW)
    card = load_scorecard(store, MODEL, Window.named("24h", NOW))
    (order, _) = suggest(card, RoutingRules())
    by = card.by_slug()
    p95 = [by[s].latency_p95_s for s in order.draft.order]
    assert p95 == sorted(p95)
    assert f"{by['fireworks'].latency_p95_s:.1f} s for Fireworks" in order.reason
    assert f"{by['deepinfra'].latency_p95_s:.1f} s for DeepInfra" in order.reason
    # Already ordered that way: nothing more to suggest about the order.
    again = suggest(card, RoutingRules(order=order.draft.order, sort="latency"))
    assert again == []


def test_an_upstream_failing_often_is_suggested_for_ignore(store: CallStore) -> None:
    rows = []
    for i in range(40):
        rows.append(call(NOW - 100 - i, model=MODEL, upstream="DeepInfra", latency_s=1.0))
        bad = i % 2 == 0
        rows.append(
            call(
                NOW - 100 - i,
                model=MODEL,
                status="error" if bad else "ok",
                http_status=429 if bad else 200,
                upstream=None if bad else "Chutes",
                error_provider="Chutes" if bad else None,
                latency_s=2.0,
            )
        )
    store.insert(rows)
    card = load_scorecard(store, MODEL, Window.named("24h", NOW))
    rules = RoutingRules(order=("chutes", "deepinfra"))
    ignore = [s for s in suggest(card, rules) if s.kind == "ignore"]
    assert len(ignore) == 1
    (s,) = ignore
    assert s.draft.ignore == ("chutes",) and s.draft.order == ("deepinfra",)
    assert s.keys == ("ignore", "order")
    assert "Chutes: 20 errors, 20 of them 429s, in 40 attempts over 24h (50% failed)" in s.reason
