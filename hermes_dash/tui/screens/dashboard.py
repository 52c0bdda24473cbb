"""The main screen: spend, rate limits, providers, live calls, status line."""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from hermes_dash.calllog.records import CallRow
from hermes_dash.services.account import AccountState
from hermes_dash.services.budget import Alert
from hermes_dash.services.dashboard import DashboardData
from hermes_dash.tui.widgets.charts import SeriesChart
from hermes_dash.tui.widgets.panels import (
    LiveCalls,
    Panel,
    ProvidersTable,
    RateLimitPanel,
    SpendPanel,
    StatusLine,
)

#: Below this width the panels stack in one scrolling column.
NARROW_WIDTH = 140


class DashboardScreen(Screen[None]):
    """Everything at a glance; the app pushes data in through ``show_*``."""

    BINDINGS = [Binding("s", "sort_providers", "Sort providers")]

    DEFAULT_CSS = """
    #banner { display: none; height: auto; padding: 0 1; background: $warning 40%; }
    #banner.-visible { display: block; }
    #banner.-error { background: $error 60%; }
    #grid { layout: grid; grid-size: 2 2; grid-rows: 3fr 2fr; grid-columns: 1fr 1fr; height: 1fr; }
    #grid.-narrow { grid-size: 1; grid-rows: 15 18 14 14; overflow-y: auto; }
    #providers-panel DataTable, #calls-panel DataTable { height: 1fr; }
    """

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="banner")
        with Container(id="grid"):
            yield SpendPanel("Spend", id="spend-panel")
            yield RateLimitPanel("Rate limits", id="rate-panel")
            with Panel("Providers", id="providers-panel"):
                yield ProvidersTable(id="providers")
            with Panel("Live calls", id="calls-panel"):
                yield LiveCalls(id="live-calls")
        yield StatusLine("", id="status")
        yield Footer()

    def on_resize(self, event: events.Resize) -> None:
        """Stack the panels on small terminals."""
        self.query_one("#grid").set_class(event.size.width < NARROW_WIDTH, "-narrow")

    def __init__(self) -> None:
        super().__init__()
        # What arrived before the panels existed, drawn as soon as they do.
        self._pending_rows: list[CallRow] = []
        self._pending_data: tuple[AccountState, DashboardData | None, bool] | None = None
        self._pending_alerts: list[Alert] | None = None

    @property
    def ready(self) -> bool:
        """Whether every panel's widgets exist: data may arrive while the screen is still
        being composed (nested panels mount last) or after it is gone."""
        return all(
            self.query(selector)
            for selector in (
                LiveCalls,
                ProvidersTable,
                SeriesChart,
                "#spend-stats",
                "#rate-stats",
                "#banner",
                StatusLine,
            )
        )

    def on_mount(self) -> None:
        """Draw whatever arrived early (again once the nested panels are in)."""
        self.call_after_refresh(self._draw_pending)

    def _draw_pending(self) -> None:
        if self._pending_rows:
            self.show_rows([])
        if self._pending_data is not None:
            self.show_data(*self._pending_data)
        if self._pending_alerts is not None:
            self.show_alerts(self._pending_alerts)

    def show_rows(self, rows: list[CallRow]) -> None:
        """Add new calls to the live table."""
        self._pending_rows += rows
        if self.ready:
            rows, self._pending_rows = self._pending_rows, []
            self.query_one(LiveCalls).push(rows)

    def show_data(self, account: AccountState, data: DashboardData | None, has_key: bool) -> None:
        """Redraw every panel from the latest aggregates."""
        self._pending_data = (account, data, has_key)
        if not self.ready:
            return
        self._pending_data = None
        self.query_one(SpendPanel).show(account, data, has_key)
        if data is not None:
            self.query_one(RateLimitPanel).show(data)
            self.query_one(ProvidersTable).show(data.providers)
            self.query_one("#rate-panel").border_subtitle = data.window.name
            self.query_one("#spend-panel").border_subtitle = data.window.name
            self.query_one("#providers-panel").border_subtitle = data.window.name

    def show_alerts(self, alerts: list[Alert]) -> None:
        """Show the budget/runway banner, or hide it."""
        self._pending_alerts = alerts
        if not self.ready:
            return
        self._pending_alerts = None
        banner = self.query_one("#banner", Static)
        banner.set_class(bool(alerts), "-visible")
        banner.set_class(any(a.severity == "error" for a in alerts), "-error")
        banner.update("  ·  ".join(f"⚠ {a.message}" for a in alerts))

    def action_sort_providers(self) -> None:
        """Sort the providers table by its next column."""
        self.query_one(ProvidersTable).action_cycle_sort()

    def show_status(self, text: str) -> None:
        """Replace the status line (every second: also the moment to draw anything that
        arrived before the panels were ready)."""
        if self.ready:
            self._draw_pending()
            self.query_one(StatusLine).update(text)
