"""``summary --account``: the whole OpenRouter account (management key) beside the summary."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from hermes_dash.calllog.store import CallStore
from hermes_dash.cli.budget import management_client
from hermes_dash.openrouter.errors import RequestTimeout
from hermes_dash.services import accountview as av
from hermes_dash.services.keybudget import NO_MANAGEMENT_KEY
from hermes_dash.services.settings import DashSettings
from hermes_dash.text import clean


def add_account_argument(parser: argparse.ArgumentParser) -> None:
    """``--account`` on ``summary``."""
    parser.add_argument(
        "--account",
        action="store_true",
        help="add every key of the account and its last 30 days per model and upstream "
        "(needs OPENROUTER_MANAGEMENT_KEY)",
    )


def fetch(settings: DashSettings, store: CallStore | None, now: float) -> av.AccountView | None:
    """The account view, or None without a management key. Runs before anything is
    printed, so a failure (an OpenRouterError) leaves no half-printed summary."""
    if not settings.secrets.management_key:
        return None
    return asyncio.run(_fetch(settings, store, now))


async def _fetch(settings: DashSettings, store: CallStore | None, now: float) -> av.AccountView:
    client = management_client(settings)
    try:
        keys, rows = await av.fetch_account(client)
    except TimeoutError:
        raise RequestTimeout(
            f"OpenRouter did not answer /keys and /activity within {av.ACCOUNT_DEADLINE_S:g} s"
        ) from None
    finally:
        await client.aclose()
    return av.build_view(keys, rows, now, store)


def attach(summary: dict[str, Any], view: av.AccountView | None, now: float) -> None:
    """``account_view`` (null without a management key, with ``account_view_reason``)."""
    if view is None:
        summary["account_view"] = None
        summary["account_view_reason"] = NO_MANAGEMENT_KEY
    else:
        summary["account_view"] = av.view_json(view, now)


def _money(v: float | None) -> str:
    return "unknown" if v is None else f"${v:,.2f}"


def _tokens(v: int | None) -> str:
    return "?" if v is None else f"{v:,}"


def print_table(summary: dict[str, Any]) -> None:
    """The account part of the text summary (``summary`` is already cleaned)."""
    view = summary["account_view"]
    print("\n  account (management key)")
    if view is None:
        print(f"  {summary['account_view_reason']}")
        return
    print(
        f"  {'key':<24} {'today':>9} {'week':>9} {'month':>9} {'limit':>10} {'left':>10} "
        f"{'reset':<8}"
    )
    for k in view["keys"]:
        name = clean(k["name"] or k["label"] or k["hash"][:12], 23)
        name = (name + " (off)") if k["disabled"] else name
        print(
            f"  {name:<24} {_money(k['usage_daily']):>9} {_money(k['usage_weekly']):>9} "
            f"{_money(k['usage_monthly']):>9} "
            f"{'none' if k['limit'] is None else _money(k['limit']):>10} "
            f"{'-' if k['limit'] is None else _money(k['limit_remaining']):>10} "
            f"{clean(k['limit_reset'] or '-', 8):<8}"
        )
    act = view["activity"]
    span = f"{act['first_day']} to {act['last_day']}" if act["first_day"] else "no days yet"
    print(f"\n  last 30 completed UTC days ({span}): {_money(act['usage_usd'])} billed")
    print(
        f"  {'model':<36} {'upstream':<14} {'requests':>9} {'spend':>10} {'prompt':>11} "
        f"{'completion':>11} {'reasoning':>10}"
    )
    for g in act["by_model_upstream"]:
        print(
            f"  {clean(g['model'], 36):<36} {clean(g['upstream'] or '-', 14):<14} "
            f"{_tokens(g['requests']):>9} {_money(g['usage_usd']):>10} "
            f"{_tokens(g['prompt_tokens']):>11} {_tokens(g['completion_tokens']):>11} "
            f"{_tokens(g['reasoning_tokens']):>10}"
        )
    print(f"\n  {view['today']['note']}")
