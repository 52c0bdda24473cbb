"""Rate limits and payment refusals: the free-model quota, what a 402 means, banners."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from hermes_dash.calllog.records import AccountSnapshot, LimitEvents, Window
from hermes_dash.calllog.store import CallStore

#: OpenRouter's daily request quota for ``:free`` models.
FREE_DAILY_QUOTA = 50
FREE_DAILY_QUOTA_WITH_CREDITS = 1000


@dataclass(frozen=True)
class FreeQuota:
    """Requests to ``:free`` models today (UTC) against the daily quota; ``source`` says
    whether OpenRouter's ``/key`` gave the numbers ('openrouter') or the log ('log')."""

    used: int
    quota: int
    source: str = "log"


def utc_day_start(now: float) -> float:
    """Midnight UTC of the day ``now`` is in."""
    return now - (now % 86400)


def free_quota(store: CallStore, now: float, snap: AccountSnapshot | None) -> FreeQuota:
    """Free-model requests today: ``/key``'s ``free_model_daily_requests`` when it has
    them (every app on the key counts), else counted from the log (the quota is 1000
    once $10 of credits were bought)."""
    if snap is not None and snap.free_requests_used is not None and snap.free_requests_limit:
        return FreeQuota(snap.free_requests_used, snap.free_requests_limit, "openrouter")
    bought = False
    if snap is not None:
        if snap.is_free_tier is not None:
            bought = not snap.is_free_tier
        elif snap.credits_total is not None:
            bought = snap.credits_total >= 10
    quota = FREE_DAILY_QUOTA_WITH_CREDITS if bought else FREE_DAILY_QUOTA
    today = Window(utc_day_start(now), now + 1)  # + 1: a call logged at this very second
    return FreeQuota(store.requests_to(today, ":free"), quota)


def next_reset(reset: str | None, now: float) -> float | None:
    """When a ``limit_reset`` period next starts (00:00 UTC; weeks start on Monday)."""
    day = dt.datetime.fromtimestamp(now, dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if reset == "daily":
        return (day + dt.timedelta(days=1)).timestamp()
    if reset == "weekly":
        return (day + dt.timedelta(days=7 - day.weekday())).timestamp()
    if reset == "monthly":
        year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
        return dt.datetime(year, month, 1, tzinfo=dt.UTC).timestamp()
    return None


def until(ts: float, now: float) -> str:
    """'3 h 20 min', '2 d 4 h'."""
    left = max(0, int(ts - now))
    days, rest = divmod(left, 86400)
    hours, minutes = rest // 3600, (rest % 3600) // 60
    return f"{days} d {hours} h" if days else f"{hours} h {minutes} min"


def reset_text(reset: str | None, now: float) -> str:
    """'resets at 00:00 UTC (in 3 h 20 min)' or 'never resets'."""
    when = next_reset(reset, now)
    if when is None:
        return "never resets: raise the limit to go on"
    stamp = dt.datetime.fromtimestamp(when, dt.UTC)
    day = "" if reset == "daily" else f" on {stamp:%a %d %b}"
    return f"resets at 00:00 UTC{day} (in {until(when, now)})"


def explain_402(limit_source: str | None, limit_reset: str | None, now: float) -> str:
    """Why OpenRouter refused with 402, from ``error.metadata.limit_source``."""
    if limit_source == "openrouter_key_limit":
        return f"key limit reached, {reset_text(limit_reset, now)}"
    if limit_source == "openrouter_credits":
        return "the account is out of credits: add credits at openrouter.ai/settings/credits"
    if limit_source == "openrouter_in_flight_budget":
        return (
            "in-flight budget reached: requests already running could cost more than is left; "
            "wait for them or add credits"
        )
    return "OpenRouter refused with 402 payment required (no limit source given)"


def payment_message(
    limit_source: str | None, snap: AccountSnapshot | None, now: float | None = None
) -> str:
    """One line saying which limit a 402 hit and what happens next."""
    now = time.time() if now is None else now
    if limit_source == "openrouter_key_limit" and snap is None:
        return "key limit reached"  # when it resets is known after the next poll of /key
    return explain_402(limit_source, snap.limit_reset if snap is not None else None, now)


def blocking_402(events: LimitEvents) -> bool:
    """Whether the newest 402 came after the newest success: calls are being refused."""
    last = events.last_402
    if last is None:
        return False
    return events.last_ok_at is None or last.started_at > events.last_ok_at
