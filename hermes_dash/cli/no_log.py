"""``summary`` before the call log exists: the account, and how to start the log."""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from hermes_dash.cli import SUMMARY_OPENROUTER_S, print_summary_head, read_routing
from hermes_dash.cli import account as account_view
from hermes_dash.cli.common import make_client
from hermes_dash.openrouter.errors import RequestTimeout
from hermes_dash.services.account import AccountState, fetch_snapshot
from hermes_dash.services.checks import install_cmd
from hermes_dash.services.settings import DashSettings
from hermes_dash.services.summary import summary_without_log as build
from hermes_dash.text import clean_data


async def _account(settings: DashSettings) -> AccountState:
    client = make_client(settings)
    try:
        async with asyncio.timeout(SUMMARY_OPENROUTER_S):
            return AccountState("ok", await fetch_snapshot(client))
    except TimeoutError:
        raise RequestTimeout(
            f"OpenRouter did not answer in time (within {SUMMARY_OPENROUTER_S:g} s)"
        ) from None
    finally:
        await client.aclose()


def summary_without_log(args: argparse.Namespace, settings: DashSettings) -> int:
    """The account part as usual; the calls part says how to start the log. Exit 0: a
    first run is not a failure."""
    account = asyncio.run(_account(settings))
    now = time.time()
    view = account_view.fetch(settings, None, now) if args.account else None
    reason = (
        f"no call log at {settings.db_path} yet: to start it, run '{install_cmd(settings)}', "
        "then restart Hermes and let it make a call"
    )
    summary = build(args.window, account, read_routing(settings), now, reason)
    if args.account:
        account_view.attach(summary, view, now)
    summary = clean_data(summary)
    if args.json:
        print(json.dumps(summary, indent=2, allow_nan=False, default=str))
    else:
        print_summary_head(summary)
        print(f"  calls     {summary['calls_missing']}")
        if args.account:
            account_view.print_table(summary)
    return 0
