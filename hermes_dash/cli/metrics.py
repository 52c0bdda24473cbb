"""``hermes-dash metrics``: a Prometheus exporter of the call log, the account and the
recorder's health. A foreground process; SIGTERM or Ctrl-C stop it cleanly (exit 0)."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Callable

from hermes_dash.calllog.store import CallLogError, CallStore
from hermes_dash.cli.common import make_client, settings_from
from hermes_dash.cli.errors import RuntimeFailure, UsageError
from hermes_dash.services.settings import DashSettings, UserSettings, user_settings_file
from hermes_dash.text import clean

DEFAULT_LISTEN = "127.0.0.1:9464"


def add_metrics_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    add_common: Callable[[argparse.ArgumentParser], None],
) -> None:
    """Register ``metrics``."""
    p = sub.add_parser("metrics", help="serve Prometheus metrics of the call log and account")
    add_common(p)
    p.add_argument(
        "--listen",
        metavar="HOST:PORT",
        default=DEFAULT_LISTEN,
        help=f"address to serve /metrics on (default {DEFAULT_LISTEN}; port 0 picks one)",
    )
    p.set_defaults(handler=cmd_metrics)


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) into its parts; a usage error otherwise."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise UsageError(f"--listen takes HOST:PORT, not {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        port = int(port_text)
    except ValueError:
        raise UsageError(f"--listen: {port_text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise UsageError(f"--listen: port {port} is out of range (0-65535)")
    return host, port


def check_prometheus_url(text: str) -> str:
    """``--prometheus``: an http(s) URL of a Prometheus server, else a usage error."""
    from urllib.parse import urlsplit

    def refuse(why: str) -> UsageError:
        return UsageError(
            f"--prometheus takes the URL of a Prometheus server (http://host:9090), not "
            f"{clean(repr(text), 200)}: {why}"
        )

    try:
        parts = urlsplit(text)
        _ = parts.port  # raises ValueError when out of range
    except ValueError as exc:
        raise refuse(str(exc)) from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise refuse("it needs http:// or https:// and a host")
    if not parts.hostname:
        raise refuse("it names no host")
    if not parts.netloc.isprintable() or " " in parts.netloc:
        raise refuse("the host has spaces or control characters")
    if parts.query or parts.fragment:
        # The API's paths are added after the URL: a query or fragment would swallow them.
        raise refuse("a server's URL has no ?query or #fragment")
    return text.rstrip("/")


def _open_log(settings: DashSettings) -> CallStore:
    if not settings.db_path.exists():
        # The recorder creates the log inside the Hermes home; insist that it exists
        # rather than make folders where the user did not mean.
        settings.paths.require()
    try:
        return CallStore(settings.db_path)
    except CallLogError:
        if not settings.db_path.is_file():
            raise
        return CallStore(settings.db_path, readonly=True)


def cmd_metrics(args: argparse.Namespace) -> int:
    """``hermes-dash metrics``."""
    from prometheus_client import CollectorRegistry, start_http_server

    from hermes_dash.services.account_poll import DEFAULT_POLL_S, AccountPoller
    from hermes_dash.services.metrics import Budgets, CallLogCollector
    from hermes_dash.services.plugin import plugin_status
    from hermes_dash.text import shown_url

    host, port = parse_listen(args.listen)
    settings = settings_from(args)
    store = _open_log(settings)
    prefs_path = settings.user_settings_path or user_settings_file()

    def budgets() -> Budgets:
        prefs = UserSettings.load(prefs_path)
        return Budgets(prefs.daily_budget_usd, prefs.monthly_budget_usd)

    def report(line: str) -> None:
        print(f"hermes-dash metrics: {clean(line, 300)}", file=sys.stderr, flush=True)

    poller = None
    if settings.secrets.api_key:
        interval = args.refresh if getattr(args, "refresh", None) else DEFAULT_POLL_S
        poller = AccountPoller(make_client(settings), interval, report)
    collector = CallLogCollector(
        store,
        account=poller.reading if poller else lambda: None,
        plugin=lambda: plugin_status(settings.paths, None),
        budgets=budgets,
        report=report,
    )
    # A registry of our own: only hermes_dash_* families, no process or GC collectors.
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    # The handler only appends to a list: a handler that took a lock (Event.set) could run
    # while the main thread held that same lock inside Event.wait, and hang for ever.
    stopping: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: stopping.append(signum))
    try:
        server, thread = start_http_server(port, host, registry)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise RuntimeFailure(f"cannot listen on {clean(args.listen)}: {reason}") from None
    bound_host, bound_port = str(server.server_address[0]), int(server.server_address[1])
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    if poller is not None:
        poller.start()
    # A proxy's basic auth in the URL is sent, never printed.
    account = (
        "account from " + shown_url(settings.openrouter_url) if poller else "no key: account off"
    )
    print(
        f"hermes-dash metrics: serving http://{shown}:{bound_port}/metrics; "
        f"log {clean(settings.db_path)}; {clean(account)}",
        file=sys.stderr,
        flush=True,
    )
    try:
        while not stopping:
            # A short sleep, not signal.pause(): the kernel may hand the signal to the
            # server's thread, and then only a main thread that wakes by itself sees it.
            time.sleep(0.2)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
        if poller is not None:
            poller.stop()
        store.close()
    print("hermes-dash metrics: stopped", file=sys.stderr, flush=True)
    return 0
