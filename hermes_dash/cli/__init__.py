"""Command line: argument parsing and wiring; the only place that builds real clients."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from hermes_dash import __version__
from hermes_dash.calllog.records import WINDOWS, Window
from hermes_dash.calllog.store import CallFilter, CallLogError, CallStore
from hermes_dash.cli import account as account_view
from hermes_dash.cli import breakdown as by_source
from hermes_dash.cli.budget import add_budget_parser
from hermes_dash.cli.common import make_client, settings_from
from hermes_dash.cli.doctor import add_doctor_parser
from hermes_dash.cli.errors import RuntimeFailure, UsageError
from hermes_dash.cli.metrics import add_metrics_parser
from hermes_dash.cli.plugin import add_plugin_parser
from hermes_dash.cli.routing import add_routing_parser
from hermes_dash.cli.routing_data import sync_routing_history
from hermes_dash.cli.serve import add_serve_parser
from hermes_dash.cli.watch import add_watch_parser
from hermes_dash.hermes.config import ConfigError, load_config, routing_block
from hermes_dash.hermes.paths import HermesHomeError
from hermes_dash.openrouter.client import OpenRouterClient
from hermes_dash.openrouter.errors import OpenRouterError, RequestTimeout
from hermes_dash.openrouter.records import ActivityRow
from hermes_dash.services.account import AccountState, fetch_activity, fetch_snapshot
from hermes_dash.services.backoff import refresh_error
from hermes_dash.services.dashboard import DEFAULT_WINDOW
from hermes_dash.services.endpoints import EndpointPolicy, policy_for
from hermes_dash.services.settings import DashSettings
from hermes_dash.services.startup import interface_imports, prefetch_first
from hermes_dash.services.summary import build_summary
from hermes_dash.text import clean, clean_data

#: All of ``summary``'s talking to OpenRouter, whatever a server does: with Python's
#: start-up and the call log's read, the command ends well within its 60 s bound.
SUMMARY_OPENROUTER_S = 45.0

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
        metavar="SECONDS",
        default=None,
        help="OpenRouter poll interval, 5 to 3600 (default 30)",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="run on generated data with a fake OpenRouter: no key, no network",
    )
    parser.add_argument(
        "--read-only",
        action="store_true",
        help="refuse every write: config.yaml, key limits, settings (what serve runs)",
    )
    parser.add_argument(
        "--prometheus",
        metavar="URL",
        default=None,
        help="the dashboard over a fleet: PromQL from this Prometheus (see 'metrics')",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("summary", help="where the money is going, as a table or JSON")
    _add_common(p, nested=True)
    p.add_argument("--json", action="store_true", help="print the JSON object")
    _window_arg(p)
    p.add_argument("--offline", action="store_true", help="do not contact OpenRouter")
    by_source.add_by_argument(p)
    account_view.add_account_argument(p)

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
    p.add_argument("--offline", action="store_true", help="do not price calls through OpenRouter")

    add_routing_parser(sub, lambda p: _add_common(p, nested=True))
    add_plugin_parser(sub, lambda p: _add_common(p, nested=True))
    add_budget_parser(sub, lambda p: _add_common(p, nested=True))
    add_watch_parser(sub, lambda p: _add_common(p, nested=True))
    add_metrics_parser(sub, lambda p: _add_common(p, nested=True))
    add_doctor_parser(sub, lambda p: _add_common(p, nested=True))
    add_serve_parser(sub, lambda p: _add_common(p, nested=True))
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


def _print_summary_table(s: dict[str, Any]) -> None:
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
        _print_summary_table(summary)
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
        f"wrote {n:,} calls to {clean(args.db)} in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )
    return 0


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


def cmd_tui(args: argparse.Namespace) -> int:
    """``hermes-dash`` with no command: the dashboard."""
    if args.demo:
        from hermes_dash.cli.demo import run_demo

        return run_demo(read_only=args.read_only)
    if args.prometheus:
        from hermes_dash.cli.metrics import check_prometheus_url
        from hermes_dash.tui import launch

        url = check_prometheus_url(args.prometheus)
        return launch.run_fleet(url, args.refresh)
    settings = settings_from(args)
    if not settings.db_path.exists():
        # The recorder creates the log inside the Hermes home; insist that the home
        # exists rather than create folders where the user did not mean.
        settings.paths.require()
    store = open_store(settings.db_path)
    # The start-up sequence, explained in hermes_dash.services.startup.
    first_read = prefetch_first(store, DEFAULT_WINDOW, time.time())
    with interface_imports():
        from hermes_dash.tui import launch

    return launch.run_dashboard(settings, make_client(settings), store, first_read)


COMMANDS: dict[str | None, Callable[[argparse.Namespace], int]] = {
    None: cmd_tui,
    "summary": cmd_summary,
    "demo": cmd_demo,
    "export": cmd_export,
}


def refresh_seconds(text: str) -> float:
    """``--refresh``: a number of seconds from 5 to 3600; anything else is a usage error
    (NaN would poll many times a second, inf or 1e9 never again)."""
    try:
        seconds = float(text)
    except ValueError:
        raise UsageError(f"--refresh takes a number of seconds, not {text!r}") from None
    problem = refresh_error(seconds)
    if problem is not None:
        raise UsageError(problem)
    return seconds


#: What a shell reports for a program ended by SIGPIPE (128 + 13): ``summary | head``.
BROKEN_PIPE_EXIT = 141


def _stdout_gone() -> int:
    """The reader of our output went away (``| head``): stop quietly, as other command-line
    tools do. Standard output is pointed at /dev/null so that Python's own flush at exit
    does not complain about the closed pipe either."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    return BROKEN_PIPE_EXIT


def _run(handler: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    code = handler(args)
    # Buffered output reaches the pipe here, where a closed pipe is still ours to handle.
    sys.stdout.flush()
    return code


def _fail(message: str, code: int) -> NoReturn:
    # Messages carry server text, file names and config values: one clean line.
    print(f"hermes-dash: {clean(message, 1000)}", file=sys.stderr)
    raise SystemExit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hermes-dash`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = COMMANDS.get(args.command) or args.handler
    try:
        if getattr(args, "refresh", None) is not None:
            args.refresh = refresh_seconds(args.refresh)
        sync_routing_history(args)
        return _run(handler, args)
    except BrokenPipeError:
        return _stdout_gone()
    except UsageError as exc:
        _fail(str(exc), 2)
    except EXPECTED_FAILURES as exc:
        message = str(exc) or type(exc).__name__
        if isinstance(exc, OSError) and exc.strerror:
            message = f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
        _fail(message, 1)
    except KeyboardInterrupt:
        return 130
