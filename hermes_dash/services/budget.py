"""The dashboard's banner: the alert rules of :mod:`hermes_dash.services.alerts` applied
to what the dashboard already read (the same rules ``watch`` sends away)."""

from __future__ import annotations

from hermes_dash.calllog.records import AccountSnapshot
from hermes_dash.services.account import AccountState
from hermes_dash.services.alerts import Alert, AlertInputs, AlertRules, evaluate
from hermes_dash.services.dashboard import DashboardData
from hermes_dash.services.settings import UserSettings

__all__ = ["Alert", "budget_alerts", "limit_alerts"]


def budget_alerts(
    data: DashboardData, snap: AccountSnapshot | None, prefs: UserSettings
) -> list[Alert]:
    """Every alert rule over the dashboard's data. Account failures are left out: the
    dashboard reports those itself (marked STALE, with the reason)."""
    runway = data.burn_1h.runway_hours
    if runway is None:
        runway = data.burn_24h.runway_hours
    inputs = AlertInputs(
        now=data.window.end,
        account=AccountState("ok", snap),
        spend_today_usd=data.spend_today_usd,
        spend_month_usd=data.spend_month_usd,
        runway_hours=runway,
        free_quota=data.free_quota,
        signals=data.signals,
    )
    return evaluate(inputs, AlertRules.from_settings(prefs))


#: A run of 429s this recent, with no success after it, deserves a banner.
RECENT_429_S = 300.0


def limit_alerts(data: DashboardData, now: float) -> list[Alert]:
    """A banner while calls are being rate limited right now: 429s in the last minutes
    with no success since, saying whose (an upstream's or the endpoint's). A 402 is the
    rule engine's (``refused-402``), explained by its limit source."""
    events = data.limits
    if events is None:
        return []
    alerts: list[Alert] = []
    last = data.last_rate_limit
    if (
        last is not None
        and now - last.started_at <= RECENT_429_S
        and (events.last_ok_at is None or last.started_at > events.last_ok_at)
    ):
        who = (
            f"upstream {last.error_provider}"
            if last.error_provider
            else f"{last.upstream or last.provider} itself"
        )
        alerts.append(
            Alert("429-now", "warning", f"Rate limited now: 429 from {who} on {last.model}")
        )
    return alerts
