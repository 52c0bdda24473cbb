"""Fetching the account's state from OpenRouter and turning it into a snapshot."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from hermes_dash.calllog.records import AccountSnapshot
from hermes_dash.openrouter import errors
from hermes_dash.openrouter.client import OpenRouterClient

if TYPE_CHECKING:
    # Only named in annotations: the parsers load with the first /activity answer.
    from hermes_dash.openrouter.records import ActivityRow

#: Once ``/key`` has answered, how much longer ``/credits`` may take: it only adds the
#: balance, and a server that drips it must not hold good ``/key`` numbers back for the
#: client's whole deadline.
CREDITS_GRACE_S = 5.0


#: The account's connection state, as the dashboard and ``summary --json`` name it.
AccountStatus = Literal["ok", "offline", "unauthorized", "error"]


@dataclass(frozen=True)
class AccountState:
    """The account part of the dashboard: last good numbers plus how fresh they are."""

    status: AccountStatus
    snapshot: AccountSnapshot | None = None
    message: str = ""
    stale: bool = False

    @classmethod
    def offline(cls, message: str = "no OpenRouter API key") -> AccountState:
        """No key, or --offline."""
        return cls("offline", None, message)


async def fetch_snapshot(
    client: OpenRouterClient,
    now: float | None = None,
    *,
    credits_grace_s: float = CREDITS_GRACE_S,
) -> AccountSnapshot:
    """``/key`` and ``/credits`` together; raises OpenRouterError for ``/key`` failures.

    ``/credits`` is optional: it needs a management key and some keys get ``{0,0}``;
    when it fails for a reason other than ``/key`` failing too, or is still not in
    ``credits_grace_s`` after ``/key``, credits are unknown.
    """
    key_task = asyncio.ensure_future(client.key_info())
    credits_task = asyncio.ensure_future(client.credits())
    try:
        key = await key_task
    except BaseException:
        credits_task.cancel()
        raise
    try:
        credits = await asyncio.wait_for(credits_task, credits_grace_s)
    except (errors.OpenRouterError, TimeoutError):
        credits = None
    return AccountSnapshot(
        taken_at=time.time() if now is None else now,
        label=key.label,
        usage=key.usage,
        usage_daily=key.usage_daily,
        usage_weekly=key.usage_weekly,
        usage_monthly=key.usage_monthly,
        limit=key.limit,
        limit_remaining=key.limit_remaining,
        limit_reset=key.limit_reset,
        credits_total=credits.total_credits if credits else None,
        credits_used=credits.total_usage if credits else None,
        is_free_tier=key.is_free_tier,
        free_requests_used=key.free_requests_used,
        free_requests_limit=key.free_requests_limit,
    )


async def fetch_activity(client: OpenRouterClient) -> list[ActivityRow] | None:
    """``/activity`` per day and model when a management key is set; None otherwise or
    when OpenRouter refuses it (the reconciliation then says it cannot tell)."""
    if not client.has_management_key:
        return None
    try:
        return await client.activity()
    except errors.OpenRouterError:
        return None


def status_for(exc: errors.OpenRouterError) -> AccountStatus:
    """The account status word for a failure."""
    return "unauthorized" if isinstance(exc, errors.Unauthorized) else "error"
