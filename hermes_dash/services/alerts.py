"""The one alert rule engine: ``watch`` and the TUI's banner evaluate the same rules.

Each rule looks at one poll's inputs and returns alerts. An alert's ``key`` names the
condition and its level (``budget-daily:100``); its ``group`` names the condition alone
(``budget-daily``): a notifier sends each key once per episode and a recovery message
when nothing of the group is left.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from hermes_dash.calllog.records import AccountSnapshot, Window
from hermes_dash.calllog.signals import CallSignals, read_signals
from hermes_dash.calllog.store import CallStore
from hermes_dash.services.account import AccountState
from hermes_dash.services.dashboard import FreeQuota, free_quota, utc_day_start, utc_month_start
from hermes_dash.services.limits import payment_message, reset_text
from hermes_dash.services.settings import UserSettings
from hermes_dash.services.summary import burn
from hermes_dash.text import clean

WARN_FRACTION = 0.8

#: How bad an alert is; the words are Textual's notification severities too.
Severity = Literal["warning", "error"]


def severity_of(text: str) -> Severity:
    """An alert severity read back from a file (a previous run's state): an unknown word
    counts as a warning."""
    return "error" if text == "error" else "warning"


@dataclass(frozen=True)
class Alert:
    """One alert: ``severity`` is 'warning' or 'error'; ``group`` the condition."""

    key: str
    severity: Severity
    message: str
    group: str = ""

    def __post_init__(self) -> None:
        # Messages quote session ids and model names from the call log and go to a
        # terminal (watch, the banner), webhooks, ntfy and notify-send: one bounded line
        # of plain text, whichever rule built it.
        object.__setattr__(self, "message", clean(self.message, 1000))

    @property
    def condition(self) -> str:
        """What recovers when it clears (the key without its level)."""
        return self.group or self.key


@dataclass(frozen=True)
class AlertRules:
    """Thresholds of every rule (the budgets come from the settings file)."""

    daily_budget_usd: float | None = None
    monthly_budget_usd: float | None = None
    runway_hours: float | None = 24.0
    storm_minutes: float = 10.0
    """429 storm: the share of 429 attempts over this many minutes..."""
    storm_share: float = 0.2
    """...at or above this share..."""
    storm_min_attempts: int = 10
    """...once at least this many attempts were made."""
    free_quota_share: float = 0.8
    recorder_silent_minutes: float = 30.0
    velocity_minutes: float = 10.0
    """Runaway spend: $/min over this many minutes..."""
    velocity_factor: float = 4.0
    """...at least this many times the same hour's usual rate..."""
    velocity_floor_usd_per_min: float = 0.05
    """...and at least this much (so pennies never alarm anyone)."""
    history_days: int = 7
    loop_minutes: float = 30.0
    loop_calls: int = 20
    """Request loop: this many near-identical calls of one session in a row."""

    @classmethod
    def from_settings(cls, prefs: UserSettings) -> AlertRules:
        """The user's budgets and runway threshold, default thresholds otherwise."""
        return cls(
            daily_budget_usd=prefs.daily_budget_usd,
            monthly_budget_usd=prefs.monthly_budget_usd,
            runway_hours=prefs.runway_alert_hours,
        )


@dataclass(frozen=True)
class AlertInputs:
    """One poll's worth of facts the rules judge."""

    now: float
    account: AccountState
    spend_today_usd: float = 0.0
    spend_month_usd: float = 0.0
    runway_hours: float | None = None
    free_quota: FreeQuota | None = None
    signals: CallSignals | None = None
    hermes_running: bool = False
    key_usage_growth_usd: float | None = None
    """Growth of the key's usage while the recorder was silent (None: unknown)."""
    extra: list[Alert] = field(default_factory=list)


def _share_alert(group: str, label: str, spent: float, cap: float | None) -> Alert | None:
    if not cap or cap <= 0:
        return None
    share = spent / cap
    if share >= 1.0:
        msg = f"{label} budget exceeded: ${spent:,.2f} of ${cap:,.2f}"
        return Alert(f"{group}:100", "error", msg, group)
    if share >= WARN_FRACTION:
        msg = f"{label} budget at {share:.0%}: ${spent:,.2f} of ${cap:,.2f}"
        return Alert(f"{group}:80", "warning", msg, group)
    return None


def budget_rules(i: AlertInputs, r: AlertRules) -> list[Alert]:
    """hermes-dash's own budgets (OpenRouter's daily/monthly usage wins when larger: it
    counts every app on the key) and the runway."""
    snap = i.account.snapshot
    today, month = i.spend_today_usd, i.spend_month_usd
    if snap is not None:
        today = max(today, snap.usage_daily or 0.0)
        month = max(month, snap.usage_monthly or 0.0)
    out = [
        a
        for a in (
            _share_alert("budget-daily", "Daily", today, r.daily_budget_usd),
            _share_alert("budget-monthly", "Monthly", month, r.monthly_budget_usd),
        )
        if a is not None
    ]
    if r.runway_hours and i.runway_hours is not None and i.runway_hours < r.runway_hours:
        left = i.runway_hours
        span = f"{left / 24:,.1f} days" if left >= 48 else f"{left:,.1f} h"
        out.append(Alert("runway", "error", f"Runway {span}: money runs out at the current burn"))
    return out


def key_limit_rule(i: AlertInputs, r: AlertRules) -> list[Alert]:
    """The key's own limit, which OpenRouter enforces (402 once reached)."""
    snap = i.account.snapshot
    if snap is None or not snap.limit or snap.limit_remaining is None:
        return []
    used = max(0.0, snap.limit - snap.limit_remaining)
    share = used / snap.limit
    resets = reset_text(snap.limit_reset, i.now)
    if share >= 1.0:
        msg = (
            f"Key limit reached: ${used:,.2f} of ${snap.limit:,.2f}; OpenRouter refuses "
            f"calls (402), {resets}"
        )
        return [Alert("key-limit:100", "error", msg, "key-limit")]
    if share >= WARN_FRACTION:
        msg = f"Key limit at {share:.0%}: ${used:,.2f} of ${snap.limit:,.2f}, {resets}"
        return [Alert("key-limit:80", "warning", msg, "key-limit")]
    return []


def account_rules(i: AlertInputs, r: AlertRules) -> list[Alert]:
    """The key failing (401, errors) and the credits running dry."""
    out = []
    if i.account.status in ("unauthorized", "error") and i.account.message:
        out.append(Alert("key-failing", "error", f"OpenRouter: {i.account.message}"))
    snap = i.account.snapshot
    if snap is not None and snap.balance is not None and snap.balance <= 0:
        out.append(Alert("credits", "error", f"Credits exhausted: balance ${snap.balance:,.2f}"))
    sig = i.signals
    if sig is not None and sig.refusal is not None and i.now - sig.refusal.at < 3600:
        # Without a poll of /key yet, when the limit resets is not known (not "never").
        why = payment_message(sig.refusal.limit_source, snap, i.now)
        out.append(Alert("refused-402", "error", f"Calls refused (402): {why}"))
    return out


def traffic_rules(i: AlertInputs, r: AlertRules) -> list[Alert]:
    """429 storm, the free-model quota, the recorder silent while Hermes runs."""
    out = []
    sig = i.signals
    if sig is not None and sig.attempts >= r.storm_min_attempts:
        share = sig.rate_limited / sig.attempts
        if share >= r.storm_share:
            msg = (
                f"429 storm: {sig.rate_limited:,} of {sig.attempts:,} requests ({share:.0%}) "
                f"rate limited in the last {r.storm_minutes:g} min"
            )
            out.append(Alert("429-storm", "warning", msg))
    q = i.free_quota
    if q is not None and q.used and q.used >= r.free_quota_share * q.quota:
        sev: Severity
        level, sev = ("100", "error") if q.used >= q.quota else ("80", "warning")
        msg = f"Free-model quota: {q.used:,} of {q.quota:,} requests today (resets 00:00 UTC)"
        out.append(Alert(f"free-quota:{level}", sev, msg, "free-quota"))
    if i.hermes_running and sig is not None:
        silent_s = i.now - sig.last_write if sig.last_write is not None else None
        grew = i.key_usage_growth_usd
        if (silent_s is None or silent_s > r.recorder_silent_minutes * 60) and (
            grew is None or grew > 0
        ):
            since = "yet" if silent_s is None else f"for {silent_s / 60:,.0f} min"
            spent = f" while the key spent ${grew:,.2f}" if grew else ""
            msg = (
                f"Recorder silent: Hermes is running but no call was logged {since}{spent}; "
                "check 'hermes-dash plugin status' and restart Hermes"
            )
            out.append(Alert("recorder-silent", "warning", msg))
    return out


def runaway_rules(i: AlertInputs, r: AlertRules) -> list[Alert]:
    """Spend velocity far above this hour's usual rate; sessions repeating themselves."""
    out: list[Alert] = []
    sig = i.signals
    if sig is None:
        return out
    v = sig.velocity
    usual = v.usual_usd_per_min or 0.0
    if v.recent_usd_per_min >= max(r.velocity_floor_usd_per_min, r.velocity_factor * usual):
        vs = (
            f"{v.recent_usd_per_min / usual:,.0f}x the usual ${usual:,.3f}/min for this hour"
            if usual
            else "with no usual spend at this hour"
        )
        who = f"; session {v.top_session} spent ${v.top_session_usd:,.2f}" if v.top_session else ""
        msg = (
            f"Runaway spend: ${v.recent_usd_per_min:,.3f}/min over the last "
            f"{r.velocity_minutes:g} min, {vs}{who}"
        )
        out.append(Alert("runaway-spend", "error", msg))
    for loop in sig.loops:
        msg = (
            f"Request loop: session {loop.session_id} made {loop.calls} near-identical "
            f"{loop.model} calls in a row (${loop.cost_usd:,.2f})"
        )
        out.append(Alert(f"loop:{loop.session_id}", "error", msg))
    return out


RULES = (budget_rules, key_limit_rule, account_rules, traffic_rules, runaway_rules)


def evaluate(inputs: AlertInputs, rules: AlertRules) -> list[Alert]:
    """Every rule, in a stable order."""
    out = [a for rule in RULES for a in rule(inputs, rules)]
    return out + list(inputs.extra)


def signals_for(store: CallStore, now: float, rules: AlertRules) -> CallSignals:
    """The call-log signals the rules read, with the rules' windows."""
    return read_signals(
        store,
        now,
        storm_minutes=rules.storm_minutes,
        velocity_minutes=rules.velocity_minutes,
        history_days=rules.history_days,
        loop_minutes=rules.loop_minutes,
        loop_calls=rules.loop_calls,
    )


def usage_growth(store: CallStore, since: float, now: float) -> float | None:
    """How much the key's usage grew since ``since`` by the stored polls (None: unknown)."""
    polls = [s for s in store.snapshots(Window(since, now + 1)) if s.usage is not None]
    if len(polls) < 2:
        return None
    assert polls[0].usage is not None and polls[-1].usage is not None
    return max(0.0, polls[-1].usage - polls[0].usage)


def gather(
    store: CallStore,
    now: float,
    account: AccountState,
    rules: AlertRules,
    *,
    hermes_running: bool = False,
) -> AlertInputs:
    """Read everything one evaluation needs from the call log (for ``watch``)."""
    snap: AccountSnapshot | None = account.snapshot
    w1h, w24h = Window.named("1h", now), Window.named("24h", now)
    b1 = burn(store, w1h, store.totals(w1h), snap)
    b24 = burn(store, w24h, store.totals(w24h), snap)
    runway = b1.runway_hours if b1.runway_hours is not None else b24.runway_hours
    return AlertInputs(
        now=now,
        account=account,
        spend_today_usd=store.totals(Window(utc_day_start(now), now + 1)).cost_usd,
        spend_month_usd=store.totals(Window(utc_month_start(now), now + 1)).cost_usd,
        runway_hours=runway,
        free_quota=free_quota(store, now, snap),
        signals=signals_for(store, now, rules),
        hermes_running=hermes_running,
        key_usage_growth_usd=usage_growth(store, now - rules.recorder_silent_minutes * 60, now)
        if hermes_running
        else None,
    )
