"""The Textual app: workers that poll OpenRouter and the call log, and the key bindings."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import Screen
from textual.timer import Timer
from textual.worker import Worker, WorkerState

from hermes_dash.calllog.store import CallLogError, CallStore
from hermes_dash.openrouter.client import OpenRouterClient
from hermes_dash.openrouter.errors import OpenRouterError
from hermes_dash.services.account import AccountState, fetch_snapshot, status_for
from hermes_dash.services.backoff import PollSchedule
from hermes_dash.services.budget import Alert, budget_alerts
from hermes_dash.services.dashboard import (
    DEFAULT_WINDOW,
    DashboardData,
    FirstRead,
    build_dashboard,
    live_tail_start,
    read_first,
)
from hermes_dash.services.settings import DashSettings, UserSettings, user_settings_file
from hermes_dash.tui import format as fmt
from hermes_dash.tui.messages import AccountUpdated, CallLogFailed, CallLogUpdated
from hermes_dash.tui.screens.dashboard import DashboardScreen

if TYPE_CHECKING:
    # Loaded when first used, after the first frame.
    from hermes_dash.services.enrich import Enricher
    from hermes_dash.services.plugin import PluginStatus

WINDOW_KEYS = {"1": "1h", "2": "24h", "3": "7d", "4": "30d"}
#: How often the plugin's state (config.yaml, plugin folder) is re-read.
PLUGIN_CHECK_S = 10.0
ENRICH_EVERY_S = 20.0
#: How long the read before the first frame waits for another process's lock.
FIRST_READ_WAIT_S = 0.25


class HermesDashApp(App[None]):
    """hermes-dash: spend, rate limits, provider latency, routing, for Hermes Agent."""

    TITLE = "hermes-dash"
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("r", "refresh", "Refresh"),
        Binding("e", "routing", "Routing"),
        Binding("c", "calls", "Calls"),
        Binding("b", "settings", "Budgets"),
        Binding("k", "key_limits", "Key limits"),
        Binding("o", "sources", "Sources"),
        Binding("h", "cost_check", "Cost check"),
        Binding("1", "window('1h')", "1h", show=False),
        Binding("2", "window('24h')", "24h", show=False),
        Binding("3", "window('7d')", "7d", show=False),
        Binding("4", "window('30d')", "30d", show=False),
        Binding("t", "toggle_theme", "Theme", show=False),
        Binding("question_mark", "help", "Help"),
    ]

    window_name: reactive[str] = reactive(DEFAULT_WINDOW, init=False)

    def __init__(
        self,
        settings: DashSettings,
        api: OpenRouterClient,
        store: CallStore,
        *,
        clock: Callable[[], float] = time.time,
        prefs: UserSettings | None = None,
        prefs_path: Path | None = None,
        first_read: Future[FirstRead] | None = None,
    ) -> None:
        super().__init__()
        self._first_read = first_read
        self.settings = settings
        self.api = api
        self.store = store
        self.clock = clock
        self.prefs_path = prefs_path or settings.user_settings_path or user_settings_file()
        self.prefs = prefs or UserSettings.load(self.prefs_path)
        self.account = AccountState("ok", None) if api.has_key else AccountState.offline()
        self.data: DashboardData | None = None
        self.plugin: PluginStatus | None = None
        self.alerts: list[Alert] = []
        self.last_poll: float | None = None
        #: Seconds until the next OpenRouter poll, as last scheduled (backoff shows here).
        self.next_poll_in: float | None = None
        #: The id of the newest call on screen; -1 until the first read found where to start.
        self.last_row_id = -1
        self.schedule = PollSchedule(settings.refresh_s)
        self._enricher: Enricher | None = None
        self._account_timer: Timer | None = None
        self._calllog_timer: Timer | None = None
        self._last_error: str | None = None
        self._plugin_checked = 0.0
        self._dashboard: DashboardScreen | None = None
        # Aggregates are rebuilt until the last build saw the newest state: a build that
        # started before an account update or a window switch does not count.
        self._state_version = 1
        self._built_version = 0
        self.theme = (
            self.prefs.theme if self.prefs.theme in self.available_themes else "textual-dark"
        )
        self.sub_title = "demo" if settings.demo else str(settings.paths.home)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Every dashboard action in the command palette, beside Textual's own."""
        yield from super().get_system_commands(screen)
        yield SystemCommand(
            "Refresh now", "Poll OpenRouter and re-read the call log", self.action_refresh
        )
        for key, name in WINDOW_KEYS.items():
            yield SystemCommand(
                f"Window: {name}",
                f"Show the last {name} (key {key})",
                partial(self.action_window, name),
            )
        yield SystemCommand("Calls browser", "Every logged call, with filters", self.action_calls)
        yield SystemCommand(
            "Routing editor", "Edit provider_routing in config.yaml", self.action_routing
        )
        yield SystemCommand(
            "Budgets", "Daily and monthly budgets, runway alert", self.action_settings
        )
        yield SystemCommand(
            "Cost by source", "Cron jobs, platforms, subagents, tasks; drill to sessions",
            self.action_sources,
        )  # fmt: skip
        yield SystemCommand(
            "Key limits", "The account's keys and the limits OpenRouter enforces",
            self.action_key_limits,
        )  # fmt: skip
        yield SystemCommand(
            "Cost check", "Logged cost beside Hermes' own numbers", self.action_cost_check
        )
        yield SystemCommand("Toggle dark/light", "Switch the theme", self.action_toggle_theme)
        yield SystemCommand("Help", "Keys and where the numbers come from", self.action_help)

    # -- start-up ------------------------------------------------------------------------

    def get_default_screen(self) -> DashboardScreen:
        """The dashboard is the base screen."""
        return self.dashboard

    @property
    def dashboard(self) -> DashboardScreen:
        """The base screen; it exists (and takes data) from start-up to shut-down."""
        if self._dashboard is None:
            self._dashboard = DashboardScreen()
        return self._dashboard

    def on_mount(self) -> None:
        """Take the call log's first read before the first frame, so it shows the numbers;
        OpenRouter and the recorder's state follow once that frame is on screen."""
        self.set_interval(1.0, self.update_status)
        try:
            first = self._take_first_read()
        except CallLogError:
            self.read_calllog()  # the worker reads, and reports the failure
        else:
            # Built before any account poll or window switch: the state as it is now.
            version = self._state_version
            self.on_call_log_updated(CallLogUpdated(first.data, first.rows, None, version))
        self.call_after_refresh(self._after_first_frame)

    def _take_first_read(self) -> FirstRead:
        # A locked file must not hold the first frame up for long: then the worker reads.
        if self._first_read is not None:
            try:
                return self._first_read.result(timeout=FIRST_READ_WAIT_S)
            except FutureTimeout:
                raise CallLogError("the first read is slow") from None
        with self.store.patience(FIRST_READ_WAIT_S):
            return read_first(self.store, self.window_name, self.clock())

    def _after_first_frame(self) -> None:
        """Draw the charts: plotext loads while the user already reads the numbers."""
        self.dashboard.arm_charts()
        self.call_after_refresh(self._start_polling)

    def _start_polling(self) -> None:
        """Poll OpenRouter and check the recorder from now on (the HTTP stack and the
        config parser load here, after the charts)."""
        if self.api.has_key:
            self.poll_account()
            if not self.store.readonly:  # pricing calls writes to the log
                self.set_interval(ENRICH_EVERY_S, self.enrich_costs)
        if self._calllog_timer is not None:
            self._calllog_timer.stop()
        self.read_calllog()

    # -- OpenRouter ----------------------------------------------------------------------

    @work(exclusive=True, group="account", exit_on_error=False)
    async def poll_account(self) -> None:
        """Poll ``/key`` and ``/credits`` once, then schedule the next poll."""
        try:
            snap = await fetch_snapshot(self.api, now=self.clock())
        except OpenRouterError as exc:
            previous = self.account.snapshot
            state = AccountState(status_for(exc), previous, str(exc), stale=previous is not None)
            delay = self.schedule.after_failure(exc)
        else:
            state = AccountState("ok", snap)
            delay = self.schedule.after_success()
            # The numbers are still good to show if recording fails; the next poll records.
            with contextlib.suppress(CallLogError):
                await asyncio.to_thread(self.store.add_snapshot, snap)
        self.post_message(AccountUpdated(state, self.clock()))
        self.next_poll_in = delay
        self._account_timer = self.set_timer(delay, self.poll_account)

    def on_account_updated(self, message: AccountUpdated) -> None:
        """Show the new account state; notify once per distinct failure and on recovery."""
        self.account = message.state
        self.last_poll = message.polled_at
        if message.state.status == "ok":
            if self._last_error is not None:
                self.notify("OpenRouter is answering again", title="Recovered")
            self._last_error = None
        elif message.state.message != self._last_error:
            self._last_error = message.state.message
            self.notify(message.state.message, title="OpenRouter", severity="error")
        self.mark_stale()
        self.refresh_screen()

    # -- the call log --------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="calllog", exit_on_error=False)
    def read_calllog(self) -> None:
        """Read only the new rows; recompute aggregates when something changed."""
        try:
            update = self._read(check_plugin=True)
        except CallLogError as exc:
            self.post_message(CallLogFailed(str(exc)))
            return
        self.post_message(update)

    def _read(self, *, check_plugin: bool) -> CallLogUpdated:
        now = self.clock()
        after = self.last_row_id if self.last_row_id >= 0 else live_tail_start(self.store)
        rows = self.store.rows_after(after)
        data = None
        version = self._state_version
        if rows or self.stale_aggregates:
            data = build_dashboard(self.store, self.window_name, now, self.account.snapshot)
        plugin = None
        if check_plugin and (now - self._plugin_checked >= PLUGIN_CHECK_S or self.plugin is None):
            from hermes_dash.services.plugin import plugin_status

            plugin = plugin_status(self.settings.paths, self.store)
        return CallLogUpdated(data, rows, plugin, version)

    def on_call_log_updated(self, message: CallLogUpdated) -> None:
        """Show new rows and aggregates, then schedule the next read."""
        if message.new_rows:
            self.last_row_id = message.new_rows[-1].id
            self.dashboard.show_rows(message.new_rows)
        if message.plugin is not None:
            self.plugin = message.plugin
            self._plugin_checked = self.clock()
        if message.data is not None:
            self.data = message.data
            self._built_version = max(self._built_version, message.version)
            self.refresh_screen()
        self._calllog_timer = self.set_timer(self.settings.calllog_poll_s, self.read_calllog)

    def on_call_log_failed(self, message: CallLogFailed) -> None:
        """Keep the last data; say why once; try again later."""
        if message.reason != self._last_error:
            self._last_error = message.reason
            self.notify(message.reason, title="Call log", severity="error")
        self._calllog_timer = self.set_timer(self.settings.calllog_poll_s * 4, self.read_calllog)

    @work(exclusive=True, group="enrich", exit_on_error=False)
    async def enrich_costs(self) -> None:
        """Price calls whose cost is not known yet (generation lookups, /models prices)."""
        if self._enricher is None:
            from hermes_dash.services.enrich import Enricher

            self._enricher = Enricher(self.store, self.api)
        priced = await self._enricher.run_once()
        if priced:
            self.mark_stale()

    @property
    def stale_aggregates(self) -> bool:
        """Whether something changed since the aggregates on screen were built."""
        return self._built_version < self._state_version

    def mark_stale(self) -> None:
        """Ask the next call-log read to rebuild the aggregates."""
        self._state_version += 1

    # -- drawing -------------------------------------------------------------------------

    def refresh_screen(self) -> None:
        """Push the current state into the dashboard and update the banner."""
        self.dashboard.show_data(self.account, self.data, self.api.has_key)
        if self.data is not None:
            alerts = budget_alerts(self.data, self.account.snapshot, self.prefs)
            new = {a.key for a in alerts} - {a.key for a in self.alerts}
            for alert in alerts:
                if alert.key in new:
                    self.notify(alert.message, title="Alert", severity=alert.severity, markup=False)  # type: ignore[arg-type]
            self.alerts = alerts
            self.dashboard.show_alerts(alerts)
        self.update_status()

    def update_status(self) -> None:
        """The status line: poll age, connection, key, call log, plugin."""
        now = self.clock()
        if not self.api.has_key:
            conn = "[yellow]no key[/]"
        elif self.account.status == "ok" and self.last_poll is not None:
            conn = "[green]connected[/]"
        elif self.account.status == "ok":
            conn = "connecting…"
        else:
            conn = f"[red]{self.account.status}[/]" + (" [b]stale[/]" if self.account.stale else "")
        plugin = self.plugin.state(now) if self.plugin else "…"
        text = (
            f"polled {fmt.ago(self.last_poll, now)} · {conn} · key {self.api.masked_key} · "
            f"log {self.settings.db_path.name} · recorder {plugin}"
        )
        self.dashboard.show_status(text)

    # -- actions -------------------------------------------------------------------------

    def action_refresh(self) -> None:
        """Poll OpenRouter and re-read the call log now."""
        self.mark_stale()
        if self._calllog_timer is not None:
            self._calllog_timer.stop()
        self.read_calllog()
        if self.api.has_key:
            if self._account_timer is not None:
                self._account_timer.stop()
            self.poll_account()

    def action_window(self, name: str) -> None:
        """Switch the time window."""
        self.window_name = name

    def watch_window_name(self, name: str) -> None:
        """Recompute for the new window."""
        self.mark_stale()
        if self._calllog_timer is not None:
            self._calllog_timer.stop()
        self.read_calllog()
        self.notify(f"window: {name}", timeout=1.5)

    def action_toggle_theme(self) -> None:
        """Dark ↔ light."""
        self.theme = "textual-light" if self.theme == "textual-dark" else "textual-dark"
        self.prefs.theme = self.theme
        self._save_prefs()

    def action_help(self) -> None:
        """Show the keys."""
        from hermes_dash.tui.screens.help import HelpScreen

        self.push_screen(HelpScreen())

    def action_calls(self) -> None:
        """Open the calls browser."""
        from hermes_dash.tui.screens.calls import CallsScreen

        self.push_screen(CallsScreen(self.store))

    def action_settings(self) -> None:
        """Open the budgets screen."""
        from hermes_dash.tui.screens.settings import SettingsScreen

        def saved(result: UserSettings | None) -> None:
            if result is not None:
                self.prefs = replace(result, theme=self.theme)
                self._save_prefs()
                self.notify("settings saved")
                self.refresh_screen()

        self.push_screen(SettingsScreen(self.prefs), saved)

    def action_sources(self) -> None:
        """Open cost by source for the current window."""
        from hermes_dash.calllog.records import Window
        from hermes_dash.services.breakdown import active_hours
        from hermes_dash.tui.screens.sources import SourcesScreen

        window = Window.named(self.window_name, self.clock())
        self.push_screen(SourcesScreen(self.store, window, active_hours(self.prefs)))

    def action_key_limits(self) -> None:
        """Open the key-limits screen (needs a management key to list and set limits)."""
        from hermes_dash.openrouter.management import ManagementClient
        from hermes_dash.tui.screens.keys import KeyLimitsScreen

        client = ManagementClient(
            self.settings.secrets.management_key, base_url=self.settings.openrouter_url
        )
        self.push_screen(KeyLimitsScreen(client, self.store, self.clock))

    def action_cost_check(self) -> None:
        """Compare our logged cost with Hermes' own numbers."""
        from hermes_dash.tui.screens.costcheck import CostCheckScreen

        self.push_screen(CostCheckScreen(self.store, self.settings.paths, self.clock))

    def action_routing(self) -> None:
        """Open the routing editor."""
        from hermes_dash.tui.screens.routing import RoutingScreen

        self.push_screen(RoutingScreen(self.settings, self.api, self.store, clock=self.clock))

    def _save_prefs(self) -> None:
        try:
            self.prefs.save(self.prefs_path)
        except OSError as exc:
            self.notify(f"cannot save settings: {exc.strerror}", severity="error")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Every unexpected worker failure ends up here, as one notification."""
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            err = event.worker.error
            self.notify(f"{type(err).__name__}: {err}", title="Internal error", severity="error")

    async def on_unmount(self) -> None:
        """Close the shared HTTP client."""
        await self.api.aclose()


def make_app(
    settings: DashSettings,
    api: OpenRouterClient,
    store: CallStore,
    *,
    clock: Callable[[], float] = time.time,
    prefs: UserSettings | None = None,
    first_read: Future[FirstRead] | None = None,
) -> HermesDashApp:
    """Build the app; the CLI and the tests share this factory. ``first_read`` is a read
    started early (see :func:`~hermes_dash.services.dashboard.prefetch_first`)."""
    return HermesDashApp(settings, api, store, clock=clock, prefs=prefs, first_read=first_read)
