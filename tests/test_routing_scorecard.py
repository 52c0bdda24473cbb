"""The upstream scorecard: its figures equal a plain computation over the same rows of a
real SQLite call log."""

from __future__ import annotations

import math
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hermes_dash.calllog.records import Window
from hermes_dash.calllog.store import CallStore
from hermes_dash.openrouter.records import Endpoint, Pricing, Provider
from hermes_dash.routing.scorecard import MIN_SAMPLE, load_scorecard, nearest_rank, slug_for

T0 = 1_700_000_000.0
MODEL = "deepseek/deepseek-chat-v3.1"
UPSTREAMS = ["DeepInfra", "Chutes", "Amazon Bedrock", None]

seconds = st.floats(min_value=0.001, max_value=120, allow_nan=False)
tokens = st.integers(min_value=0, max_value=50_000)


@st.composite
def attempt(draw: st.DrawFn) -> dict[str, Any]:
    status = draw(st.sampled_from([200, 200, 200, 429, 500, None]))
    ok = status == 200
    upstream = draw(st.sampled_from(UPSTREAMS))
    billed = ok and draw(st.booleans())
    return {
        "started_at": T0 + draw(st.floats(min_value=-7200, max_value=7200)),
        "provider": "openrouter",
        "model": draw(st.sampled_from([MODEL, MODEL, "other/model"])),
        "status": "ok" if ok else "error",
        "http_status": status,
        "upstream": upstream if ok else None,
        "error_provider": upstream if status == 429 else None,
        "latency_s": draw(st.none() | seconds),
        "ttft_s": draw(st.none() | seconds),
        "input_tokens": draw(st.none() | tokens),
        "output_tokens": draw(st.none() | tokens),
        "cost_usd": draw(st.floats(min_value=0, max_value=2)) if billed else None,
        "cost_source": "openrouter" if billed else draw(st.sampled_from([None, "estimate"])),
        "attempt": draw(st.sampled_from([None, 1, 2, 3])),
    }


def plain(db: Path, window: Window) -> dict[str, dict[str, Any]]:
    """The figures computed the plain way: SQL rows, Python lists, sorted, ranked."""
    conn = sqlite3.connect(db)
    rows = conn.execute(
        "SELECT COALESCE(upstream, error_provider, ''), status, http_status, latency_s, ttft_s, "
        "input_tokens, output_tokens, cost_usd, cost_source, attempt FROM calls "
        "WHERE model = ? AND started_at >= ? AND started_at <= ?",
        (MODEL, window.start, window.end),
    ).fetchall()
    conn.close()

    def rank(values: list[float], q: float) -> float | None:
        if not values:
            return None
        values = sorted(values)
        return values[max(0, math.ceil(q * len(values)) - 1)]

    out: dict[str, dict[str, Any]] = {}
    for name in {r[0] for r in rows}:
        mine = [r for r in rows if r[0] == name]
        ok = [r for r in mine if r[1] == "ok"]
        lat = [r[3] for r in ok if r[3] is not None]
        timed = [(r[6], r[3]) for r in ok if r[6] is not None and r[3] is not None and r[3] > 0]
        billed = [r for r in mine if r[8] == "openrouter" and r[7] is not None]
        btok = sum((r[5] or 0) + (r[6] or 0) for r in billed)
        secs = sum(s for _, s in timed)
        out[name] = {
            "calls": sum(1 for r in mine if (r[9] or 1) == 1),
            "attempts": len(mine),
            "errors": len(mine) - len(ok),
            "rate_limited": sum(1 for r in mine if r[2] == 429),
            "p50": rank(lat, 0.5),
            "p95": rank(lat, 0.95),
            # A first token after the attempt's end is a clock error: left out.
            "ttft": rank(
                [r[4] for r in ok if r[4] is not None and (r[3] is None or r[4] <= r[3])], 0.5
            ),
            "tps": sum(t for t, _ in timed) / secs if secs > 0 else None,
            "per_m": sum(r[7] for r in billed) / btok * 1e6 if btok > 0 else None,
        }
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(attempt(), max_size=60))
def test_scorecard_equals_a_plain_computation(rows: list[dict[str, Any]]) -> None:
    window = Window(T0 - 3600, T0 + 3600, "2h")
    with tempfile.TemporaryDirectory() as d:
        db = Path(d) / "calls.db"
        store = CallStore(db)
        store.insert(rows)
        card = load_scorecard(store, MODEL, window)
        store.close()
        expected = plain(db, window)
    got = {
        s.upstream: {
            "calls": s.calls,
            "attempts": s.attempts,
            "errors": s.errors,
            "rate_limited": s.rate_limited,
            "p50": s.latency_p50_s,
            "p95": s.latency_p95_s,
            "ttft": s.ttft_p50_s,
            "tps": s.throughput_tps,
            "per_m": s.billed_per_mtok,
        }
        for s in card.rows
    }
    assert set(got) == set(expected)
    for name, figures in expected.items():
        for key, value in figures.items():
            if isinstance(value, float):
                assert math.isclose(got[name][key], value, rel_tol=1e-9), (name, key)
            else:
                assert got[name][key] == value, (name, key)
        score = next(s for s in card.rows if s.upstream == name)
        assert score.small_sample == (figures["attempts"] < MIN_SAMPLE)
        assert bool(score.note) == score.small_sample


def test_nearest_rank_is_an_observed_value() -> None:
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert nearest_rank(values, 0.5) == 3.0
    assert nearest_rank(values, 0.95) == 5.0
    assert nearest_rank(values, 0.2) == 1.0
    assert nearest_rank([], 0.5) is None


def test_slugs_come_from_the_provider_list_then_endpoints_then_a_rule() -> None:
    providers = [Provider(name="Google Vertex", slug="google-vertex")]
    endpoint = Endpoint("Together", "together/fp8", Pricing(), None, None, None, None, None, None)
    assert slug_for("google vertex", providers) == "google-vertex"
    assert slug_for("Together", providers, [endpoint]) == "together"
    assert slug_for("Amazon Bedrock") == "amazon-bedrock"
    assert slug_for("  Weird!! Name ") == "weird-name"


def test_unbilled_upstream_cost_is_unknown_not_zero(store: CallStore) -> None:
    store.insert(
        [
            {
                "started_at": T0,
                "model": MODEL,
                "provider": "openrouter",
                "status": "ok",
                "http_status": 200,
                "upstream": "Chutes",
                "latency_s": 1.0,
                "output_tokens": 10,
                "input_tokens": 10,
                "cost_usd": 0.001,
                "cost_source": "estimate",
            }
        ]
    )
    card = load_scorecard(store, MODEL, Window(T0 - 1, T0 + 1))
    (chutes,) = card.rows
    assert chutes.billed_per_mtok is None and chutes.billed_rows == 0
    assert chutes.slug == "chutes" and chutes.small_sample
