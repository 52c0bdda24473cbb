"""The whole OpenRouter account at once (management key): every key with its usage and
limit, the last 30 completed UTC days per model and upstream from ``/activity``, and
today's spend so far, which ``/activity`` cannot hold yet.

Shared by ``summary --account`` and the TUI's account screen, so both say the same thing
with the same numbers.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from typing import Any

from hermes_dash.calllog.records import Window
from hermes_dash.calllog.store import CallStore
from hermes_dash.openrouter.management import KeyRecord, ManagementClient
from hermes_dash.openrouter.records import ActivityRow
from hermes_dash.services.keybudget import key_json, usd

#: Both requests together, whatever a server does: ``summary`` must end within 60 s.
ACCOUNT_DEADLINE_S = 45.0


@dataclass(frozen=True)
class ActivityGroup:
    """One model on one upstream over every day ``/activity`` holds; a sum is None when
    some day left it out, so a partly unknown total never passes for a known one."""

    model: str
    upstream: str | None
    days: int
    requests: int | None
    usage_usd: float | None
    prompt_tokens: int | None
    completion_tokens: int | None
    reasoning_tokens: int | None


@dataclass(frozen=True)
class TodayGap:
    """What the account spent today so far, which ``/activity`` does not hold until the
    UTC day is over: from the keys (``usage_daily``) and from this machine's call log."""

    today: str
    last_activity_day: str | None
    keys_today_usd: float | None
    log_today_usd: float | None
    log_unpriced: int
    has_log: bool = True

    def note(self) -> str:
        """One or two sentences for the screen and the text summary."""
        covered = (
            f"/activity covers completed UTC days up to {self.last_activity_day}"
            if self.last_activity_day
            else "/activity holds no completed UTC day yet"
        )
        keys = "unknown" if self.keys_today_usd is None else usd(self.keys_today_usd)
        if not self.has_log:
            log = "nothing yet (no call log)"
        elif self.log_today_usd is None:
            log = "an unknown amount" if self.log_unpriced else "nothing"
        else:
            log = usd(self.log_today_usd) + (
                f" (+{self.log_unpriced:,} calls not priced yet)" if self.log_unpriced else ""
            )
        return (
            f"{covered}; today ({self.today} UTC) is not in it until 00:00 UTC. Today so far: "
            f"{keys} across the account's keys (usage_daily from /keys), {log} in this "
            "machine's call log."
        )


@dataclass(frozen=True)
class AccountView:
    """The account view: keys, 30 days of activity grouped, and today's gap."""

    keys: list[KeyRecord]
    activity: list[ActivityGroup]
    first_day: str | None
    last_day: str | None
    gap: TodayGap

    @property
    def activity_usd(self) -> float | None:
        """The 30 days' bill; None when any group's is unknown."""
        return _sum([g.usage_usd for g in self.activity])


def _sum(values: list[Any]) -> Any:
    return None if any(v is None for v in values) else sum(values)


async def fetch_account(client: ManagementClient) -> tuple[list[KeyRecord], list[ActivityRow]]:
    """``/keys`` (every page) and ``/activity`` side by side; either failing fails both,
    so a view is never half of one account."""
    async with asyncio.timeout(ACCOUNT_DEADLINE_S):
        keys, activity = await asyncio.gather(client.list_keys(), client.activity())
    return keys, activity


def group_activity(rows: list[ActivityRow]) -> list[ActivityGroup]:
    """Per (model, upstream) over all days, the most spent first (unknown spend last)."""
    groups: dict[tuple[str, str | None], list[ActivityRow]] = {}
    for row in rows:
        groups.setdefault((row.model, row.provider_name), []).append(row)
    out = [
        ActivityGroup(
            model=model,
            upstream=upstream,
            days=len({r.date for r in days}),
            requests=_sum([r.requests for r in days]),
            usage_usd=_sum([r.usage for r in days]),
            prompt_tokens=_sum([r.prompt_tokens for r in days]),
            completion_tokens=_sum([r.completion_tokens for r in days]),
            reasoning_tokens=_sum([r.reasoning_tokens for r in days]),
        )
        for (model, upstream), days in groups.items()
    ]
    out.sort(key=lambda g: (g.usage_usd is None, -(g.usage_usd or 0.0), g.model))
    return out


def log_today(store: CallStore | None, now: float) -> tuple[float | None, int]:
    """This machine's logged cost since 00:00 UTC and how many attempts are unpriced."""
    if store is None:
        return None, 0
    midnight = now - now % 86400
    totals = store.totals(Window(midnight, now + 0.001, "today"))
    return totals.known_cost_usd, totals.unpriced


def build_view(
    keys: list[KeyRecord],
    rows: list[ActivityRow],
    now: float,
    store: CallStore | None = None,
) -> AccountView:
    """The view from what OpenRouter answered and the local call log."""
    days = sorted({r.date for r in rows})
    daily = [k.usage_daily for k in keys]
    log_usd, unpriced = log_today(store, now)
    gap = TodayGap(
        today=dt.datetime.fromtimestamp(now, dt.UTC).date().isoformat(),
        last_activity_day=days[-1] if days else None,
        keys_today_usd=_sum(daily) if keys else None,
        log_today_usd=log_usd,
        log_unpriced=unpriced,
        has_log=store is not None,
    )
    return AccountView(
        keys, group_activity(rows), days[0] if days else None, gap.last_activity_day, gap
    )


def view_json(view: AccountView, now: float) -> dict[str, Any]:
    """The ``account_view`` object of ``summary --account --json``."""
    gap = view.gap
    return {
        "keys": [key_json(k, now) for k in view.keys],
        "activity": {
            "first_day": view.first_day,
            "last_day": view.last_day,
            "usage_usd": view.activity_usd,
            "by_model_upstream": [
                {
                    "model": g.model,
                    "upstream": g.upstream,
                    "days": g.days,
                    "requests": g.requests,
                    "usage_usd": g.usage_usd,
                    "prompt_tokens": g.prompt_tokens,
                    "completion_tokens": g.completion_tokens,
                    "reasoning_tokens": g.reasoning_tokens,
                }
                for g in view.activity
            ],
        },
        "today": {
            "date": gap.today,
            "keys_usage_daily_usd": gap.keys_today_usd,
            "call_log_usd": gap.log_today_usd,
            "call_log_unpriced": gap.log_unpriced,
            "note": gap.note(),
        },
    }
