"""``summary --by source|session|platform|task|profile``: the breakdown part."""

from __future__ import annotations

import argparse
import contextlib
from typing import Any

from hermes_dash.calllog.records import Window
from hermes_dash.calllog.store import CallLogError, CallStore
from hermes_dash.hermes.paths import HermesPaths
from hermes_dash.services.breakdown import (
    BY_CHOICES,
    active_hours,
    breakdown,
    breakdown_json,
    describe_overnight,
    profile_breakdown,
)
from hermes_dash.services.settings import DashSettings, UserSettings, user_settings_file


def add_by_argument(parser: argparse.ArgumentParser) -> None:
    """The ``--by`` flag of ``summary``."""
    parser.add_argument(
        "--by",
        choices=BY_CHOICES,
        help="cost by source (cron job, gateway platform, cli, subagent, auxiliary task), "
        "session, platform, task or profile",
    )


def profile_stores(args: argparse.Namespace, settings: DashSettings) -> dict[str, CallStore]:
    """Every profile's call log under the Hermes root ('default' is the root's own)."""
    root = HermesPaths.resolve(getattr(args, "hermes_home", None)).home
    candidates = {"default": HermesPaths(root).call_log}
    profiles = root / "profiles"
    if profiles.is_dir():
        for folder in sorted(profiles.iterdir()):
            candidates[folder.name] = HermesPaths(folder).call_log
    stores = {}
    for name, path in candidates.items():
        if path.is_file():
            with contextlib.suppress(CallLogError):
                stores[name] = CallStore(path, readonly=True)
    return stores


def attach(
    summary: dict[str, Any],
    args: argparse.Namespace,
    store: CallStore,
    window: Window,
    settings: DashSettings,
) -> None:
    """Add ``by``, ``breakdown`` and ``overnight`` to the summary object."""
    prefs = UserSettings.load(settings.user_settings_path or user_settings_file())
    active = active_hours(prefs)
    if args.by == "profile":
        stores = profile_stores(args, settings)
        try:
            entries = profile_breakdown(stores, window, active)
        finally:
            for s in stores.values():
                s.close()
    else:
        entries = breakdown(store, window, args.by, active)
    summary["by"] = args.by
    summary["breakdown"] = breakdown_json(entries)
    summary["overnight"] = describe_overnight(active)


def print_table(summary: dict[str, Any]) -> None:
    """The breakdown under the summary table, with overnight spend called out."""
    rows = summary["breakdown"]
    print(
        f"\n  {'by ' + summary['by']:<40} {'calls':>8} {'tokens':>12} {'429s':>6} "
        f"{'cost':>10} {'share':>6}"
    )
    for r in rows:
        print(
            f"  {r['key'][:40]:<40} {r['calls']:>8,} {r['tokens']:>12,} {r['rate_limited']:>6,} "
            f"{'$' + format(r['cost_usd'], ',.2f'):>10} {r['share']:>6.0%}"
        )
    night = sum(r["overnight_cost_usd"] for r in rows)
    total = sum(r["cost_usd"] for r in rows)
    if night > 0:
        top = max(rows, key=lambda r: r["overnight_cost_usd"])
        print(
            f"\n  overnight ({summary['overnight']}): ${night:,.2f} of ${total:,.2f} "
            f"({night / total:.0%}); most by {top['key']} (${top['overnight_cost_usd']:,.2f})"
        )
