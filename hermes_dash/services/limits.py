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

#: What each ``limit_source`` of a 402 means, for people.
LIMIT_SOURCES = {
    "openrouter_key_limit": "key limit reached",
    "openrouter_credits": "out of credits",
    "openrouter_in_flight_budget": "in-flight budget reached",
}


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


def next_reset(limit_reset: str | None, now: float) -> float | None:
    """When a key limit resets: 00:00 UTC of the next day, Monday or month start."""
    day = utc_day_start(now) + 86400
    if limit_reset == "daily":
        return day
    if limit_reset == "weekly":
        weekday = dt.datetime.fromtimestamp(now, dt.UTC).weekday()  # Monday is 0
        return utc_day_start(now) + (7 - weekday) * 86400
    if limit_reset == "monthly":
        d = dt.datetime.fromtimestamp(now, dt.UTC)
        year, month = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
        return dt.datetime(year, month, 1, tzinfo=dt.UTC).timestamp()
    return None


def payment_message(
    limit_source: str | None, snap: AccountSnapshot | None, now: float | None = None
) -> str:
    """One line saying which limit a 402 hit and what happens next."""
    now = time.time() if now is None else now
    what = LIMIT_SOURCES.get(limit_source or "", "payment required (402)")
    if limit_source == "openrouter_key_limit":
        if snap is None:
            return what  # when it resets is known after the next poll of /key
        reset = next_reset(snap.limit_reset, now)
        if reset is None:
            return f"{what}: the key has no reset; raise its limit on openrouter.ai"
        when = dt.datetime.fromtimestamp(reset, dt.UTC)
        day = "" if reset - now <= 86400 else f" on {when:%a %d %b}"
        return f"{what}, resets at {when:%H:%M} UTC{day}"
    if limit_source == "openrouter_credits":
        return f"{what}: add credits on openrouter.ai"
    if limit_source == "openrouter_in_flight_budget":
        return f"{what}: too many requests in flight on this key; they resume as calls finish"
    return what


def blocking_402(events: LimitEvents) -> bool:
    """Whether the newest 402 came after the newest success: calls are being refused."""
    last = events.last_402
    if last is None:
        return False
    return events.last_ok_at is None or last.started_at > events.last_ok_at
