"""``hermes-dash budget show|set``: key limits OpenRouter enforces, and our own budgets."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from hermes_dash.cli.common import make_client, refuse_if_read_only, settings_from
from hermes_dash.cli.errors import RuntimeFailure, UsageError
from hermes_dash.openrouter.errors import OpenRouterError
from hermes_dash.openrouter.management import KeyRecord, ManagementClient
from hermes_dash.services import keybudget as kb
from hermes_dash.services.settings import DashSettings, UserSettings, user_settings_file
from hermes_dash.text import clean


def add_budget_parser(
    parser: argparse.ArgumentParser, add_common: Callable[[argparse.ArgumentParser], None]
) -> None:
    """The options of ``budget show`` and ``budget set``."""
    bsub = parser.add_subparsers(dest="budget_command", metavar="ACTION", required=True)
    p = bsub.add_parser("show", help="every key of the account: usage, limit, reset")
    add_common(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=cmd_show)

    p = bsub.add_parser("set", help="set a key's hard limit (needs a management key)")
    add_common(p)
    period = p.add_mutually_exclusive_group(required=True)
    for name in ("daily", "weekly", "monthly"):
        period.add_argument(
            f"--{name}", type=str, metavar="USD", help=f"a limit that resets {name} (00:00 UTC)"
        )
    p.add_argument("--key", metavar="NAME|HASH", help="the key to limit (default: the one in use)")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(handler=cmd_set)


def management_client(settings: DashSettings) -> ManagementClient:
    """The real management client, for the configured OpenRouter URL only."""
    return ManagementClient(settings.secrets.management_key, base_url=settings.openrouter_url)


async def _keys_and_label(settings: DashSettings) -> tuple[list[KeyRecord], str | None]:
    """The account's keys, and the label of the key hermes-dash uses (to pick it)."""
    client = management_client(settings)
    api = make_client(settings)
    try:
        keys = await client.list_keys()
        label = None
        if api.has_key:
            try:
                label = (await api.key_info()).label
            except OpenRouterError:  # the label only helps choose; /keys already answered
                label = None
        return keys, label
    finally:
        await client.aclose()
        await api.aclose()


def _money(v: float | None) -> str:
    return "-" if v is None else kb.usd(v)


def _print_keys(keys: list[KeyRecord], now: float) -> None:
    print(
        f"  {'key':<24} {'hash':<12} {'today':>9} {'week':>9} {'month':>9} "
        f"{'limit':>10} {'left':>10} {'reset':<8} {'BYOK':>8}"
    )
    for k in keys:
        # Names, hashes and resets come from the server: cleaned before they are padded,
        # so terminal sequences never reach the screen and the columns stay aligned.
        name = clean(k.display_name, 23) + (" (off)" if k.disabled else "")
        print(
            f"  {name:<24} {clean(k.hash[:12]):<12} {_money(k.usage_daily):>9} "
            f"{_money(k.usage_weekly):>9} {_money(k.usage_monthly):>9} {_money(k.limit):>10} "
            f"{_money(k.limit_remaining):>10} {clean(k.limit_reset or '-', 8):<8} "
            f"{_money(k.byok_usage):>8}"
        )
        if k.limit is not None:
            print(f"  {'':<24} limit {kb.reset_text(k.limit_reset, now)}")


def cmd_show(args: argparse.Namespace) -> int:
    """``budget show``: the keys (with a management key) and hermes-dash's own budgets."""
    settings = settings_from(args)
    prefs = UserSettings.load(settings.user_settings_path or user_settings_file())
    now = time.time()
    keys: list[KeyRecord] | None = None
    if settings.secrets.management_key:
        keys, _ = asyncio.run(_keys_and_label(settings))
    local = {"daily_usd": prefs.daily_budget_usd, "monthly_usd": prefs.monthly_budget_usd}
    if args.json:
        out: dict[str, Any] = {
            "management_key": keys is not None,
            "keys": None if keys is None else [kb.key_json(k, now) for k in keys],
            "budgets": local,
        }
        if keys is None:
            out["hint"] = kb.NO_MANAGEMENT_KEY
        print(json.dumps(out, indent=2))
        return 0
    if keys is None:
        print(kb.NO_MANAGEMENT_KEY)
    else:
        print(f"keys of the account ({len(keys)}), limits OpenRouter enforces:")
        _print_keys(keys, now)
    print(
        f"hermes-dash budgets (alerts only): daily {_money(prefs.daily_budget_usd)}, "
        f"monthly {_money(prefs.monthly_budget_usd)}"
    )
    return 0


def _amount(args: argparse.Namespace) -> tuple[float, str]:
    for reset in ("daily", "weekly", "monthly"):
        text = getattr(args, reset)
        if text is not None:
            try:
                value = float(text.strip().lstrip("$").replace(",", ""))
            except ValueError:
                raise UsageError(f"--{reset} takes an amount of USD, not {text!r}") from None
            try:
                return kb.check_amount(value), reset
            except ValueError as exc:
                raise UsageError(f"--{reset}: {exc}") from None
    raise UsageError("pass one of --daily, --weekly, --monthly")  # argparse requires one


def confirm(question: str) -> bool:
    """Ask y/N on the terminal; anything but y/yes is no."""
    print(question, end=" ", flush=True)
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


def cmd_set(args: argparse.Namespace) -> int:
    """``budget set``: show before → after, confirm, PATCH the key."""
    amount, reset = _amount(args)
    refuse_if_read_only(args, "setting a key limit")
    # A closed standard input (``<&-``, some service managers) is no terminal either.
    if not args.yes and (sys.stdin is None or not sys.stdin.isatty()):
        raise UsageError(
            "refusing to change a key limit without confirmation: standard input is not a "
            "terminal; pass --yes"
        )
    settings = settings_from(args)
    if not settings.secrets.management_key:
        raise RuntimeFailure(kb.NO_MANAGEMENT_KEY)
    keys, label = asyncio.run(_keys_and_label(settings))
    try:
        change = kb.plan_change(kb.choose_key(keys, args.key, label), amount, reset)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    print(clean(change.summary()))
    if not args.yes and not confirm(
        "Set this limit? OpenRouter enforces it for every caller [y/N]"
    ):
        print("nothing changed")
        return 1
    updated = asyncio.run(_apply(settings, change))
    print(
        clean(
            f"key '{updated.display_name}' limit is now "
            f"{kb.describe_limit(updated.limit, updated.limit_reset)}; OpenRouter enforces it"
        )
    )
    return 0


async def _apply(settings: DashSettings, change: kb.LimitChange) -> KeyRecord:
    client = management_client(settings)
    try:
        return await kb.apply_change(client, change)
    finally:
        await client.aclose()
