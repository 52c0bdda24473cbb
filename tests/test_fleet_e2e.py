"""End to end: a real Prometheus scraping two ``hermes-dash metrics`` processes over two
demo call logs; PromQL totals equal each log's own totals in plain SQL."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from hermes_dash.calllog.store import CallStore
from hermes_dash.cli import main
from hermes_dash.tui.fleet import FleetApp, make_fleet_app

from .conftest import call
from .metrics_helpers import exporter, log_totals
from .prometheus_server import BINARY, prometheus, query, scalar
from .prometheus_server import wait_for as wait_until
from .tui_helpers import Notices, wait_for

ROOT = Path(__file__).resolve().parents[1]
HOSTS = {"alpha": 1500, "beta": 2500}


@dataclass(frozen=True)
class Fleet:
    """Prometheus' URL and each host's log totals."""

    url: str
    totals: dict[str, dict[str, float]]
    dbs: dict[str, Path]

    def combined(self, key: str) -> float:
        return sum(t[key] for t in self.totals.values())


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    if not BINARY.exists():
        from .conftest import PROMETHEUS_SKIP

        pytest.skip(PROMETHEUS_SKIP)
    tmp = tmp_path_factory.mktemp("fleet")
    totals: dict[str, dict[str, float]] = {}
    dbs: dict[str, Path] = {}
    with contextlib.ExitStack() as stack:
        targets = {}
        for seed, (host, n) in enumerate(HOSTS.items(), start=3):
            db = tmp / f"{host}.db"
            assert main(["demo", "--generate", str(n), "--db", str(db), "--seed", str(seed)]) == 0
            totals[host] = log_totals(db)
            dbs[host] = db
            # alpha has a daily budget its log has already spent: the shipped rule fires.
            settings = tmp / f"{host}-settings.json"
            settings.write_text('{"daily_budget_usd": 0.01}' if host == "alpha" else "{}")
            env = {"HERMES_DASH_SETTINGS": str(settings)}
            _, metrics_url = stack.enter_context(exporter(db, env=env))
            targets[host] = metrics_url.removeprefix("http://").removesuffix("/metrics")
        url = stack.enter_context(prometheus(tmp, targets))

        def both_scraped() -> bool:
            ups = query(url, 'up{job="hermes-dash"}')
            scraped = query(url, "hermes_dash_calllog_up")
            return len(ups) == 2 and all(r["value"][1] == "1" for r in ups) and len(scraped) == 2

        wait_until(both_scraped, what="Prometheus to scrape both exporters")
        yield Fleet(url, totals, dbs)


def test_promql_totals_equal_the_logs(fleet: Fleet) -> None:
    assert scalar(fleet.url, "sum(hermes_dash_requests_total)") == fleet.combined("requests")
    assert scalar(fleet.url, "sum(hermes_dash_calls_total)") == fleet.combined("calls")
    assert scalar(fleet.url, "sum(hermes_dash_rate_limited_total)") == fleet.combined(
        "rate_limited"
    )
    assert scalar(fleet.url, "sum(hermes_dash_errors_total)") == fleet.combined("errors")
    cost = scalar(fleet.url, "sum(hermes_dash_cost_usd_total)")
    want = fleet.combined("billed") + fleet.combined("estimated")
    assert cost == pytest.approx(want, rel=1e-9)
    billed = scalar(fleet.url, 'sum(hermes_dash_cost_usd_total{source="billed"})')
    assert billed == pytest.approx(fleet.combined("billed"), rel=1e-9)
    # Per host, through the label the scrape config gave each target.
    for row in query(fleet.url, "sum by (host) (hermes_dash_requests_total)"):
        host = row["metric"]["host"]
        assert float(row["value"][1]) == fleet.totals[host]["requests"]
    per_host_429 = {
        r["metric"]["host"]: float(r["value"][1])
        for r in query(fleet.url, "sum by (host) (hermes_dash_rate_limited_total)")
    }
    assert per_host_429 == {h: t["rate_limited"] for h, t in fleet.totals.items()}


def test_every_shipped_expression_runs_on_prometheus(fleet: Fleet) -> None:
    """The alert rules and every dashboard panel are valid PromQL that Prometheus runs
    over real exporter data (Grafana's variables given plain values)."""
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())
    exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    dash = json.loads((ROOT / "deploy" / "grafana" / "hermes-dash.json").read_text())
    exprs += [t["expr"] for p in dash["panels"] for t in p["targets"]]
    for expr in exprs:
        promql = expr.replace("$__rate_interval", "1m").replace("$host", ".*")
        query(fleet.url, promql)
    p95 = query(
        fleet.url,
        "histogram_quantile(0.95, sum by (le, upstream) (hermes_dash_latency_seconds_bucket))",
    )
    assert p95 and all(float(r["value"][1]) > 0 for r in p95 if r["value"][1] != "NaN")


