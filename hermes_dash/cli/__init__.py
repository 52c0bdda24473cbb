"""Command line: argument parsing and wiring; the only place that builds real clients."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from hermes_dash import __version__
from hermes_dash.calllog.records import WINDOWS, Window
from hermes_dash.calllog.store import CallFilter, CallLogError, CallStore
from hermes_dash.cli import breakdown as by_source
from hermes_dash.cli.budget import add_budget_parser
from hermes_dash.cli.common import make_client, settings_from
from hermes_dash.cli.errors import RuntimeFailure, UsageError
from hermes_dash.cli.plugin import add_plugin_parser
from hermes_dash.cli.routing import add_routing_parser
from hermes_dash.cli.watch import add_watch_parser
from hermes_dash.hermes.config import ConfigError, load_config, routing_block
from hermes_dash.hermes.paths import HermesHomeError
from hermes_dash.openrouter.errors import OpenRouterError
from hermes_dash.services.account import AccountState, fetch_snapshot
from hermes_dash.services.dashboard import DEFAULT_WINDOW, prefetch_first
from hermes_dash.services.settings import DashSettings
from hermes_dash.services.summary import build_summary

#: Failures every command reports as one line and exit 1, never a traceback.
EXPECTED_FAILURES: tuple[type[BaseException], ...] = (
    RuntimeFailure,
    OpenRouterError,
    CallLogError,
    ConfigError,
    HermesHomeError,
    OSError,
)


def _add_common(parser: argparse.ArgumentParser, *, nested: bool) -> None:
    """Options every command accepts; nested copies must not overwrite top-level values."""
    default = argparse.SUPPRESS if nested else None
    parser.add_argument(
        "--hermes-home",
        metavar="DIR",
        default=default,
        help="Hermes home (default: $HERMES_HOME or ~/.hermes)",
    )
    parser.add_argument(
        "--profile",
        metavar="NAME",
        default=default,
        help="Hermes profile (profiles/NAME under the Hermes home)",
    )
    parser.add_argument(
        "--db",
        metavar="FILE",
        default=default,
        help="call log (default: $HERMES_DASH_DB or $HERMES_HOME/hermes-dash/calls.db)",
    )
    parser.add_argument(
        "--openrouter-url", metavar="URL", default=default, help="OpenRouter API base URL"
    )


def _window_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--window", choices=list(WINDOWS), default="24h", help="time window (default 24h)"
    )


def build_parser() -> argparse.ArgumentParser:
    """The whole command line."""
    parser = argparse.ArgumentParser(
        prog="hermes-dash",
        description="Terminal dashboard for Hermes Agent on OpenRouter: spend, rate limits, "
        "provider latency and a safe provider_routing editor.",
    )
    parser.add_argument("--version", action="version", version=f"hermes-dash {__version__}")
    _add_common(parser, nested=False)
    parser.add_argument(
        "--refresh",
        type=float,
        metavar="SECONDS",
        default=None,
        help="OpenRouter poll interval (default 30)",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="run on generated data with a fake OpenRouter: no key, no network",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("summary", help="where the money is going, as a table or JSON")
    _add_common(p, nested=True)
    p.add_argument("--json", action="store_true", help="print the JSON object")
    _window_arg(p)
    p.add_argument("--offline", action="store_true", help="do not contact OpenRouter")
    by_source.add_by_argument(p)

    p = sub.add_parser("demo", help="write a synthetic call log")
    p.add_argument("--generate", type=int, required=True, metavar="N", help="number of calls")
    p.add_argument("--db", required=True, metavar="FILE", help="the SQLite file to write")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--days", type=float, default=7.0, help="days of history (default 7)")

    p = sub.add_parser("export", help="write call-log rows as CSV or JSON")
    _add_common(p, nested=True)
    p.add_argument("--format", choices=("csv", "json"), required=True)
    p.add_argument(
        "--window", choices=list(WINDOWS), default=None, help="only this window (default: all)"
    )
    p.add_argument("--output", metavar="FILE", help="write here instead of standard output")

    add_routing_parser(sub, lambda p: _add_common(p, nested=True))
    add_plugin_parser(sub, lambda p: _add_common(p, nested=True))
    add_budget_parser(sub, lambda p: _add_common(p, nested=True))
    add_watch_parser(sub, lambda p: _add_common(p, nested=True))
    return parser


def open_store(path: Path, *, must_exist: bool = False) -> CallStore:
    """Open the call log; a missing file is created unless it must exist. An existing log
    that cannot be written (a read-only folder or file) is opened for reading."""
    if must_exist and not path.exists():
        raise RuntimeFailure(
            f"no call log at {path}: run 'hermes-dash plugin install' and let Hermes make a call, "
            "or pass --db"
        )
    try:
        return CallStore(path)
    except CallLogError as exc:
        if not path.is_file():
            raise
        try:
            return CallStore(path, readonly=True)
        except CallLogError:
            raise exc from None


def read_routing(settings: DashSettings) -> dict[str, Any]:
    """The provider_routing block as Hermes reads it; {} when there is no config."""
    if not settings.paths.config.exists():
        return {}
    return routing_block(load_config(settings.paths.config))


async def _account(settings: DashSettings, store: CallStore, offline: bool) -> AccountState:
    if offline or not settings.secrets.api_key:
        return AccountState.offline()
    client = make_client(settings)
    try:
        snap = await fetch_snapshot(client)
    finally:
        await client.aclose()
    if not store.readonly:
        store.add_snapshot(snap)
    return AccountState("ok", snap)


def _money(v: float | None) -> str:
    return "-" if v is None else f"${v:,.2f}"


def _print_summary_table(s: dict[str, Any]) -> None:
    acc, calls = s["account"], s["calls"]
    print(f"hermes-dash summary, last {s['window']} (generated {s['generated_at']})")
    if acc["status"] == "ok":
        print(
            f"  account   usage {_money(acc['usage'])}  today {_money(acc['usage_daily'])}  "
            f"month {_money(acc['usage_monthly'])}  balance {_money(acc['balance'])}  "
            f"limit left {_money(acc['limit_remaining'])}"
        )
    else:
        print("  account   offline (no OpenRouter key, or --offline)")
    burn = s["burn_rate_usd_per_hour"]
    runway = s["runway_hours"]
    print(
        f"  calls     {calls['total']:,} ({calls['errors']:,} errors, {calls['rate_limited']:,} "
        f"rate limited)  cost {_money(calls['cost_usd'])}  burn "
        f"{'-' if burn is None else f'${burn:,.4f}/h'}  runway "
        f"{'-' if runway is None else f'{runway:,.1f} h'}"
    )
    print(
        f"\n  {'provider':<12} {'upstream':<18} {'calls':>8} {'429s':>6} "
        f"{'p50 s':>7} {'p95 s':>7} {'cost':>10}"
    )
    for p in s["providers"]:
        p50 = "-" if p["latency_p50_s"] is None else f"{p['latency_p50_s']:.2f}"
        p95 = "-" if p["latency_p95_s"] is None else f"{p['latency_p95_s']:.2f}"
        print(
            f"  {p['provider']:<12} {(p['upstream'] or '-'):<18} {p['calls']:>8,} "
            f"{p['rate_limited']:>6,} {p50:>7} {p95:>7} {_money(p['cost_usd']):>10}"
        )
    print(f"\n  {'model':<42} {'calls':>8} {'429s':>6} {'cost':>10}")
    for m in s["models"]:
        print(
            f"  {m['model'][:42]:<42} {m['calls']:>8,} {m['rate_limited']:>6,} "
            f"{_money(m['cost_usd']):>10}"
        )


def cmd_summary(args: argparse.Namespace) -> int:
    """``hermes-dash summary``."""
    settings = settings_from(args)
    store = open_store(settings.db_path, must_exist=True)
    now = time.time()
    account = asyncio.run(_account(settings, store, args.offline))
    window = Window.named(args.window, now)
    summary = build_summary(store, window, account, read_routing(settings), now)
    if args.by:
        by_source.attach(summary, args, store, window, settings)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        _print_summary_table(summary)
        if args.by:
            by_source.print_table(summary)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """``hermes-dash demo --generate N --db FILE``."""
    from hermes_dash.demo.generator import generate

    if args.generate < 0:
        raise UsageError("--generate takes a number of calls >= 0")
    if args.days <= 0:
        raise UsageError("--days must be more than 0")
    started = time.perf_counter()
    n = generate(CallStore(Path(args.db)), args.generate, seed=args.seed, days=args.days)
    print(
        f"wrote {n:,} calls to {args.db} in {time.perf_counter() - started:.1f} s", file=sys.stderr
    )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """``hermes-dash export``."""
    from hermes_dash.services.export import write_csv, write_json

    settings = settings_from(args)
    store = open_store(settings.db_path, must_exist=True)
    flt = CallFilter(window=Window.named(args.window, time.time()) if args.window else None)
    writer = write_csv if args.format == "csv" else write_json
    if args.output:
        out_path = Path(args.output)
        tmp = out_path.with_name(out_path.name + ".part")
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            n = writer(store.iter_calls(flt), fh)
        tmp.replace(out_path)
        print(f"wrote {n:,} calls to {out_path}", file=sys.stderr)
    else:
        writer(store.iter_calls(flt), sys.stdout)
    return 0


def cmd_tui(args: argparse.Namespace) -> int:
    """``hermes-dash`` with no command: the dashboard."""
    if args.refresh is not None and args.refresh < 5:
        raise UsageError(
            "--refresh must be at least 5 seconds (OpenRouter asks for gentle polling)"
        )
    if args.demo:
        from hermes_dash.tui import launch

        return launch.run_demo()
    settings = settings_from(args)
    if not settings.db_path.exists():
        # The recorder creates the log inside the Hermes home; insist that the home
        # exists rather than create folders where the user did not mean.
        settings.paths.require()
    store = open_store(settings.db_path)
    # The first read runs while the user interface loads (imports take longer than it).
    first_read = prefetch_first(store, DEFAULT_WINDOW, time.time())
    # Importing the interface makes tens of thousands of long-lived objects: collecting
    # garbage among them is wasted work; launch freezes them and turns collection back on.
    gc.disable()
    from hermes_dash.tui import launch

    return launch.run_dashboard(settings, make_client(settings), store, first_read)


COMMANDS: dict[str | None, Callable[[argparse.Namespace], int]] = {
    None: cmd_tui,
    "summary": cmd_summary,
    "demo": cmd_demo,
    "export": cmd_export,
}


def _fail(message: str, code: int) -> NoReturn:
    print(f"hermes-dash: {message}", file=sys.stderr)
    raise SystemExit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hermes-dash`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = COMMANDS.get(args.command) or args.handler
    try:
        return handler(args)
    except UsageError as exc:
        _fail(str(exc), 2)
    except EXPECTED_FAILURES as exc:
        message = str(exc) or type(exc).__name__
        if isinstance(exc, OSError) and exc.strerror:
            message = f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
        _fail(message, 1)
    except KeyboardInterrupt:
        return 130
