"""Cost by source: the window's spend per cron job, gateway platform, CLI, subagent and
auxiliary task; Enter drills into a source's sessions, and a session into its calls."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static

from hermes_dash.calllog.attribution import ACTIVE_HOURS, Part, parts
from hermes_dash.calllog.records import Window
from hermes_dash.calllog.store import CallLogError, CallStore
from hermes_dash.services.breakdown import KEYS, Entry, describe_overnight, group
from hermes_dash.text import clean
from hermes_dash.tui.widgets.table import MeasuredTable


def _share(part: float, whole: float) -> str:
    return f"{part / whole:.0%}" if whole > 0 else "-"


class SourcesScreen(Screen[None]):
    """Where the window's money went, by source, then by session."""

    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]
    CSS_PATH = "sources.tcss"
    COLUMNS = ("calls", "tokens", "429s", "cost", "share")

    def __init__(
        self, store: CallStore, window: Window, active: tuple[int, int] = ACTIVE_HOURS
    ) -> None:
        super().__init__()
        self.store = store
        self.window = window
        self.active = active
        self.parts: list[Part] = []
        self.sources: list[Entry] = []
        self.sessions: list[Entry] = []

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical():
            yield Static(id="sources-title")
            yield MeasuredTable[object](id="sources", cursor_type="row", zebra_stripes=True)
            yield Static(id="night")
            yield Static(
                Text("Enter on a source lists its sessions.", style="dim"), id="sessions-title"
            )
            yield MeasuredTable[object](id="sessions", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        """Columns, then read the window."""
        self.sub_title = f"cost by source, last {self.window.name}"
        self.query_one("#sources", DataTable).add_columns("source", *self.COLUMNS)
        self.query_one("#sessions", DataTable).add_columns("session", *self.COLUMNS)
        self.query_one("#sources-title", Static).update(
            Text(f"Cost by source, last {self.window.name}", style="bold")
        )
        self.query_one("#sources", DataTable).focus()
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def load(self) -> None:
        """Sum the window off the UI thread."""
        try:
            found = parts(self.store, self.window, self.active)
        except CallLogError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error", markup=False)
            return
        self.app.call_from_thread(self.show, found)

    def show(self, found: list[Part]) -> None:
        """Fill the sources table and the overnight line."""
        self.parts = found
        self.sources = group(found, KEYS["source"])
        self._fill(self.query_one("#sources", DataTable), self.sources)
        total = sum(e.cost_usd for e in self.sources)
        night = sum(e.overnight_cost_usd for e in self.sources)
        line = Text()
        if night > 0:
            top = max(self.sources, key=lambda e: e.overnight_cost_usd)
            line.append(
                f"Overnight ({describe_overnight(self.active)}): ${night:,.2f} of "
                f"${total:,.2f} ({_share(night, total)}); most by {clean(top.key, 80)} "
                f"(${top.overnight_cost_usd:,.2f})"
            )
        self.query_one("#night", Static).update(line)

    @staticmethod
    def _fill(table: DataTable[object], entries: list[Entry]) -> None:
        table.clear()
        total = sum(e.cost_usd for e in entries)
        for e in entries:
            table.add_row(
                # Session ids and platforms come from the call log: any writer's text.
                Text(clean(e.key, 80)),
                f"{e.calls:,}",
                f"{e.tokens:,}",
                f"{e.rate_limited:,}",
                f"${e.cost_usd:,.2f}",
                _share(e.cost_usd, total),
            )

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """A source: list its sessions. A session: open its calls."""
        if event.data_table.id == "sources":
            if 0 <= event.cursor_row < len(self.sources):
                self.drill(self.sources[event.cursor_row].key)
        elif 0 <= event.cursor_row < len(self.sessions):
            self.open_calls(self.sessions[event.cursor_row].key)

    def drill(self, source: str) -> None:
        """The sessions of one source."""
        mine = [p for p in self.parts if KEYS["source"](p) == source]
        self.sessions = group(mine, KEYS["session"])
        table = self.query_one("#sessions", DataTable)
        self._fill(table, self.sessions)
        self.query_one("#sessions-title", Static).update(
            Text(f"Sessions of {clean(source, 80)} (Enter opens a session's calls)", style="bold")
        )
        table.focus()

    def open_calls(self, session: str) -> None:
        """The calls browser, filtered to one session."""
        self.app.push_screen(session_calls(self.store, session))


def session_calls(store: CallStore, session: str) -> Screen[None]:
    """The calls browser opened on one session's calls."""
    from hermes_dash.tui.screens.calls import CallsScreen

    class SessionCalls(CallsScreen):
        """The calls browser with its session filter set before the first page loads."""

        def on_mount(self) -> None:
            # Textual runs this before CallsScreen's own on_mount, which loads the page.
            self.query_one("#f-session", Input).value = session

    return SessionCalls(store)
