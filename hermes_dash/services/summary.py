"""Building the ``summary`` object (the CLI's ``--json`` contract, also used by the TUI)."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hermes_dash.calllog.records import (
    AccountSnapshot,
    CallTotals,
    GroupStats,
    LimitEvents,
    Window,
)
from hermes_dash.calllog.store import CallStore
from hermes_dash.services.account import AccountState
from hermes_dash.services.endpoints import EndpointPolicy
from hermes_dash.services.limits import FreeQuota, free_quota, payment_message
from hermes_dash.services.reconcile import reconcile, reconciliation_json

if TYPE_CHECKING:
    # Only named in annotations: the parsers load with the first /activity answer.
    from hermes_dash.openrouter.records import ActivityRow


@dataclass(frozen=True)
class Burn:
    """Spend speed and how long the money lasts at that speed."""

    usd_per_hour: float | None
    runway_hours: float | None
    remaining_usd: float | None


def remaining_usd(snap: AccountSnapshot | None) -> float | None:
    """What can still be spent: the smaller of the credit balance and the key limit left."""
    if snap is None:
        return None
    candidates = [v for v in (snap.balance, snap.limit_remaining) if v is not None]
    return max(0.0, min(candidates)) if candidates else None


def account_spend(store: CallStore, window: Window) -> float | None:
    """Spend on the key over the window from account snapshots (other apps included)."""
    snaps = [s for s in store.snapshots(window) if s.usage is not None]
    if len(snaps) < 2:
        return None
    first, last = snaps[0], snaps[-1]
    # Only trust snapshots that cover most of the window; a short run says little.
    if (last.taken_at - first.taken_at) < 0.5 * (window.end - window.start):
        return None
    assert first.usage is not None and last.usage is not None
    return max(0.0, last.usage - first.usage)


def burn(
    store: CallStore, window: Window, totals: CallTotals, snap: AccountSnapshot | None
) -> Burn:
    """Burn rate over the window (the larger of logged and account spend) and runway."""
    # Calls whose cost is not known yet, and nothing billed known: the rate is unknown,
    # not $0/h (and no runway is drawn from it).
    spend = totals.known_cost_usd
    from_account = account_spend(store, window)
    if from_account is not None:
        spend = from_account if spend is None else max(spend, from_account)
    hours = window.hours
    rate = spend / hours if hours > 0 and spend is not None else None
    left = remaining_usd(snap)
    runway = None
    if rate and left is not None:
        runway = left / rate
    return Burn(rate, runway, left)


def _iso(ts: float) -> str:
    return (
        dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    )


def account_json(state: AccountState) -> dict[str, Any]:
    """The ``account`` object of the contract."""
    s = state.snapshot
    return {
        "status": state.status,
        "label": s.label if s else None,
        "usage": s.usage if s else None,
        "usage_daily": s.usage_daily if s else None,
        "usage_weekly": s.usage_weekly if s else None,
        "usage_monthly": s.usage_monthly if s else None,
        "limit": s.limit if s else None,
        "limit_remaining": s.limit_remaining if s else None,
        "limit_reset": s.limit_reset if s else None,
        "credits_total": s.credits_total if s else None,
        "credits_used": s.credits_used if s else None,
        "balance": s.balance if s else None,
        "is_free_tier": s.is_free_tier if s else None,
    }


def _round(v: float | None, digits: int = 6) -> float | None:
    return None if v is None else round(v, digits)


def provider_json(g: GroupStats, policy: EndpointPolicy | None = None) -> dict[str, Any]:
    """One entry of ``providers``: one endpoint (provider and host[:port]) and upstream."""
    t = g.totals
    provider, endpoint, upstream = g.key
    return {
        "provider": provider,
        "endpoint": endpoint or None,
        "upstream": upstream or None,
        "local": (policy or EndpointPolicy()).is_local(endpoint),
        "calls": t.calls,
        "attempts": t.attempts,
        "errors": t.errors,
        "rate_limited": t.rate_limited,
        "latency_p50_s": _round(g.latency_p50_s, 4),
        "latency_p95_s": _round(g.latency_p95_s, 4),
        "ttft_p50_s": _round(g.ttft_p50_s, 4),
        "ttft_p95_s": _round(g.ttft_p95_s, 4),
        "cost_usd": _round(t.known_cost_usd),
        "cost_estimated_usd": _round(t.cost_estimated_usd),
        "unpriced": t.unpriced,
    }


def model_json(g: GroupStats) -> dict[str, Any]:
    """One entry of ``models``."""
    t = g.totals
    return {
        "model": g.key[0],
        "calls": t.calls,
        "attempts": t.attempts,
        "errors": t.errors,
        "rate_limited": t.rate_limited,
        "cost_usd": _round(t.known_cost_usd),
        "unpriced": t.unpriced,
        "input_tokens": t.input_tokens,
        "output_tokens": t.output_tokens,
    }


def finite(value: Any) -> Any:
    """``value`` with every NaN or infinite float (nested in dicts and lists) as None:
    the contract says null for unknown, and strict JSON parsers refuse the others."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def calls_json(t: CallTotals) -> dict[str, Any]:
    """The ``calls`` object: logical calls and attempts, known cost and what is unpriced."""
    return {
        "total": t.calls,
        "attempts": t.attempts,
        "ok": t.ok,
        "errors": t.errors,
        "rate_limited": t.rate_limited,
        "cost_usd": _round(t.known_cost_usd),
        "cost_estimated_usd": _round(t.cost_estimated_usd),
        "unpriced": t.unpriced,
        "input_tokens": t.input_tokens,
        "output_tokens": t.output_tokens,
    }


