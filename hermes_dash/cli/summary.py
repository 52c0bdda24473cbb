"""``summary`` (where the money is going, as a table or JSON) and ``export`` (the rows
behind it, as CSV or JSON): both price the log's unpriced calls first, within a bound."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hermes_dash.calllog.records import WINDOWS, Window
from hermes_dash.calllog.store import CallFilter, CallStore
from hermes_dash.cli import account as account_view
from hermes_dash.cli import breakdown as by_source
from hermes_dash.cli import open_store
from hermes_dash.cli.common import make_client, settings_from
from hermes_dash.cli.errors import UsageError
from hermes_dash.hermes.config import load_config, routing_block
from hermes_dash.openrouter.client import OpenRouterClient
from hermes_dash.openrouter.errors import RequestTimeout
from hermes_dash.openrouter.records import ActivityRow
from hermes_dash.services.account import AccountState, fetch_activity, fetch_snapshot
from hermes_dash.services.endpoints import EndpointPolicy, policy_for
from hermes_dash.services.settings import DashSettings
from hermes_dash.services.summary import build_summary
from hermes_dash.text import clean, clean_data

#: All of ``summary``'s talking to OpenRouter, whatever a server does: with Python's
#: start-up and the call log's read, the command ends well within its 60 s bound.
SUMMARY_OPENROUTER_S = 45.0


def add_summary_parser(
    parser: argparse.ArgumentParser, add_common: Callable[[argparse.ArgumentParser], None]
) -> None:
    """The options of ``summary``."""
    add_common(parser)
    parser.add_argument("--json", action="store_true", help="print the JSON object")
    parser.add_argument(
        "--window", choices=list(WINDOWS), default="24h", help="time window (default 24h)"
    )
    parser.add_argument("--offline", action="store_true", help="do not contact OpenRouter")
    by_source.add_by_argument(parser)
    account_view.add_account_argument(parser)
    parser.set_defaults(handler=cmd_summary)


def add_export_parser(
    parser: argparse.ArgumentParser, add_common: Callable[[argparse.ArgumentParser], None]
) -> None:
    """The options of ``export``."""
    add_common(parser)
    parser.add_argument("--format", choices=("csv", "json"), required=True)
    parser.add_argument(
        "--window", choices=list(WINDOWS), default=None, help="only this window (default: all)"
    )
    parser.add_argument("--output", metavar="FILE", help="write here instead of standard output")
    parser.add_argument(
        "--offline", action="store_true", help="do not price calls through OpenRouter"
    )
    parser.set_defaults(handler=cmd_export)


def read_routing(settings: DashSettings) -> dict[str, Any]:
    """The provider_routing block as Hermes reads it; {} when there is no config."""
    if not settings.paths.config.exists():
        return {}
    return routing_block(load_config(settings.paths.config))


#: Seconds ``summary`` and ``export`` spend pricing calls at most: with the account poll
#: (10 s timeout) and start-up, ``summary`` ends well within its 60 s bound.
PRICING_BUDGET_S = 30.0


def endpoint_policy(settings: DashSettings) -> EndpointPolicy:
    """Local-or-paid from Hermes' config, the user's settings and OpenRouter's URL."""
    return policy_for(settings)


def _pricing_deadline() -> float:
    return time.monotonic() + PRICING_BUDGET_S


async def _price(
    client: OpenRouterClient, store: CallStore, policy: EndpointPolicy, deadline: float
) -> None:
    """Price what the log holds unpriced, until ``deadline`` (a monotonic time)."""
    from hermes_dash.services.enrich import Enricher

    await Enricher(store, client, policy=policy).run_until(deadline)


def _known_zero(settings: DashSettings, store: CallStore, policy: EndpointPolicy) -> None:
    """Without the network: local calls and refused attempts are known to cost nothing."""
    if not store.readonly:
        from hermes_dash.services.enrich import Enricher

        Enricher(store, make_client(settings), policy=policy).mark_known_zero()


