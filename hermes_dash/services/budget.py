"""The dashboard's banner: the alert rules of :mod:`hermes_dash.services.alerts` applied
to what the dashboard already read (the same rules ``watch`` sends away)."""

from __future__ import annotations

from hermes_dash.calllog.records import AccountSnapshot
from hermes_dash.services.account import AccountState
from hermes_dash.services.alerts import Alert, AlertInputs, AlertRules, evaluate
from hermes_dash.services.dashboard import DashboardData
from hermes_dash.services.settings import UserSettings

__all__ = ["Alert", "budget_alerts"]


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