def _text(app: FleetApp, selector: str) -> str:
    return str(app.screen.query_one(selector).render())


async def test_fleet_dashboard_shows_the_combined_numbers(fleet: Fleet) -> None:
    """``--prometheus``: the main screen over both hosts, then over one."""
    app = make_fleet_app(fleet.url, window="all", refresh_s=3600)
    notices = Notices()
    async with app.run_test(size=(180, 50), message_hook=notices) as pilot:
        await wait_for(pilot, lambda: app.last is not None, "the first fleet read")
        calls, attempts = int(fleet.combined("calls")), int(fleet.combined("requests"))
        limited = int(fleet.combined("rate_limited"))
        spend = _text(app, "#spend-stats")
        assert f"over {calls:,} calls" in spend
        cost = fleet.combined("billed") + fleet.combined("estimated")
        assert f"Logged all: ${cost:,.2f}" in spend
        rate = _text(app, "#rate-stats")
        assert f"429s in all: {limited:,} of {attempts:,} attempts" in rate
        status = _text(app, "#status")
        assert "all hosts (2 reporting)" in status and fleet.url in status
        # Providers' rows add up to the fleet's attempts; p50/p95 come from the buckets.
        assert app.last is not None
        providers = app.last.data.providers
        assert sum(g.totals.attempts for g in providers) == attempts
        assert any(g.latency_p95_s for g in providers)
        assert app.screen.query_one("#calls-unavailable").display
        # One host through the selector.
        await pilot.press("f")
        await wait_for(pilot, lambda: len(app.screen_stack) == 2, "the host picker")
        picker = app.screen.query_one("#hosts")
        await pilot.click(picker)
        picker.highlighted = 2  # all hosts, alpha, beta
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: (
                app.host == "beta"
                and app.last is not None
                and "beta" in _text(app, "#status")
                and f"over {int(fleet.totals['beta']['calls']):,} calls"
                in _text(app, "#spend-stats")
            ),
            "beta's numbers",
        )
        # The shipped budget rule fires on Prometheus, for alpha only: in the banner.
        await pilot.press("r")
        await wait_for(
            pilot,
            lambda: "beta" not in _text(app, "#banner") and app.host == "beta",
            "beta's banner",
        )
        await pilot.press("f")
        await wait_for(pilot, lambda: len(app.screen_stack) == 2, "the host picker")
        app.screen.query_one("#hosts").highlighted = 0
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: "alpha: daily budget reached" in _text(app, "#banner"),
            "the budget alert from Prometheus",
        )
        # Local screens say why they are not here instead of opening.
        await pilot.press("e")
        await wait_for(
            pilot,
            lambda: any("routing editor" in m for m in notices.messages()),
            "a note",
        )
        assert len(app.screen_stack) == 1


async def test_a_window_counts_what_prometheus_saw_grow(fleet: Fleet) -> None:
    """Calls added while Prometheus scrapes show in the last hour (``increase``), the
    older history only in ``all``. Runs last: it adds rows to one host's log."""
    db = fleet.dbs["alpha"]
    before = log_totals(db)
    now = time.time()
    store = CallStore(db)
    # Onto a series Prometheus already has: a new label set's first value is where
    # increase() starts counting (see the README).
    provider, endpoint, upstream, model = store.conn.execute(
        "SELECT provider, endpoint, upstream, model FROM calls WHERE status = 'ok' "
        "AND upstream IS NOT NULL AND endpoint IS NOT NULL LIMIT 1"
    ).fetchone()
    same = {"provider": provider, "endpoint": endpoint, "upstream": upstream, "model": model}
    store.insert(
        [
            call(now - i, status="error", http_status=429, cost_usd=None, cost_source=None, **same)
            for i in range(20)
        ]
    )
    store.close()
    want = before["rate_limited"] + 20 + fleet.totals["beta"]["rate_limited"]
    wait_until(
        lambda: scalar(fleet.url, "sum(hermes_dash_rate_limited_total)") == want,
        what="Prometheus to scrape the new rows",
    )
    app = make_fleet_app(fleet.url, window="1h", refresh_s=3600)
    async with app.run_test(size=(180, 50)) as pilot:
        await wait_for(pilot, lambda: app.last is not None, "the first fleet read")
        limited = app.last.data.totals.rate_limited if app.last else 0
        # increase() extrapolates the growth it saw to the edges of the window (by half a
        # scrape interval at most where samples start): never less than the 20 added, and
        # with at least one interval of samples, at most twice that.
        assert 20 <= limited <= 40, limited
        assert "429s in 1h:" in _text(app, "#rate-stats")
