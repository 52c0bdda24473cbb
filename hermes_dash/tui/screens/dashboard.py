"""The main screen: spend, rate limits, providers, live calls, status line."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Container
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from hermes_dash.calllog.records import CallRow
from hermes_dash.services.account import AccountState
from hermes_dash.services.budget import Alert
from hermes_dash.services.dashboard import DashboardData
from hermes_dash.tui import format as fmt
from hermes_dash.tui import keymap
from hermes_dash.tui.widgets.compact import CompactSummary
from hermes_dash.tui.widgets.panels import (
    LiveCalls,
    ProvidersTable,
    RateLimitPanel,
    SpendPanel,
    StatusLine,
)

if TYPE_CHECKING:
    from hermes_dash.services.checks import Check

#: Below this width the panels stack in one scrolling column.
NARROW_WIDTH = 140


class DashboardScreen(Screen[None]):
    """Everything at a glance; the app pushes data in through ``show_*``."""

    BINDINGS = keymap.bindings("dashboard")
    # Nothing has the focus at first: a focused table would scroll a small terminal away
    # from the spend panel. Tab moves into a table (cursor, arrow keys, page up/down).
    AUTO_FOCUS = ""

    # Its rules are in app.tcss. Below NARROW_WIDTH columns the screen has the class
    # -narrow, which stacks the panels.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (NARROW_WIDTH, "-wide")]

    def __init__(self) -> None:
        super().__init__()
        # The widgets exist before the screen is mounted, so whatever the app shows before
        # then (the first call-log read happens before the first frame) is drawn in it.
        self.banner = Static("", id="banner")
        self.spend = SpendPanel("Spend", id="spend-panel")
        self.rate = RateLimitPanel("Rate limits", id="rate-panel")
        # The tables are panels themselves: one widget less to lay out and draw each.
        self.providers = ProvidersTable(id="providers")
        self.providers.border_title = "Providers"
        self.live = LiveCalls(id="live-calls")
        self.live.border_title = "Live calls"
        self.status = StatusLine("", id="status")
        self.compact = CompactSummary(id="compact")

    def compose(self) -> ComposeResult:
        yield Header()
        yield self.banner
        yield self.compact
        with Container(id="grid"):
            yield self.spend
            yield self.rate
            yield self.providers
            yield self.live
        yield self.status
        yield Footer()

    def arm_charts(self) -> None:
        """Let the charts and the tables draw (they are blank on the first frame, see
        SeriesChart and app.tcss)."""
        self.spend.chart.arm()
        self.rate.chart.arm()
        # The tables too: their rows are there already, drawn from this frame on.
        self.providers.add_class("-armed")
        self.live.add_class("-armed")

    def show_rows(self, rows: list[CallRow]) -> None:
        """Add new calls to the live table."""
        self.live.push(rows)

    def clear_rows(self) -> None:
        """Empty the live table (the call log was replaced: its ids start over)."""
        self.live.clear_calls()

    def show_data(self, account: AccountState, data: DashboardData | None, has_key: bool) -> None:
        """Redraw every panel from the latest aggregates."""
        self.spend.show(account, data, has_key)
        self.compact.show(account, data, has_key)
        if data is not None:
            self.rate.show(data)
            self.providers.show(data.providers, data.window.name)

    def show_guide(self, checks: list[Check] | None, data: DashboardData | None) -> None:
        """In place of empty charts, what is missing and how to fix it (from doctor's
        checks); the charts again as soon as the window holds a call."""
        if checks is None or data is None or data.totals.attempts:
            self.spend.show_guide(None)
            self.rate.show_guide(None)
            return
        # Loaded with the first checks, after the first frame.
        from hermes_dash.tui.widgets.guide import guide

        window = data.window.name
        self.spend.show_guide(guide(checks, window, detailed=True))
        self.rate.show_guide(guide(checks, window, detailed=False))

    def show_alerts(self, alerts: list[Alert]) -> None:
        """Show the budget/runway banner, or hide it."""
        self.banner.set_class(bool(alerts), "-visible")
        self.banner.set_class(any(a.severity == "error" for a in alerts), "-error")
        # Alerts name sessions from the call log: shown literally, never as markup.
        self.banner.update(fmt.lit("  ·  ".join(f"⚠ {a.message}" for a in alerts), None))

    def action_sort_providers(self) -> None:
        """Sort the providers table by its next column."""
        self.query_one(ProvidersTable).action_cycle_sort()

    def show_status(self, text: Content) -> None:
        """Replace the status line."""
        self.status.update(text)
