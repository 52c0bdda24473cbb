"""Budget and runway alerts: what deserves a banner right now."""

from __future__ import annotations

from dataclasses import dataclass

from hermes_dash.calllog.records import AccountSnapshot
from hermes_dash.services.dashboard import DashboardData
from hermes_dash.services.limits import blocking_402, payment_message
from hermes_dash.services.settings import UserSettings

WARN_FRACTION = 0.8


@dataclass(frozen=True)
class Alert:
    """One alert: ``severity`` is 'warning' (80 %) or 'error' (100 %, runway)."""

    key: str
    severity: str
    message: str


def _budget_alert(name: str, spent: float, budget: float | None) -> Alert | None:
    if not budget or budget <= 0:
        return None
    share = spent / budget
    if share >= 1.0:
        return Alert(
            f"{name}-100", "error", f"{name} budget exceeded: ${spent:,.2f} of ${budget:,.2f}"
        )
    if share >= WARN_FRACTION:
        return Alert(
            f"{name}-80",
            "warning",
            f"{name} budget at {share:.0%}: ${spent:,.2f} of ${budget:,.2f}",
        )
    return None


def budget_alerts(
    data: DashboardData, snap: AccountSnapshot | None, prefs: UserSettings
) -> list[Alert]:
    """Alerts for the daily and monthly budgets and for a short runway.

    OpenRouter's own daily/monthly usage counts spend from every app on the key, so it
    wins over the call log when it is known and larger.
    """
    today = data.spend_today_usd
    month = data.spend_month_usd
    if snap is not None:
        today = max(today, snap.usage_daily or 0.0)
        month = max(month, snap.usage_monthly or 0.0)
    alerts = [
        a
        for a in (
            _budget_alert("Daily", today, prefs.daily_budget_usd),
            _budget_alert("Monthly", month, prefs.monthly_budget_usd),
        )
        if a is not None
    ]
    runway = data.burn_1h.runway_hours
    if runway is None:
        runway = data.burn_24h.runway_hours
    if prefs.runway_alert_hours and runway is not None and runway < prefs.runway_alert_hours:
        alerts.append(
            Alert("runway", "error", f"Runway {runway:,.1f} h: money runs out at the current burn")
        )
    return alerts


#: A run of 429s this recent, with no success after it, deserves a banner.
RECENT_429_S = 300.0


def limit_alerts(data: DashboardData, snap: AccountSnapshot | None, now: float) -> list[Alert]:
    """A banner when calls are being refused right now: a 402 newer than the last
    success (saying which limit: key limit, credits, in-flight budget), or 429s in the
    last minutes with no success since (saying whose: an upstream's or the endpoint's)."""
    events = data.limits
    if events is None:
        return []
    alerts: list[Alert] = []
    if blocking_402(events):
        assert events.last_402 is not None
        source = events.last_402.limit_source or "unknown"
        alerts.append(
            Alert(
                f"402-{source}",
                "error",
                payment_message(events.last_402.limit_source, snap, now),
            )
        )
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
