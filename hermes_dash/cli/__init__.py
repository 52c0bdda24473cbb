"""Command line: argument parsing and wiring; the only place that builds real clients."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from hermes_dash import __version__
from hermes_dash.calllog.store import CallLogError, CallStore
from hermes_dash.cli.common import make_client, settings_from
from hermes_dash.cli.errors import RuntimeFailure, UsageError
from hermes_dash.hermes.config import ConfigError
from hermes_dash.hermes.paths import HermesHomeError
from hermes_dash.openrouter.errors import OpenRouterError
from hermes_dash.services.backoff import refresh_error
from hermes_dash.services.dashboard import DEFAULT_WINDOW
from hermes_dash.services.startup import interface_imports, prefetch_first
from hermes_dash.text import clean

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


#: Every command: its line in ``--help`` and the ``module:function`` that adds its options
#: (and its ``handler``) to its parser. A command's module is imported only when the
#: command is named, so ``hermes-dash`` alone (the dashboard) loads none of them.
COMMANDS: dict[str, tuple[str, str]] = {
    "summary": (
        "where the money is going, as a table or JSON",
        "hermes_dash.cli.summary:add_summary_parser",
    ),
    "demo": ("write a synthetic call log", "hermes_dash.cli.generate:add_generate_parser"),
    "export": (
        "write call-log rows as CSV or JSON",
        "hermes_dash.cli.summary:add_export_parser",
    ),
    "routing": (
        "show or change provider_routing in config.yaml",
        "hermes_dash.cli.routing:add_routing_parser",
    ),
    "plugin": (
        "the Hermes plugin that records every API call",
        "hermes_dash.cli.plugin:add_plugin_parser",
    ),
    "budget": (
        "key limits OpenRouter enforces, and your budgets",
        "hermes_dash.cli.budget:add_budget_parser",
    ),
    "watch": (
        "send alerts to webhooks, ntfy, the desktop, stdout",
        "hermes_dash.cli.watch:add_watch_parser",
    ),
    "metrics": (
        "serve Prometheus metrics of the call log and account",
        "hermes_dash.cli.metrics:add_metrics_parser",
    ),
    "doctor": (
        "check the Hermes home, keys, recorder and call log; a fix for each",
        "hermes_dash.cli.doctor:add_doctor_parser",
    ),
    "serve": (
        "the dashboard in a browser (read-only by default)",
        "hermes_dash.cli.serve:add_serve_parser",
    ),
}


class _Commands(argparse._SubParsersAction):
    """The commands' parsers, each given its options when its command is named."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        assert isinstance(values, list)  # a command name, then what follows it
        command = self._name_parser_map[values[0]]
        if command.get_default("handler") is None:  # not given its options yet
            module, function = COMMANDS[values[0]][1].split(":")
            add_options = getattr(importlib.import_module(module), function)
            add_options(command, lambda p: _add_common(p, nested=True))
        super().__call__(parser, namespace, values, option_string)


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
    parser.set_defaults(handler=cmd_tui)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", action=_Commands)
    for name, (text, _) in COMMANDS.items():
        sub.add_parser(name, help=text)
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
    try:
        if getattr(args, "refresh", None) is not None:
            args.refresh = refresh_seconds(args.refresh)
        if args.command is not None:  # the dashboard does this after its first frame
            from hermes_dash.cli.routing_data import sync_routing_history

            sync_routing_history(args)
        return _run(args.handler, args)
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
