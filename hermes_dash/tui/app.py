"""The Textual app: workers that poll OpenRouter and the call log, and the key bindings."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.reactive import reactive
from textual.timer import Timer
from textual.worker import Worker, WorkerState, get_current_worker

from hermes_dash.calllog.store import CallLogError, CallStore
from hermes_dash.openrouter.client import OpenRouterClient
from hermes_dash.openrouter.errors import OpenRouterError
from hermes_dash.services.account import AccountState, fetch_snapshot, status_for
from hermes_dash.services.backoff import PollSchedule
from hermes_dash.services.budget import Alert, budget_alerts, limit_alerts
from hermes_dash.services.dashboard import (
    DEFAULT_WINDOW,
    DashboardData,
    LogRead,
    ReadRequest,
    read_update,
)
from hermes_dash.services.readonly import ReadOnlyError, refuse_if_read_only
from hermes_dash.services.settings import DashSettings, UserSettings, user_settings_file
from hermes_dash.services.startup import FirstRead, take_first_read
from hermes_dash.text import clean
from hermes_dash.tui import format as fmt
from hermes_dash.tui import keymap
from hermes_dash.tui.messages import AccountUpdated, CallLogFailed, CallLogUpdated
from hermes_dash.tui.navigation import ScreenNavigation
from hermes_dash.tui.screens.dashboard import DashboardScreen

if TYPE_CHECKING:
    # Loaded when first used, after the first frame.
    from hermes_dash.services.checks import Check
    from hermes_dash.services.enrich import Enricher
    from hermes_dash.services.plugin import PluginStatus

#: How often the plugin's state (config.yaml, plugin folder) is re-read.
PLUGIN_CHECK_S = 10.0
#: Timer ticks a failed call-log read waits before the next try.
TICKS_AFTER_FAILURE = 3


class HermesDashApp(ScreenNavigation):
    """hermes-dash: spend, rate limits, provider latency, routing, for Hermes Agent."""

    TITLE = "hermes-dash"
    CSS_PATH = "app.tcss"
    BINDINGS = keymap.bindings("app")

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
        #: doctor's local checks, as last made (None until the first).
        self.checks: list[Check] | None = None
        self.alerts: list[Alert] = []
        self.last_poll: float | None = None
        #: Seconds until the next OpenRouter poll, as last scheduled (backoff shows here).
        self.next_poll_in: float | None = None
        #: The id of the newest call on screen; -1 until the first read found where to start.
        self.last_row_id = -1
        self.schedule = PollSchedule(settings.refresh_s)
        self._enricher: Enricher | None = None
        self._enrich_worker: Worker[None] | None = None
        #: Pricing rounds started so far.
        self.enrich_rounds = 0
        self._account_timer: Timer | None = None
        self._calllog_timer: Timer | None = None
        # One call-log read at a time: ticks skip while one is in flight, and a request
        # made meanwhile (r, a window switch) runs as soon as it lands.
        self._reading = False
        self._read_again = False
        self._ticks_to_skip = 0
        #: Timer ticks and reads started so far (tests count reads per tick with these).
        self.calllog_ticks = 0
        self.reads_started = 0
        self._reported: set[str] = set()
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
        self.sub_title = "demo" if settings.demo else clean(settings.paths.home)

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
            self.request_read()  # the worker reads, and reports the failure
        else:
            # Built before any account poll or window switch: the state as it is now.
            read = LogRead(first.rows, first.last_id, first.data, False, self._state_version)
            self.on_call_log_updated(CallLogUpdated(read, None))
        self.call_after_refresh(self._after_first_frame)

    def _take_first_read(self) -> FirstRead:
        # The start-up sequence is explained in one place: hermes_dash.services.startup.
        return take_first_read(self._first_read, self.store, self.window_name, self.clock())

    def _after_first_frame(self) -> None:
        """Draw the charts: plotext loads while the user already reads the numbers."""
        if not self.dashboard.is_attached:
            return  # q typed ahead quit before this frame: nothing left to draw into
        self.dashboard.arm_charts()
        self.call_after_refresh(self._start_polling)

    def _start_polling(self) -> None:
        """Poll OpenRouter and check the recorder from now on (the HTTP stack and the
        config parser load here, after the charts)."""
        if self.api.has_key:
            self.poll_account()
            if not self.store.readonly:  # pricing calls writes to the log
                self.set_interval(self.settings.enrich_s, self._enrich_tick)
        self._calllog_timer = self.set_interval(self.settings.calllog_poll_s, self._calllog_tick)
        self.sync_routing_history()

    @work(thread=True, group="routing-history", exit_on_error=False)
    def sync_routing_history(self) -> None:
        """Record a change made by hand to provider_routing since hermes-dash last ran."""
        from hermes_dash.services.routing_data import sync_history

        sync_history(self.settings)

    # -- OpenRouter ----------------------------------------------------------------------

    @work(exclusive=True, group="account", exit_on_error=False)
    async def poll_account(self) -> None:
        """Poll ``/key`` and ``/credits`` once, then schedule the next poll."""
        try:
            snap = await fetch_snapshot(self.api, now=self.clock())
        except Exception as exc:
            if not isinstance(exc, OpenRouterError):
                # An answer (or a defect) nothing expected: polling must outlive it, so it
                # counts as a failure, with backoff. The text names only the type: an
                # unexpected exception's message is not known to be fit to show.
                exc = OpenRouterError(f"unexpected {type(exc).__name__} while polling")
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
            self.notify(
                clean(message.state.message), title="OpenRouter", severity="error", markup=False
            )
        self.mark_stale()
        self.refresh_screen()
        self.request_read()  # burn rate and runway with the new numbers, now

    # -- the call log --------------------------------------------------------------------

    def _calllog_tick(self) -> None:
        """The one timer that reads the call log; a tick while a read is in flight (or
        soon after a failure) is skipped, never queued."""
        self.calllog_ticks += 1
        if self._ticks_to_skip:
            self._ticks_to_skip -= 1
        elif not self._reading:
            self._start_read()

    def request_read(self) -> None:
        """Read now; when a read is in flight, once more as soon as it lands (it started
        from older inputs: another window, an older account snapshot)."""
        if self._reading:
            self._read_again = True
        else:
            self._start_read()

    def _start_read(self) -> None:
        now = self.clock()
        check_plugin = self.checks is None or now - self._plugin_checked >= PLUGIN_CHECK_S
        request = ReadRequest(
            self.window_name,
            self.last_row_id,
            self.stale_aggregates,
            self.account.snapshot,
            self._state_version,
            now,
            self.settings.openrouter_url,
        )
        self._reading, self._read_again = True, False
        self.reads_started += 1
        self.read_calllog(request, check_plugin)

    @work(thread=True, group="calllog", exit_on_error=False)
    def read_calllog(self, request: ReadRequest, check_plugin: bool) -> None:
        """Read the new rows, and the aggregates when something changed, from the inputs
        given (never from app state, which the interface changes meanwhile)."""
        worker = get_current_worker()
        try:
            read = read_update(self.store, request, lambda: worker.is_cancelled)
            report = None
            if read is not None and check_plugin and not worker.is_cancelled:
                from hermes_dash.services.doctor import local_checks

                report = local_checks(self.settings, self.store, request.now)
        except CallLogError as exc:
            if not worker.is_cancelled:
                self.post_message(CallLogFailed(str(exc)))
            return
        if read is not None and not worker.is_cancelled:
            plugin = report.plugin if report is not None else None
            checks = report.checks if report is not None else None
            self.post_message(CallLogUpdated(read, plugin, checks))

    def on_call_log_updated(self, message: CallLogUpdated) -> None:
        """Show new rows and aggregates; run a read asked for meanwhile."""
        self._reading = False
        read = message.read
        if read.reopened:
            self.dashboard.clear_rows()
            self.notify(
                clean(f"{self.settings.db_path.name} was replaced: reading the new file"),
                markup=False,
            )
        if read.rows:
            self.dashboard.show_rows(read.rows)
        self.last_row_id = read.last_id
        if message.checks is not None:
            self.plugin = message.plugin
            self.checks = message.checks
            self._plugin_checked = self.clock()
            self.dashboard.show_guide(self.checks, self.data)
            self.update_status()  # the recorder's state is news even without new calls
        # Aggregates of a window the user has already left are not worth a frame.
        if read.data is not None and read.data.window.name == self.window_name:
            self.data = read.data
            self._built_version = max(self._built_version, read.version)
            self.refresh_screen()
        if self._read_again:
            self._start_read()

    def on_call_log_failed(self, message: CallLogFailed) -> None:
        """Keep the last data; say why once; try again a few ticks later."""
        self._reading = False
        self._ticks_to_skip = TICKS_AFTER_FAILURE
        if message.reason != self._last_error:
            self._last_error = message.reason
            self.notify(clean(message.reason), title="Call log", severity="error", markup=False)

    def _enrich_tick(self) -> None:
        # A round still running (slow lookups) goes on; cancelling it for a new one would
        # mean a slow OpenRouter never gets a round finished.
        if self._enrich_worker is None or self._enrich_worker.is_finished:
            self.enrich_rounds += 1
            self._enrich_worker = self.enrich_costs()

    @work(group="enrich", exit_on_error=False)
    async def enrich_costs(self) -> None:
        """Price calls whose cost is not known yet (generation lookups, /models prices)."""
        if self._enricher is None:
            from hermes_dash.services.endpoints import policy_for
            from hermes_dash.services.enrich import Enricher

            policy = policy_for(self.settings, self.prefs)
            self._enricher = Enricher(self.store, self.api, policy=policy)
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
        self.dashboard.show_guide(self.checks, self.data)
        if self.data is not None:
            alerts = limit_alerts(self.data, self.clock())
            alerts += budget_alerts(self.data, self.account.snapshot, self.prefs)
            new = {a.key for a in alerts} - {a.key for a in self.alerts}
            for alert in alerts:
                if alert.key in new:
                    self.notify(alert.message, title="Alert", severity=alert.severity, markup=False)
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
        plugin = self.plugin.state(now) if self.plugin else "…" if self.checks is None else "-"
        # The file name is outside text: "calls[old].db" must not be read as markup.
        text = fmt.markup(
            f"polled {fmt.ago(self.last_poll, now)} · {conn} · key $key · log $log · "
            "recorder $plugin",
            key=self.api.masked_key,
            log=self.settings.db_path.name,
            plugin=plugin,
        )
        self.dashboard.show_status(text)

    # -- actions -------------------------------------------------------------------------

    def action_refresh(self) -> None:
        """Poll OpenRouter and re-read the call log now."""
        self.mark_stale()
        self.request_read()
        if self.api.has_key:
            if self._account_timer is not None:
                self._account_timer.stop()
            self.poll_account()

    def recheck_first_run(self) -> None:
        """Make the recorder's checks again with the next read, now (after an install)."""
        self._plugin_checked = float("-inf")
        self.mark_stale()
        self.request_read()

    def action_window(self, name: str) -> None:
        """Switch the time window."""
        self.window_name = name

    def watch_window_name(self, name: str) -> None:
        """Recompute for the new window."""
        self.mark_stale()
        self.request_read()
        self.notify(f"window: {name}", timeout=1.5)

    def action_toggle_theme(self) -> None:
        """Dark ↔ light."""
        self.theme = "textual-light" if self.theme == "textual-dark" else "textual-dark"
        self.prefs.theme = self.theme
        if not self.settings.read_only:  # read-only: the theme changes for this session only
            self.save_prefs()

    def save_prefs(self) -> None:
        """Write the user's preferences; a failure (or read-only mode) is shown, not raised."""
        try:
            refuse_if_read_only(self.settings.read_only, "saving settings")
            self.prefs.save(self.prefs_path)
        except ReadOnlyError as exc:
            self.notify(str(exc), title="Read-only", severity="error", markup=False)
        except OSError as exc:
            self.notify(
                f"cannot save settings: {clean(exc.strerror)}", severity="error", markup=False
            )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Every unexpected worker failure ends up here: shown once, and polling goes on
        (the timers keep ticking; a failed call-log read frees the way for the next)."""
        worker = event.worker
        if worker.group == "calllog" and event.state in (WorkerState.ERROR, WorkerState.CANCELLED):
            self._reading = False
        if event.state == WorkerState.ERROR and worker.error is not None:
            text = clean(f"{type(worker.error).__name__}: {worker.error}", fmt.MAX_SHOWN)
            if text not in self._reported:
                self._reported.add(text)
                self.notify(text, title="Internal error", severity="error", markup=False)

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