async def _account(
    settings: DashSettings, store: CallStore, offline: bool, policy: EndpointPolicy
) -> tuple[AccountState, list[ActivityRow] | None]:
    """The account poll, the bill per day (management key), and the pricing of calls."""
    if offline or not settings.secrets.api_key:
        _known_zero(settings, store, policy)
        return AccountState.offline(), None
    client = make_client(settings)
    try:
        # Each request has its own deadline; this one bounds them all together, the
        # pricing of the log's unpriced calls included.
        deadline = time.monotonic() + SUMMARY_OPENROUTER_S
        async with asyncio.timeout(SUMMARY_OPENROUTER_S):
            snap = await fetch_snapshot(client)
            activity = await fetch_activity(client)
            if not store.readonly:
                store.add_snapshot(snap)
                await _price(client, store, policy, min(deadline, _pricing_deadline()))
    except TimeoutError:
        raise RequestTimeout(
            f"OpenRouter did not answer in time (within {SUMMARY_OPENROUTER_S:g} s)"
        ) from None
    finally:
        await client.aclose()
    return AccountState("ok", snap), activity


def _money(v: float | None, unknown: str = "-") -> str:
    return unknown if v is None else f"${v:,.2f}"


def _cost(v: float | None, unpriced: int) -> str:
    """A cost that never reads $0 for unknown: 'unknown', or the known part + a count."""
    if v is None:
        return "unknown" if unpriced else "-"
    return f"${v:,.4f}" + (f" +{unpriced:,} unpriced" if unpriced else "")


