"""``routing suggest`` against a call log with hostile upstream names, through a real CLI
process: drafts name only valid slugs (never one made up for a name that gives none,
never one twice), names are shown literally, and a bad ``--model`` is answered plainly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hermes_dash.calllog.store import CallStore
from hermes_dash.routing.rules import SLUG, RoutingRules, errors_in, validate
from hermes_dash.routing.scorecard import slug_rule

from .conftest import call

MODEL = "m/x"


def run(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HERMES_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "hermes_dash", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "hermes"
    (home / "hermes-dash").mkdir(parents=True)
    (home / "config.yaml").write_text(f"model:\n  default: {MODEL}\n  provider: openrouter\n")
    return home


def _seed(home: Path, latencies: dict[str, float], failing: tuple[str, ...] = ()) -> None:
    now = time.time()
    rows = [
        call(now - 100 - i, model=MODEL, upstream=name, latency_s=latency)
        for name, latency in latencies.items()
        for i in range(30)
    ]
    rows += [
        call(now - 50 - i, model=MODEL, error_provider=name, http_status=429, status="error")
        for name in failing
        for i in range(30)
    ]
    store = CallStore(home / "hermes-dash" / "calls.db")
    store.insert(rows)
    store.close()


def test_slugs_come_only_from_names_that_give_a_valid_one() -> None:
    assert slug_rule("Amazon Bedrock") == "amazon-bedrock"
    assert slug_rule("\x1b[31mRed\x1b[0m") == "red"  # the name as shown, not its escapes
    for name in ("!!!", "[/]", "...", "", "-", "A" * 10_000):
        assert slug_rule(name) is None


def test_drafts_never_name_a_made_up_or_repeated_slug(home: Path) -> None:
    _seed(
        home,
        {
            "Deep Infra": 1.0,
            "deep-infra": 1.1,
            "Slow": 5.0,
            "!!!": 0.5,
            "[/]": 9.0,
            "A" * 10_000: 2,
        },
        failing=("?!",),
    )
    r = run("routing", "suggest", "--offline", "--json", home=home)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    slugs = {u["upstream"][:20]: u["slug"] for u in out["upstreams"]}
    assert slugs["!!!"] is None and slugs["[/]"] is None and slugs["?!"] is None
    assert slugs["A" * 20] is None
    kinds = {s["kind"]: s for s in out["suggestions"]}
    # '?!' failed every attempt but has no slug: nothing to ignore it by.
    assert "ignore" not in kinds
    order = kinds["order"]["draft"]["order"]
    assert order == ["deep-infra", "slow"]
    for s in out["suggestions"]:
        rules = RoutingRules.from_block(s["draft"])
        assert not errors_in(validate(rules))
        assert all(SLUG.match(x) for x in (*rules.ignore, *rules.order, *rules.only))


def test_a_slug_shared_with_a_healthy_upstream_is_not_ignored(home: Path) -> None:
    _seed(home, {"Deep Infra": 1.0, "Fast": 1.0}, failing=("deep-infra",))
    out = json.loads(run("routing", "suggest", "--offline", "--json", home=home).stdout)
    assert [s for s in out["suggestions"] if s["kind"] == "ignore"] == []


def test_hostile_names_are_shown_literally(home: Path) -> None:
    _seed(home, {"[@click=app.quit]x[/]": 1.0, "Evil\x1b]0;pwn\x07Name": 3.0})
    r = run("routing", "suggest", "--offline", home=home)
    assert r.returncode == 0, r.stderr
    assert "[@click=app.quit]x[/]" in r.stdout and "EvilName" in r.stdout
    assert "\x1b" not in r.stdout and "\x07" not in r.stdout


def test_an_empty_or_unknown_model_is_answered_plainly(home: Path) -> None:
    _seed(home, {"Fast": 1.0})
    r = run("routing", "suggest", "--offline", "--model", "", home=home)
    assert r.returncode == 2 and "--model" in r.stderr and "Traceback" not in r.stderr
    r = run("routing", "suggest", "--offline", "--model", "[b]no/such[/b]", home=home)
    assert r.returncode == 0, r.stderr
    assert "No call to [b]no/such[/b] in the call log over 24h" in r.stdout
    assert "no clear reason" not in r.stdout


def test_impossible_latencies_and_costs_are_unknown_not_figures(home: Path) -> None:
    now = time.time()
    rows = [
        call(now - 100 - i, model=MODEL, upstream="Fast", latency_s=1.0, ttft_s=0.5)
        for i in range(30)
    ]
    rows += [
        call(now - 10, model=MODEL, upstream="Huge", latency_s=1e300, cost_usd=1e300),
        call(now - 10, model=MODEL, upstream="Skewed", latency_s=1.0, ttft_s=50.0),
        call(now - 10, model=MODEL, upstream="NaN", latency_s=float("nan"), cost_usd=-1.0),
    ]
    store = CallStore(home / "hermes-dash" / "calls.db")
    store.insert(rows)
    store.close()
    r = run("routing", "suggest", "--offline", "--json", home=home)
    assert r.returncode == 0, r.stderr
    ups = {u["upstream"]: u for u in json.loads(r.stdout)["upstreams"]}
    assert ups["Huge"]["latency_p50_s"] is None and ups["Huge"]["billed_usd_per_mtok"] is None
    assert ups["Skewed"]["ttft_p50_s"] is None and ups["Skewed"]["latency_p50_s"] == 1.0
    assert ups["NaN"]["latency_p50_s"] is None and ups["NaN"]["billed_usd_per_mtok"] is None
    assert ups["Fast"]["ttft_p50_s"] == 0.5
    text = run("routing", "suggest", "--offline", home=home).stdout
    assert max(len(line) for line in text.splitlines()[:6]) < 160


def test_an_impossible_token_count_does_not_price_the_what_if(home: Path) -> None:
    now = time.time()
    rows = [
        call(now - 100 - i, model=MODEL, upstream=name, latency_s=latency)
        for name, latency in (("Fast", 1.0), ("Slow", 5.0))
        for i in range(30)
    ]
    rows += [
        call(now - 30 - i, model=MODEL, error_provider="Bad", http_status=429, status="error")
        for i in range(30)
    ]
    rows.append(call(now - 10, model=MODEL, upstream="Slow", output_tokens=10**14))
    store = CallStore(home / "hermes-dash" / "calls.db")
    store.insert(rows)
    store.close()
    out = json.loads(run("routing", "suggest", "--offline", "--json", home=home).stdout)
    for s in out["suggestions"]:
        draft = s["what_if"]["draft"]
        # 91 calls of 110 tokens at $0.01 each: cents, not billions.
        assert draft is not None and draft["cost_usd"] < 10, s


def test_a_route_over_thousands_of_upstreams_is_placed_in_linear_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from hermes_dash.openrouter.records import Endpoint, Pricing
    from hermes_dash.routing.simulate import simulate

    n = 1000
    endpoints = [
        Endpoint(
            provider_name=f"Up{i}",
            tag=f"up{i}",
            pricing=Pricing(prompt=1e-6, completion=1e-6),
            quantization=None,
            context_length=None,
            uptime_last_30m=None,
            latency_p50_ms=None,
            throughput_p50=None,
            status=None,
        )
        for i in range(n)
    ]
    lookups = 0
    real = Endpoint.slug.fget
    assert real is not None

    def counting(self: Endpoint) -> str:
        nonlocal lookups
        lookups += 1
        return real(self)

    monkeypatch.setattr(Endpoint, "slug", property(counting))
    # An order draft names every upstream seen: one slug each, slowest seen first here.
    rules = RoutingRules(order=tuple(f"up{i}" for i in reversed(range(n))), ignore=("up998",))
    rows = simulate(endpoints, rules)
    assert [r.endpoint.tag for r in rows[:3]] == ["up999", "up997", "up996"]
    assert rows[-1].endpoint.tag == "up998" and not rows[-1].eligible
    assert lookups <= 10 * n  # each endpoint's names looked at a few times, not n times


def test_a_slug_openrouter_lists_is_used_only_when_it_is_one() -> None:
    from hermes_dash.openrouter.records import Provider
    from hermes_dash.routing.scorecard import slug_for

    providers = [
        Provider(name="DeepInfra", slug="[b]Deep Infra!"),
        Provider(name="Chutes", slug="c" * 500),
        Provider(name="Fireworks", slug="fireworks"),
    ]
    assert slug_for("DeepInfra", providers) == "deepinfra"
    assert slug_for("Chutes", providers) == "chutes"
    assert slug_for("fireworks", providers) == "fireworks"
