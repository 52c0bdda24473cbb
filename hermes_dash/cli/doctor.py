"""``hermes-dash doctor [--json]``: what a new user needs in place, with a fix for each."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable
from typing import TYPE_CHECKING

from hermes_dash import __version__
from hermes_dash.cli.common import make_client, settings_from
from hermes_dash.text import clean

if TYPE_CHECKING:
    from hermes_dash.openrouter.client import OpenRouterClient
    from hermes_dash.services.checks import Check

# The checks are imported by the command that runs them: the dashboard's start-up does
# not pay for them.

#: How each status reads in the table: a failure stands out without colour (pipes, logs).
MARKS = {"ok": "ok", "warn": "warn", "fail": "FAIL", "info": "info", "skip": "-"}


def add_doctor_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    add_common: Callable[[argparse.ArgumentParser], None],
) -> None:
    """Register ``doctor``."""
    p = sub.add_parser(
        "doctor", help="check the Hermes home, keys, recorder and call log; a fix for each"
    )
    add_common(p)
    p.add_argument("--json", action="store_true", help="print the checks as one JSON object")
    p.add_argument(
        "--offline", action="store_true", help="do not ask OpenRouter whether the key works"
    )
    p.set_defaults(handler=cmd_doctor)


async def _key_check(client: OpenRouterClient) -> Check:
    from hermes_dash.services import doctor

    try:
        return await doctor.key_check(client)
    finally:
        await client.aclose()


def cmd_doctor(args: argparse.Namespace) -> int:
    """Run every check; exit 1 when one failed."""
    from hermes_dash.services import doctor
    from hermes_dash.services.checks import check, needs_fixing

    settings = settings_from(args)
    report = doctor.local_checks(settings)
    checks = list(report.checks)
    if args.offline:
        key = check("key_accepted", "skip", "--offline")
    else:
        key = asyncio.run(_key_check(make_client(settings)))
    # Right after the key's presence: the two read together.
    at = next(i for i, c in enumerate(checks) if c.id == "key") + 1
    checks.insert(at, key)
    failed = needs_fixing(checks)
    if args.json:
        out = {
            "ok": not failed,
            "version": __version__,
            "hermes_home": clean(settings.paths.home),
            "call_log": clean(settings.db_path),
            "checks": [c.as_dict() for c in checks],
        }
        print(json.dumps(out, indent=2))
    else:
        _print(checks, failed)
    return 1 if failed else 0


def _print(checks: list[Check], failed: bool) -> None:
    print(f"hermes-dash {__version__} doctor")
    for c in checks:
        print(f"  {MARKS[c.status]:<5} {c.title:<18} {c.detail}")
        if c.fix and c.status != "ok":
            print(f"  {'':<5} {'':<18} fix: {c.fix}")
    problems = sum(c.status == "fail" for c in checks)
    if failed:
        print(f"\n{problems} {'problem needs' if problems == 1 else 'problems need'} fixing.")
    else:
        print("\nNothing needs fixing.")
