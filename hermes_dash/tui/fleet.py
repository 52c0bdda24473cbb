"""``hermes-dash --prometheus URL``: the main screen fed by PromQL over the whole fleet."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Static

from hermes_dash.services.fleet import ALL, UNAVAILABLE, FleetRead, FleetSource
from hermes_dash.services.promql import PrometheusError
from hermes_dash.text import clean
from hermes_dash.tui import format as fmt
from hermes_dash.tui.screens.dashboard import DashboardScreen
from hermes_dash.tui.screens.hosts import ALL_HOSTS, HostPicker

#: The fleet's windows: the four of the dashboard (same keys) and the logs' whole totals.
FLEET_WINDOW_KEYS = {"1": "1h", "2": "24h", "3": "7d", "4": "30d", "0": ALL}


class FleetApp(App[None]):
    """The dashboard over Prometheus: every host, or one; the last good figures stay on
    screen while Prometheus fails, with the reason in the status line."""

    TITLE = "hermes-dash fleet"
    # The main screen's rules live in the app's stylesheet: the same file, the same look.
    CSS_PATH = "app.tcss"
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("r", "refresh", "Refresh"),
        Binding("f", "pick_host", "Host"),
        *(Binding(k, f"window('{n}')", n, show=False) for k, n in FLEET_WINDOW_KEYS.items()),
        Binding("c", "unavailable('calls')", "Calls", show=False),
        Binding("e", "unavailable('routing')", "Routing", show=False),
        Binding("b", "unavailable('settings')", "Budgets", show=False),
        Binding("k", "unavailable('key_limits')", "Key limits", show=False),
        Binding("o", "unavailable('sources')", "Sources", show=False),
        Binding("h", "unavailable('cost_check')", "Cost check", show=False),
        Binding("t", "toggle_theme", "Theme", show=False),
        Binding("question_mark", "fleet_help", "Help"),
    ]

    def __init__(
        self,
        source: FleetSource,
        *,
        refresh_s: float = 30.0,
        window: str = "24h",
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.source = source
        self.refresh_s = refresh_s
        self.window_name = window
        self.clock = clock
        self.dashboard = DashboardScreen()
        self.host_label = "host"
        self.hosts: list[str] = []
        self.host: str | None = None
        self.last: FleetRead | None = None
        self.last_ok: float | None = None
        self.error: str | None = None
        #: Refreshes that ended (well or not): tests wait on this.
        self.reads_done = 0
        self._timer: Timer | None = None
        self.sub_title = clean(source.client.shown_url, 120)

    def get_default_screen(self) -> DashboardScreen:
        """The dashboard's own main screen."""
        return self.dashboard

    def on_mount(self) -> None:
        """Read at once; the screen's changes for fleet mode once it is composed."""
        self.set_interval(1.0, self.update_status)
        self.read_fleet()
        self.call_after_refresh(self._fleet_screen)

    def _fleet_screen(self) -> None:
        """Say what fleet mode cannot show where the live calls would be."""
        if not self.dashboard.is_attached:
            return  # q typed ahead quit before this frame: nothing left to draw into
        self.dashboard.live.display = False
        note = Static(fmt.lit(UNAVAILABLE["calls"]), id="calls-unavailable")
        note.border_title = "Live calls: not available in fleet mode"
        note.styles.border = ("round", "gray")
        note.styles.padding = (0, 1)
        note.styles.height = "1fr"
        self.dashboard.query_one("#grid").mount(note)
        self.dashboard.arm_charts()

    @work(exclusive=True, group="fleet", exit_on_error=False)
    async def read_fleet(self) -> None:
        """One refresh: the hosts, then every figure; then schedule the next."""
        try:
            self.host_label, self.hosts = await self.source.hosts()
            read = await self.source.read(
                self.window_name, self.host_label, self.host, self.clock()
            )
        except Exception as exc:
            # Unexpected answers count as failures too: the refreshes must go on.
            message = (
                str(exc)
                if isinstance(exc, PrometheusError)
                else (f"unexpected {type(exc).__name__} while reading Prometheus")
            )
            self.error = clean(message, 300)
        else:
            self.error = None
            self.last = read
            self.last_ok = self.clock()
            self.show(read)
        self.reads_done += 1
        self.update_status()
        self._timer = self.set_timer(self.refresh_s, self.read_fleet)

    def show(self, read: FleetRead) -> None:
        """Draw a refresh on the main screen."""
        self.dashboard.show_data(read.account, read.data, True)
        # Alert text comes from Prometheus' rules: the banner shows it literally.
        self.dashboard.show_alerts(read.alerts)

    def update_status(self) -> None:
        """Where the figures come from, which hosts, how fresh, and the last failure."""
        host = "all hosts" if self.host is None else f"{self.host_label} {self.host}"
        reporting = f"{self.last.hosts_reporting} reporting" if self.last else "…"
        text = fmt.markup(
            "Prometheus $url · $host ($reporting) · window $window · read $ago",
            url=self.source.client.shown_url,
            host=host,
            reporting=reporting,
            window=self.window_name,
            ago=fmt.ago(self.last_ok, self.clock()),
        )
        if self.error:
            stale = " · showing the last good figures" if self.last else ""
            text = text + fmt.markup(" · [b red]$error[/]" + stale, error=self.error)
        self.dashboard.show_status(text)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Fleet mode's actions in the command palette, beside Textual's own."""
        yield from super().get_system_commands(screen)
        yield SystemCommand("Refresh now", "Query Prometheus again", self.action_refresh)
        yield SystemCommand("Host", "Every host, or one (key f)", self.action_pick_host)
        for key, name in FLEET_WINDOW_KEYS.items():
            what = "the logs' whole totals" if name == ALL else f"the last {name}"
            yield SystemCommand(
                f"Window: {name}", f"Show {what} (key {key})", partial(self.action_window, name)
            )

    def action_refresh(self) -> None:
        """Read now."""
        if self._timer is not None:
            self._timer.stop()
        self.read_fleet()

    def action_window(self, name: str) -> None:
        """Switch the window (``all``: the logs' whole totals)."""
        self.window_name = name
        self.notify(f"window: {name}", timeout=1.5)
        self.action_refresh()

    def action_pick_host(self) -> None:
        """Choose every host or one."""

        def chosen(host: str | None) -> None:
            if host is not None:
                self.host = None if host == ALL_HOSTS else host
                self.action_refresh()

        if len(self.screen_stack) == 1:
            self.push_screen(HostPicker(self.host_label, self.hosts, self.host), chosen)

    def action_fleet_help(self) -> None:
        """The keys of fleet mode, and those of the local dashboard that are not here."""
        self.notify(
            "f host (all or one) · 0 all: the logs' totals · 1 2 3 4 last 1h 24h 7d 30d · "
            "s sort providers · r refresh · t theme · q quit. Local only (not here): "
            "c calls, e routing, b budgets, k key limits, o sources, h cost check.",
            title="Fleet mode",
            timeout=12,
            markup=False,
        )

    def action_unavailable(self, what: str) -> None:
        """Say why a local screen does not open in fleet mode."""
        self.notify(f"Not in fleet mode: {UNAVAILABLE[what]}", severity="warning", markup=False)

    def action_toggle_theme(self) -> None:
        """Dark ↔ light."""
        self.theme = "textual-light" if self.theme == "textual-dark" else "textual-dark"

    async def on_unmount(self) -> None:
        """Close the HTTP client."""
        await self.source.client.aclose()


def make_fleet_app(url: str, *, refresh_s: float = 30.0, window: str = "24h") -> FleetApp:
    """The fleet dashboard over the Prometheus at ``url``; the CLI and tests share it."""
    from hermes_dash.services.promql import PrometheusClient

    return FleetApp(FleetSource(PrometheusClient(url)), refresh_s=refresh_s, window=window)
