"""``hermes-dash watch``: evaluate every alert rule each poll, send what is new away.

A foreground process for systemd, tmux or cron; SIGTERM or Ctrl-C stop it cleanly (exit 0).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from hermes_dash.calllog.store import CallLogError, CallStore
from hermes_dash.cli.common import make_client, settings_from
from hermes_dash.cli.errors import RuntimeFailure, UsageError
from hermes_dash.hermes.processes import hermes_running
from hermes_dash.openrouter.client import OpenRouterClient
from hermes_dash.openrouter.errors import OpenRouterError
from hermes_dash.services import notify
from hermes_dash.services.account import AccountState, fetch_snapshot, status_for
from hermes_dash.services.alerts import AlertInputs, AlertRules, evaluate, gather
from hermes_dash.services.settings import DashSettings, UserSettings, user_settings_file

if TYPE_CHECKING:
    import httpx

DEFAULT_INTERVAL_S = 60.0
MIN_INTERVAL_S = 5.0
MAX_INTERVAL_S = 86400.0
STATE_FILE = "watch-state.json"
#: Held (flock) while a watch runs for a call log: two would send every alert twice and
#: overwrite each other's state.
LOCK_FILE = "watch.lock"
#: Test hooks: a faster poll and faster retries than a user may ask for.
INTERVAL_ENV = "HERMES_DASH_WATCH_INTERVAL_S"
RETRY_ENV = "HERMES_DASH_WATCH_RETRY_S"
#: Test hook: where to look for running processes (default /proc).
PROC_ENV = "HERMES_DASH_PROC_DIR"


def add_watch_parser(
    p: argparse.ArgumentParser, add_common: Callable[[argparse.ArgumentParser], None]
) -> None:
    """The options of ``watch``."""
    add_common(p)
    p.add_argument(
        "--webhook",
        action="append",
        default=[],
        metavar="URL",
        help="a Slack/Discord/JSON webhook (repeatable; also alert_webhooks in settings)",
    )
    p.add_argument("--ntfy", metavar="URL", help="an ntfy topic URL (also alert_ntfy_url)")
    p.add_argument(
        "--interval",
        type=float,
        default=DEFAULT_INTERVAL_S,
        metavar="SECONDS",
        help=f"seconds between evaluations (default {DEFAULT_INTERVAL_S:g}, at least 5)",
    )
    p.add_argument("--no-desktop", action="store_true", help="no desktop notifications")
    p.set_defaults(handler=cmd_watch)


def _check_url(url: str, flag: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"{flag} takes an http(s) URL")
    return url


def _env_float(name: str) -> float | None:
    value = os.environ.get(name)
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _open_store(settings: DashSettings) -> CallStore | None:
    """The call log when there is one (without it only the account is watched)."""
    if not settings.db_path.exists():
        return None
    from hermes_dash.cli import open_store

    return open_store(settings.db_path)


class Watcher:
    """One poll loop: the account, the call log, the rules, the notifier."""

    def __init__(
        self,
        settings: DashSettings,
        api: OpenRouterClient,
        store: CallStore | None,
        notifier: notify.Notifier,
        rules: AlertRules,
        interval_s: float,
    ):
        self.settings = settings
        self.api = api
        self.store = store
        self.notifier = notifier
        self.rules = rules
        self.interval_s = interval_s
        self.account = AccountState("ok", None) if api.has_key else AccountState.offline()
        #: Deliveries run beside the evaluations: a receiver that hangs holds back only
        #: its own channel, never the next poll or the other channels.
        self._deliveries: set[asyncio.Task[None]] = set()
        #: The call-log read of the current tick, on a thread: a stop cancels the tick but
        #: cannot stop the thread, and the log must not be closed under it.
        self._read: asyncio.Future[AlertInputs] | None = None

    def deliver_soon(self) -> None:
        """Start delivering what is due, without waiting for it."""
        task = asyncio.ensure_future(self.notifier.deliver())
        self._deliveries.add(task)
        task.add_done_callback(self._delivered)

    def _delivered(self, task: asyncio.Task[None]) -> None:
        self._deliveries.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            print(f"hermes-dash watch: delivery failed ({exc!r})", file=sys.stderr, flush=True)

    async def stop_deliveries(self) -> None:
        """Give up on deliveries under way (the process is stopping)."""
        tasks = list(self._deliveries)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def poll_account(self, now: float) -> None:
        """``/key`` and ``/credits``; a failure keeps the last numbers, marked stale."""
        if not self.api.has_key:
            return
        try:
            snap = await fetch_snapshot(self.api, now=now)
        except OpenRouterError as exc:
            prev = self.account.snapshot
            self.account = AccountState(status_for(exc), prev, str(exc), stale=prev is not None)
            return
        self.account = AccountState("ok", snap)
        if self.store is not None and not self.store.readonly:
            with contextlib.suppress(CallLogError):  # the poll still counts
                self.store.add_snapshot(snap)

    def inputs(self, now: float) -> AlertInputs:
        """What the rules judge this time."""
        running = hermes_running(
            Path(os.environ.get(PROC_ENV) or "/proc"), home=self.settings.paths.home
        )
        if self.store is None:
            return AlertInputs(now=now, account=self.account, hermes_running=running)
        return gather(self.store, now, self.account, self.rules, hermes_running=running)

    async def tick(self) -> None:
        """One evaluation: poll, read, judge, queue, deliver."""
        now = time.time()
        await self.poll_account(now)
        self._read = asyncio.ensure_future(asyncio.to_thread(self.inputs, now))
        try:
            inputs = await asyncio.shield(self._read)
        except CallLogError as exc:
            inputs = AlertInputs(now=now, account=self.account)
            print(f"hermes-dash watch: call log unreadable ({exc})", file=sys.stderr, flush=True)
        self.notifier.observe(evaluate(inputs, self.rules))
        self.deliver_soon()

    async def run(self, stop: asyncio.Event) -> None:
        """Tick every interval; between ticks, retry deliveries when they fall due."""
        try:
            await self._run(stop)
        finally:
            await self.stop_deliveries()
            if self._read is not None:  # a stopped tick's read ends before the log closes
                await asyncio.gather(self._read, return_exceptions=True)

    async def _run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            next_tick = time.monotonic() + self.interval_s
            tick = asyncio.ensure_future(self.tick())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({tick, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if stop.is_set():
                tick.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await tick
                break
            stopper.cancel()
            tick.result()
            while not stop.is_set() and time.monotonic() < next_tick:
                wait = next_tick - time.monotonic()
                due = self.notifier.next_due()
                if due is not None:
                    wait = min(wait, max(0.0, due - time.time()))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=max(0.01, wait))
                if due is not None and time.time() >= due:
                    self.deliver_soon()


def _channels(
    args: argparse.Namespace, prefs: UserSettings, http: httpx.AsyncClient
) -> list[notify.Channel]:
    hooks = [_check_url(u, "--webhook") for u in args.webhook]
    for url in prefs.alert_webhooks:
        if url not in hooks:
            hooks.append(_check_url(url, "alert_webhooks in the settings file"))
    channels: list[notify.Channel] = [notify.WebhookChannel(u, http) for u in hooks]
    ntfy = args.ntfy or prefs.alert_ntfy_url
    if ntfy:
        channels.append(notify.NtfyChannel(_check_url(ntfy, "--ntfy"), http))
    if prefs.alert_desktop and not args.no_desktop:
        desktop = notify.DesktopChannel.find()
        if desktop is not None:
            channels.append(desktop)
    channels.append(notify.StdoutChannel())
    return channels


def cmd_watch(args: argparse.Namespace) -> int:
    """``hermes-dash watch``."""
    if not args.interval >= MIN_INTERVAL_S:
        raise UsageError(
            "--interval must be at least 5 seconds (OpenRouter asks for gentle polling)"
        )
    if not args.interval <= MAX_INTERVAL_S:
        raise UsageError("--interval must be at most 86400 seconds (a day)")
    interval = _env_float(INTERVAL_ENV) or args.interval
    for url in args.webhook:
        _check_url(url, "--webhook")
    if args.ntfy:
        _check_url(args.ntfy, "--ntfy")
    settings = settings_from(args)
    prefs = UserSettings.load(settings.user_settings_path or user_settings_file())
    store = _open_store(settings)
    lock = _single_watch(settings.db_path) if store is not None else None
    try:
        return asyncio.run(_watch(args, settings, prefs, store, interval))
    finally:
        if lock is not None:
            os.close(lock)


def _single_watch(db_path: Path) -> int:
    """Hold the lock beside the call log, or fail: one watch per call log."""
    import fcntl

    path = db_path.with_name(LOCK_FILE)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise RuntimeFailure(
            f"another hermes-dash watch is already running for {db_path}; "
            "stop it first (one watch per call log, or every alert is sent twice)"
        ) from None
    return fd


async def _watch(
    args: argparse.Namespace,
    settings: DashSettings,
    prefs: UserSettings,
    store: CallStore | None,
    interval: float,
) -> int:
    import httpx

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    http = httpx.AsyncClient(timeout=notify.SEND_TIMEOUT_S, follow_redirects=False)
    api = make_client(settings)
    channels = _channels(args, prefs, http)
    # Beside the call log: one state per Hermes home, so a restart does not repeat alerts.
    state = settings.db_path.with_name(STATE_FILE) if store is not None else None
    notifier = notify.Notifier(
        channels, retry_base_s=_env_float(RETRY_ENV) or notify.RETRY_BASE_S, state_path=state
    )
    names = ", ".join(c.name for c in channels)
    key = api.masked_key if api.has_key else "no key: account rules off"
    log = str(settings.db_path) if store is not None else "no call log: call-log rules off"
    print(
        f"hermes-dash watch: every {interval:g} s to {names}; key {key}; log {log}",
        file=sys.stderr,
        flush=True,
    )
    watcher = Watcher(settings, api, store, notifier, AlertRules.from_settings(prefs), interval)
    try:
        await watcher.run(stop)
    finally:
        await api.aclose()
        await http.aclose()
        if store is not None:
            store.close()
    print("hermes-dash watch: stopped", file=sys.stderr, flush=True)
    return 0
