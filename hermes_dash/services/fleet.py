"""The dashboard's figures for a whole fleet, from PromQL over ``hermes-dash metrics``.

A second source behind the interface the main screen already draws
(:class:`~hermes_dash.services.dashboard.DashboardData` and an
:class:`~hermes_dash.services.account.AccountState`): the same panels show one machine's
call log or fifty machines' exporters. Windows count what Prometheus saw the counters grow
by (``increase``); the window ``all`` is the logs' whole totals as last scraped. What
PromQL cannot give (single calls, the last 429's details, the free-model quota, the bill
reconciliation) is left empty, never made up.
"""

from __future__ import annotations

import asyncio
import math
from collections import defaultdict
from collections.abc import Awaitable
from dataclasses import dataclass

from hermes_dash.calllog.records import (
    WINDOWS,
    AccountSnapshot,
    CallTotals,
    GroupStats,
    SeriesPoint,
    Window,
)
from hermes_dash.services.account import AccountState
from hermes_dash.services.alerts import Alert
from hermes_dash.services.dashboard import DashboardData
from hermes_dash.services.promql import FiringAlert, PrometheusClient, Sample, quote
from hermes_dash.services.summary import Burn

#: The window of the logs' whole totals (what each exporter holds since its first row).
ALL = "all"
FLEET_WINDOWS = (ALL, *WINDOWS)
#: The label the scrape config gives each exporter (see deploy/prometheus/prometheus.yml);
#: without it, Prometheus' own ``instance``.
HOST_LABEL = "host"
FALLBACK_HOST_LABEL = "instance"
#: The series that every exporter always has: who reports at all.
PRESENCE = "hermes_dash_calllog_up"
#: The span the charts cover for ``all`` (Prometheus keeps 15 days by default).
ALL_CHART_S = 86400.0
CHART_POINTS = 60
#: Queries in flight at once: a refresh asks about 30, a small server should not see them all.
PARALLEL_QUERIES = 8

GROUP = ("provider", "endpoint", "upstream", "model")
#: Counter families summed per (provider, endpoint, upstream, model), and the measure
#: each becomes (the names of :class:`CallTotals`'s rollup measures).
COUNTERS = {
    "hermes_dash_requests_total": "calls",
    "hermes_dash_calls_total": "logical_calls",
    "hermes_dash_rate_limited_total": "rate_limited",
    "hermes_dash_errors_total": "errors",
    "hermes_dash_input_tokens_total": "input_tokens",
    "hermes_dash_output_tokens_total": "output_tokens",
}
#: Not in fleet mode, and why (one line each, shown where the screen would be).
UNAVAILABLE = {
    "calls": "Prometheus holds totals, not single calls: run hermes-dash on a host to list them",
    "routing": "the routing editor edits a local config.yaml: run hermes-dash on that host",
    "settings": "budgets live on each host: set them there (hermes-dash budget set)",
    "key_limits": "key limits need the management key: run hermes-dash where it is set",
    "sources": "sessions and tasks are not exported (low cardinality): run hermes-dash on a host",
    "cost_check": "the cost check reads each host's log and state.db: run it on that host",
}


@dataclass(frozen=True)
class FleetRead:
    """One refresh of the fleet: the figures, the account, who reports."""

    data: DashboardData
    account: AccountState
    has_account: bool
    """Whether any exporter reports its OpenRouter account (has a key)."""
    hosts_reporting: int
    alerts: list[Alert]
    """hermes-dash's alert rules firing in Prometheus (deploy/prometheus/alerts.yml)."""


def selector(label: str, host: str | None) -> str:
    """The label matcher of the chosen host, or none for every host."""
    return "" if host is None else f"{{{label}={quote(host)}}}"


#: A counter, its growth or a latency is never negative nor near the float limit: outside
#: [0, this) a sample is someone else's error, left out rather than summed to infinity
#: (the bound the exporter's rollups keep too).
MAX_SANE_VALUE = 1e300


def _sane(value: float) -> bool:
    return 0 <= value < MAX_SANE_VALUE  # NaN fails both


def _sane_sum(samples: list[Sample]) -> float | None:
    values = [s.value for s in samples if _sane(s.value)]
    return sum(values) if values else None


