"""Budgets OpenRouter enforces: the account's keys and their hard limits.

Shared by ``hermes-dash budget`` and the TUI's key-limits screen: both pick the key the
same way, show the same before → after line, and send the same ``PATCH``.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from hermes_dash.openrouter.management import LIMIT_RESETS, KeyRecord, ManagementClient
from hermes_dash.services.limits import explain_402, next_reset, reset_text, until
from hermes_dash.services.readonly import refuse_if_read_only
from hermes_dash.text import clean

__all__ = ["explain_402", "next_reset", "reset_text", "until"]

MANAGEMENT_KEYS_URL = "https://openrouter.ai/settings/management-keys"
#: Limits are set in cents: anything under a cent would be sent as $0, which blocks the key.
MIN_LIMIT_USD = 0.01
#: A limit beyond this is a typo (``1e300``), not a budget; it would also print as
#: hundreds of digits.
MAX_LIMIT_USD = 1_000_000.0

#: What a management key unlocks, and how to get one: said wherever one is missing.
NO_MANAGEMENT_KEY = (
    "no management key: set OPENROUTER_MANAGEMENT_KEY (environment or $HERMES_HOME/.env) to "
    "list every key of the account with its usage today/week/month and to set hard "
    "daily/weekly/monthly limits that OpenRouter itself enforces (auxiliary calls and "
    "every machine sharing the key included); it also shows the credit balance. Create "
    f"one at {MANAGEMENT_KEYS_URL}; hermes-dash sends it only to OpenRouter's /keys endpoints."
)


class KeyChoiceError(ValueError):
    """The key to change cannot be told from the arguments (a usage error)."""


def choose_key(keys: list[KeyRecord], selector: str | None, api_label: str | None) -> KeyRecord:
    """The key named by ``selector`` (a name, a hash or a unique hash prefix); without
    one, the key hermes-dash itself uses (matched by ``/key``'s label), else the only key."""
    if selector:
        exact = [k for k in keys if selector in (k.hash, k.name)]
        if len(exact) == 1:
            return exact[0]
        if len(exact) > 1:
            raise KeyChoiceError(f"several keys are called {selector!r}: pass the hash instead")
        prefixed = [k for k in keys if len(selector) >= 6 and k.hash.startswith(selector)]
        if len(prefixed) == 1:
            return prefixed[0]
        raise KeyChoiceError(f"no key of the account is named {selector!r} or has that hash")
    if api_label:
        mine = [k for k in keys if k.label == api_label]
        if len(mine) == 1:
            return mine[0]
    active = [k for k in keys if not k.disabled]
    if len(active) == 1:
        return active[0]
    if not keys:
        raise KeyChoiceError("the account has no API keys")
    names = ", ".join(k.display_name for k in keys[:8])
    raise KeyChoiceError(f"the account has several keys ({names}): pass --key NAME|HASH")


def usd(value: float) -> str:
    """``$1,234.50``; a number too large for a budget (a hostile server's ``1e308``) in
    exponent form rather than hundreds of digits."""
    return f"${value:,.2f}" if abs(value) < 1e12 else f"${value:.3g}"


def money(value: float | None) -> str:
    """USD, or 'none' for no limit."""
    return "none" if value is None else usd(value)


def check_amount(amount: float) -> float:
    """A limit in USD rounded to cents; ValueError unless from $0.01 to $1,000,000."""
    cents = round(amount, 2) if math.isfinite(amount) else amount
    if not MIN_LIMIT_USD <= cents <= MAX_LIMIT_USD:
        raise ValueError(
            f"the limit must be an amount of USD from {usd(MIN_LIMIT_USD)} to {usd(MAX_LIMIT_USD)}"
        )
    return float(cents)


def describe_limit(limit: float | None, reset: str | None) -> str:
    """'$5.00 daily', '$20.00 (never resets)', 'none'."""
    if limit is None:
        return "none"
    return f"{money(limit)} {reset}" if reset else f"{money(limit)} (never resets)"


@dataclass(frozen=True)
class LimitChange:
    """A key's limit before and after: what the confirmation shows and what is sent."""

    key: KeyRecord
    limit: float
    reset: str

    @property
    def before(self) -> str:
        """The key's limit now."""
        return describe_limit(self.key.limit, self.key.limit_reset)

    @property
    def after(self) -> str:
        """The key's limit once set."""
        return describe_limit(self.limit, self.reset)

    def summary(self) -> str:
        """One line: ``key 'hermes' (abcd1234…) limit: $10.00 monthly → $5.00 daily``."""
        return (
            f"key '{self.key.display_name}' ({clean(self.key.hash[:10])}…) limit: "
            f"{self.before} → {self.after}"
        )


def plan_change(key: KeyRecord, amount: float, reset: str) -> LimitChange:
    """Validate and describe a new limit; raises ValueError for a bad one."""
    if reset not in LIMIT_RESETS:
        raise ValueError(f"the reset period must be one of {', '.join(LIMIT_RESETS)}")
    return LimitChange(key, check_amount(float(amount)), reset)


async def apply_change(
    client: ManagementClient, change: LimitChange, *, read_only: bool = False
) -> KeyRecord:
    """Send the change; OpenRouter enforces it from then on, for every caller of the key.
    ReadOnlyError (nothing sent) when writes are off."""
    refuse_if_read_only(read_only, "setting a key limit")
    return await client.set_limit(change.key.hash, change.limit, change.reset)


def key_json(key: KeyRecord, now: float) -> dict[str, Any]:
    """One key for ``budget show --json``."""
    nxt = next_reset(key.limit_reset, now) if key.limit is not None else None
    return {
        "hash": key.hash,
        "name": key.name,
        "label": key.label,
        "disabled": key.disabled,
        "usage_daily": key.usage_daily,
        "usage_weekly": key.usage_weekly,
        "usage_monthly": key.usage_monthly,
        "usage": key.usage,
        "limit": key.limit,
        "limit_remaining": key.limit_remaining,
        "limit_reset": key.limit_reset,
        "next_reset": None if nxt is None else dt.datetime.fromtimestamp(nxt, dt.UTC).isoformat(),
        "byok_usage": key.byok_usage,
        "include_byok_in_limit": key.include_byok_in_limit,
    }