def _secs(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def print_summary_head(s: dict[str, Any]) -> None:
    """The title and the account line of the summary table."""
    acc = s["account"]
    print(f"hermes-dash summary, last {s['window']} (generated {s['generated_at']})")
    if acc["status"] == "ok":
        print(
            f"  account   usage {_money(acc['usage'])}  today {_money(acc['usage_daily'])}  "
            f"month {_money(acc['usage_monthly'])}  balance {_money(acc['balance'])}  "
            f"limit left {_money(acc['limit_remaining'])}"
        )
    else:
        print("  account   offline (no OpenRouter key, or --offline)")


def print_summary_table(s: dict[str, Any]) -> None:
    calls = s["calls"]
    print_summary_head(s)
    burn = s["burn_rate_usd_per_hour"]
    runway = s["runway_hours"]
    print(
        f"  calls     {calls['total']:,} ({calls['attempts']:,} attempts, {calls['errors']:,} "
        f"errors, {calls['rate_limited']:,} rate limited)  cost "
        f"{_cost(calls['cost_usd'], calls['unpriced'])}  burn "
        f"{'-' if burn is None else f'${burn:,.4f}/h'}  runway "
        f"{'-' if runway is None else f'{runway:,.1f} h'}"
    )
    rec = s["reconciliation"]
    if rec["billed_usd"] is not None:
        print(
            f"  bill      OpenRouter billed {_money(rec['billed_usd'])}, the log holds "
            f"{_money(rec['logged_usd'], 'an unknown cost')} ("
            f"{'-' if rec['coverage_pct'] is None else format(rec['coverage_pct'], '.0f')} %); "
            f"{_money(rec['difference_usd'])} {rec['difference_is']}"
        )
    limits = s["rate_limits"]
    if limits["rate_limited"] or limits["payment_required_402"]:
        upstream = ", ".join(f"{k} {v}" for k, v in limits["upstream_429"].items())
        print(
            f"  limits    429s: {limits['openrouter_429']:,} from the endpoint itself"
            + (f", upstream {upstream}" if upstream else "")
            + (f"; last 402: {limits['last_402']['message']}" if limits["last_402"] else "")
        )
    print(
        f"\n  {'provider':<12} {'endpoint':<22} {'upstream':<14} {'calls':>7} {'429s':>5} "
        f"{'p50 s':>6} {'p95 s':>6} {'ttft':>6} {'cost':>10}"
    )
    for p in s["providers"]:
        print(
            f"  {clean(p['provider'], 12):<12} {clean(p['endpoint'] or '-', 22):<22} "
            f"{clean(p['upstream'] or '-', 14):<14} {p['calls']:>7,} {p['rate_limited']:>5,} "
            f"{_secs(p['latency_p50_s']):>6} {_secs(p['latency_p95_s']):>6} "
            f"{_secs(p['ttft_p50_s']):>6} {_cost(p['cost_usd'], p['unpriced']):>10}"
        )
    print(f"\n  {'model':<42} {'calls':>8} {'429s':>6} {'cost':>10}")
    for m in s["models"]:
        print(
            f"  {clean(m['model'], 42):<42} {m['calls']:>8,} {m['rate_limited']:>6,} "
            f"{_cost(m['cost_usd'], m['unpriced']):>10}"
        )


def cmd_summary(args: argparse.Namespace) -> int:
    """``hermes-dash summary``."""
    if args.account and args.offline:
        raise UsageError("--account asks OpenRouter for the account's keys: drop --offline")
    settings = settings_from(args)
    if not settings.db_path.exists() and settings.secrets.api_key and not args.offline:
        # A first run: the account is worth showing before Hermes has logged a call.
        from hermes_dash.cli.no_log import summary_without_log

        return summary_without_log(args, settings)
    store = open_store(settings.db_path, must_exist=True)
    policy = endpoint_policy(settings)
    account, activity = asyncio.run(_account(settings, store, args.offline, policy))
    now = time.time()
    # Asked before anything is printed: a failure leaves no half-printed summary.
    view = account_view.fetch(settings, store, now) if args.account else None
    window = Window.named(args.window, now)
    summary = build_summary(
        store,
        window,
        account,
        read_routing(settings),
        now,
        policy=policy,
        openrouter_url=settings.openrouter_url,
        activity=activity,
    )
    if args.by:
        by_source.attach(summary, args, store, window, settings)
    if args.account:
        account_view.attach(summary, view, now)
    # Names, labels and config values are outside text: no terminal control reaches stdout.
    summary = clean_data(summary)
    if args.json:
        # Strict JSON: build_summary turns every non-finite number into null; YAML dates
        # (or any other value JSON has no type for) in the routing block print as text.
        print(json.dumps(summary, indent=2, allow_nan=False, default=str))
    else:
        print_summary_table(summary)
        if args.by:
            by_source.print_table(summary)
        if args.account:
            account_view.print_table(summary)
    impossible = store.impossible_rows()
    if impossible:
        _note(f"left out {impossible:,} call-log rows whose start time is impossible")
    return 0


def _note(message: str) -> None:
    """A remark on stderr that does not make the command fail."""
    sys.stdout.flush()
    print(f"hermes-dash: {message}", file=sys.stderr)


def cmd_export(args: argparse.Namespace) -> int:
    """``hermes-dash export``."""
    from hermes_dash.services.export import write_csv, write_json

    settings = settings_from(args)
    store = open_store(settings.db_path, must_exist=True)
    if args.offline or not settings.secrets.api_key:
        _known_zero(settings, store, endpoint_policy(settings))
    else:
        asyncio.run(_price_for_export(settings, store))
    flt = CallFilter(window=Window.named(args.window, time.time()) if args.window else None)
    writer = write_csv if args.format == "csv" else write_json
    if args.output:
        import io

        from hermes_dash.hermes.files import atomic_writer, default_file_mode

        out_path = Path(args.output)
        # Written beside the target under an unpredictable name, renamed over it at the
        # end: a failed export leaves the old file, and a planted link redirects nothing.
        with atomic_writer(out_path, new_mode=default_file_mode()) as raw:
            fh = io.TextIOWrapper(raw, encoding="utf-8", newline="")
            try:
                n = writer(store.iter_calls(flt), fh)
            finally:
                fh.detach()  # flushes; the raw file stays the writer's to close
        print(f"wrote {n:,} calls to {clean(out_path)}", file=sys.stderr)
    else:
        writer(store.iter_calls(flt), sys.stdout)
    if store.skipped_rows:
        _note(f"skipped {store.skipped_rows:,} rows whose id or start time is impossible")
    if store.repaired_rows:
        _note(
            f"{store.repaired_rows:,} rows held impossible values (text, blobs, inf or "
            "negative numbers where numbers belong): written as empty"
        )
    return 0


async def _price_for_export(settings: DashSettings, store: CallStore) -> None:
    """Price the unpriced rows before they are written (bounded)."""
    if store.readonly:
        return
    client = make_client(settings)
    try:
        await _price(client, store, endpoint_policy(settings), _pricing_deadline())
    finally:
        await client.aclose()