class FleetSource:
    """Builds :class:`FleetRead` from one Prometheus server."""

    def __init__(self, client: PrometheusClient) -> None:
        self.client = client
        self._gate = asyncio.Semaphore(PARALLEL_QUERIES)

    async def hosts(self) -> tuple[str, list[str]]:
        """The host label in use and its values on the exporters' series."""
        values = await self.client.label_values(HOST_LABEL, PRESENCE)
        if values:
            return HOST_LABEL, values
        return FALLBACK_HOST_LABEL, await self.client.label_values(FALLBACK_HOST_LABEL, PRESENCE)

    async def _q(self, promql: str, at: float) -> list[Sample]:
        async with self._gate:
            return await self.client.query(promql, at)

    async def read(self, window_name: str, label: str, host: str | None, now: float) -> FleetRead:
        """Every figure of the main screen for ``window_name`` and the host chosen."""
        sel = selector(label, host)
        if window_name == ALL:
            window = Window(now - ALL_CHART_S, now + 0.001, ALL)

            def over(name: str) -> str:
                return f"{name}{sel}"
        else:
            window = Window.named(window_name, now)
            span = f"{int(WINDOWS[window_name])}s"

            def over(name: str) -> str:
                return f"increase({name}{sel}[{span}])"

        by = ", ".join(GROUP)
        jobs: dict[str, Awaitable[list[Sample]]] = {
            name: self._q(f"sum by ({by}) ({over(name)})", now) for name in COUNTERS
        }
        jobs["cost"] = self._q(f"sum by ({by}, source) ({over('hermes_dash_cost_usd_total')})", now)
        jobs["unpriced"] = self._q(f"sum by ({by}) (hermes_dash_unpriced_requests{sel})", now)
        for hist in ("latency", "ttft"):
            for q in (0.5, 0.95):
                inner = over(f"hermes_dash_{hist}_seconds_bucket")
                jobs[f"{hist}{q}"] = self._q(
                    f"histogram_quantile({q}, sum by (le, provider, endpoint, upstream) ({inner}))",
                    now,
                )
        for hours in (1, 24):
            jobs[f"burn{hours}"] = self._q(
                f"sum(increase(hermes_dash_cost_usd_total{sel}[{hours}h]))", now
            )
        for name in ACCOUNT_GAUGES:
            jobs[name] = self._q(f"hermes_dash_{name}{sel}", now)
        for period in ("daily", "monthly"):
            jobs[f"spend_{period}"] = self._q(
                f'sum(hermes_dash_spend_usd{{period="{period}"{_inner(sel)}}})', now
            )
        jobs["present"] = self._q(f"{PRESENCE}{sel}", now)
        names = list(jobs)
        results = dict(zip(names, await asyncio.gather(*jobs.values()), strict=True))
        series = await self._series(window, sel, now)
        firing = await self.client.firing_alerts()
        chosen = [a for a in firing if host is None or a.labels.get(label) == host]
        return self._build(window, results, series, chosen)

    async def _series(self, window: Window, sel: str, now: float) -> list[SeriesPoint]:
        step = max(60.0, (now - window.start) / CHART_POINTS)
        start = window.start + step
        parts = {}
        for key, name in (
            ("cost", "hermes_dash_cost_usd_total"),
            ("rate_limited", "hermes_dash_rate_limited_total"),
            ("calls", "hermes_dash_calls_total"),
        ):
            async with self._gate:
                found = await self.client.query_range(
                    f"sum(increase({name}{sel}[{int(step)}s]))", start, now, step
                )
            # Only the times asked for (give or take the rounding of the query's
            # parameters): a point elsewhere, or no time at all, would stretch the chart.
            parts[key] = {
                t: v
                for s in found
                for t, v in s.points
                if _sane(v) and start - 1.0 <= t <= now + 1.0
            }
        times = sorted(set().union(*(p.keys() for p in parts.values())))
        return [
            SeriesPoint(
                t,
                parts["cost"].get(t, 0.0),
                round(parts["rate_limited"].get(t, 0.0)),
                round(parts["calls"].get(t, 0.0)),
            )
            for t in times
        ]

    def _build(
        self,
        window: Window,
        r: dict[str, list[Sample]],
        series: list[SeriesPoint],
        firing: list[FiringAlert],
    ) -> FleetRead:
        measures: dict[tuple[str, ...], dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for name, measure in COUNTERS.items():
            for s in r[name]:
                if _sane(s.value):
                    measures[_key(s)][measure] += s.value
        for s in r["cost"]:
            if _sane(s.value):
                measures[_key(s)]["cost_usd"] += s.value
                if s.labels.get("source") == "estimated":
                    measures[_key(s)]["cost_estimated_usd"] += s.value
        for s in r["unpriced"]:
            if _sane(s.value):
                measures[_key(s)]["unpriced"] += s.value
        providers: dict[tuple[str, ...], dict[str, float]] = defaultdict(lambda: defaultdict(float))
        models: dict[tuple[str, ...], dict[str, float]] = defaultdict(lambda: defaultdict(float))
        whole: dict[str, float] = defaultdict(float)
        for key, m in measures.items():
            for measure, value in m.items():
                providers[key[:3]][measure] += value
                models[key[3:]][measure] += value
                whole[measure] += value
        quantiles = {
            name: {_key(s)[:3]: s.value for s in r[name] if _sane(s.value)}
            for name in ("latency0.5", "latency0.95", "ttft0.5", "ttft0.95")
        }
        provider_stats = [
            GroupStats(
                key,
                _totals(m),
                quantiles["latency0.5"].get(key),
                quantiles["latency0.95"].get(key),
                quantiles["ttft0.5"].get(key),
                quantiles["ttft0.95"].get(key),
            )
            for key, m in providers.items()
        ]
        model_stats = [GroupStats(key, _totals(m), None, None) for key, m in models.items()]
        snap, runway = _account(r, window.end)
        remaining = None
        if snap is not None:
            left = [v for v in (snap.balance, snap.limit_remaining) if v is not None]
            remaining = max(0.0, min(left)) if left else None
        b1, b24 = _sane_sum(r["burn1"]), _sane_sum(r["burn24"])
        data = DashboardData(
            window=window,
            totals=_totals(whole),
            burn_1h=Burn(b1, runway, remaining),
            burn_24h=Burn(None if b24 is None else b24 / 24.0, runway, remaining),
            spend_today_usd=_sane_sum(r["spend_daily"]) or 0.0,
            spend_month_usd=_sane_sum(r["spend_monthly"]) or 0.0,
            providers=sorted(provider_stats, key=lambda g: -g.calls),
            models=sorted(model_stats, key=lambda g: -g.calls),
            series=series,
            account_series=None,
            snapshots=[],
            last_rate_limit=None,
            free_quota=None,
        )
        polls = r["account_poll_ok"]
        if snap is None:
            account = AccountState.offline("no exporter reports an OpenRouter account")
        elif any(s.value == 0 for s in polls):
            account = AccountState(
                "error", snap, "an exporter's last OpenRouter poll failed", stale=True
            )
        else:
            account = AccountState("ok", snap)
        alerts = [_alert(a) for a in firing if a.labels.get("alertname", "").startswith(RULES)]
        return FleetRead(data, account, snap is not None, len(r["present"]), alerts)


#: Account gauges read per host.
ACCOUNT_GAUGES = (
    "account_poll_ok",
    "account_balance_usd",
    "key_usage_usd",
    "key_usage_daily_usd",
    "key_usage_weekly_usd",
    "key_usage_monthly_usd",
    "key_limit_usd",
    "key_limit_remaining_usd",
    "runway_hours",
)


#: The shipped rules' names start with this; other teams' alerts are not ours to show.
RULES = "HermesDash"


def _alert(a: FiringAlert) -> Alert:
    """A firing rule as the banner shows alerts: its summary (the host in it), critical
    ones in red."""
    name = a.labels.get("alertname", "")
    where = a.labels.get(HOST_LABEL) or a.labels.get(FALLBACK_HOST_LABEL, "")
    text = a.annotations.get("summary") or f"{name} on {where}"
    key = f"prometheus:{name}:{where}:{a.labels.get('period', '')}"
    if a.labels.get("severity") == "critical":
        return Alert(key, "error", text, name)
    return Alert(key, "warning", text, name)


def _inner(sel: str) -> str:
    """A selector's matchers to add after others inside braces."""
    return f", {sel[1:-1]}" if sel else ""


def _key(s: Sample) -> tuple[str, ...]:
    return tuple(s.labels.get(k, "") for k in GROUP)


def _totals(m: dict[str, float]) -> CallTotals:
    attempts = round(m.get("calls", 0.0))
    errors = round(m.get("errors", 0.0))
    return CallTotals(
        calls=round(m.get("logical_calls", 0.0)),
        attempts=attempts,
        ok=max(0, attempts - errors),
        errors=errors,
        rate_limited=round(m.get("rate_limited", 0.0)),
        cost_usd=m.get("cost_usd", 0.0),
        cost_estimated_usd=m.get("cost_estimated_usd", 0.0),
        input_tokens=round(m.get("input_tokens", 0.0)),
        output_tokens=round(m.get("output_tokens", 0.0)),
        unpriced=round(m.get("unpriced", 0.0)),
    )


def _account(r: dict[str, list[Sample]], now: float) -> tuple[AccountSnapshot | None, float | None]:
    """One account picture from every host's gauges. Hosts on one key report the same
    numbers (counted once); hosts on different keys: spends add up, and what is left is
    the smallest (the first limit any host will hit)."""

    def values(name: str) -> list[float]:
        return sorted({s.value for s in r[name] if math.isfinite(s.value)})

    def least(name: str) -> float | None:
        v = values(name)
        return v[0] if v else None

    def distinct_sum(name: str) -> float | None:
        v = values(name)
        return sum(v) if v else None

    if not any(values(n) for n in ACCOUNT_GAUGES[1:]):
        return None, None
    balance = least("account_balance_usd")
    snap = AccountSnapshot(
        taken_at=now,
        usage=distinct_sum("key_usage_usd"),
        usage_daily=distinct_sum("key_usage_daily_usd"),
        usage_weekly=distinct_sum("key_usage_weekly_usd"),
        usage_monthly=distinct_sum("key_usage_monthly_usd"),
        limit=least("key_limit_usd"),
        limit_remaining=least("key_limit_remaining_usd"),
        # The balance as credits left: AccountSnapshot derives it from total and used.
        credits_total=balance,
        credits_used=None if balance is None else 0.0,
    )
    return snap, least("runway_hours")