def rate_limits_json(
    events: LimitEvents, free: FreeQuota, snap: AccountSnapshot | None
) -> dict[str, Any]:
    """The ``rate_limits`` object: every 429 attempt by origin, 402s by limit source."""
    return {
        "rate_limited": events.rate_limited,
        "openrouter_429": events.own_429,
        "upstream_429": dict(sorted(events.upstream_429.items())),
        "payment_required_402": dict(sorted(events.payment_402.items())),
        "free_model_daily_requests": {
            "used": free.used,
            "limit": free.quota,
            "source": free.source,
        },
        "last_402": None
        if events.last_402 is None
        else {
            "at": _iso(events.last_402.started_at),
            "limit_source": events.last_402.limit_source,
            "message": payment_message(events.last_402.limit_source, snap),
        },
    }


def summary_without_log(
    window_name: str, account: AccountState, routing: dict[str, Any], now: float, reason: str
) -> dict[str, Any]:
    """The ``summary --json`` object before there is a call log: the account part as
    usual, every part that needs the log null (or empty) and ``calls_missing`` saying why."""
    return finite(
        {
            "generated_at": _iso(now),
            "window": window_name,
            "account": account_json(account),
            "calls": None,
            "calls_missing": reason,
            "burn_rate_usd_per_hour": None,
            "runway_hours": None,
            "providers": [],
            "models": [],
            "routing": routing,
            "rate_limits": None,
            "reconciliation": None,
        }
    )


def build_summary(
    store: CallStore,
    window: Window,
    account: AccountState,
    routing: dict[str, Any],
    now: float,
    *,
    policy: EndpointPolicy | None = None,
    openrouter_url: str | None = None,
    activity: list[ActivityRow] | None = None,
) -> dict[str, Any]:
    """The whole ``summary --json`` object (only finite numbers; null for unknown)."""
    parts = store.breakdown(window)
    totals = parts.totals
    b = burn(store, window, totals, account.snapshot)
    events = store.limit_events(window)
    summary = {
        "generated_at": _iso(now),
        "window": window.name,
        "account": account_json(account),
        "calls": calls_json(totals),
        "burn_rate_usd_per_hour": _round(b.usd_per_hour),
        "runway_hours": _round(b.runway_hours, 2),
        "providers": [provider_json(g, policy) for g in parts.providers],
        "models": [model_json(g) for g in parts.models],
        "routing": routing,
        "rate_limits": rate_limits_json(
            events, free_quota(store, now, account.snapshot), account.snapshot
        ),
        "reconciliation": reconciliation_json(
            reconcile(
                store,
                window,
                openrouter_url=openrouter_url,
                activity=activity,
                providers=parts.providers,
            )
        ),
    }
    return finite(summary)
