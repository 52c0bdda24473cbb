"""The changes view: every recorded change of provider_routing, with the same figures
over an equal window before and after it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from hermes_dash.calllog.store import CallLogError, CallStore
from hermes_dash.routing.impact import Impact, Side
from hermes_dash.services import routing as svc
from hermes_dash.services import routing_data as data
from hermes_dash.services.settings import DashSettings
from hermes_dash.text import clean
from hermes_dash.tui import format as fmt
from hermes_dash.tui.widgets.table import MeasuredTable

COLUMNS = ("when", "source", "side", "calls", "p50", "p95", "TTFT", "429", "$/call", "upstreams")


def _pct(side: Side) -> str:
    f = side.figures
    return "-" if not f.attempts else f"{f.rate_limited_share * 100:.1f}%"


def _upstreams(side: Side) -> str:
    top = sorted(side.upstreams.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    return ", ".join(f"{name or '?'} {n}" for name, n in top) or "-"


class ChangesScreen(Screen[None]):
    """Recorded routing changes, newest first, each as a before and an after row."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("r", "reload", "Reload"),
    ]
    CSS_PATH = "changes.tcss"

    def __init__(
        self, settings: DashSettings, store: CallStore, *, clock: Callable[[], float]
    ) -> None:
        super().__init__()
        self.settings = settings
        self.store = store
        self.clock = clock
        self.impacts: list[Impact] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="changes-title")
        yield MeasuredTable[object](id="changes", cursor_type="row", zebra_stripes=True)
        yield Static("", id="change-detail")
        yield Footer()

    def on_mount(self) -> None:
        """Columns, then read the history."""
        table = self.query_one("#changes", DataTable)
        for col in COLUMNS:
            table.add_column(col, key=col)
        self.action_reload()

    def action_reload(self) -> None:
        """Read the history again (a change by hand since is recorded first)."""
        self.load()

    @work(exclusive=True, group="changes", exit_on_error=False)
    async def load(self) -> None:
        """History and figures, off the UI thread."""
        config = self.settings.paths.config

        history = data.history_for(self.settings)

        def read() -> list[Impact]:
            data.sync_history(self.settings)
            changes = history.changes(config)
            found = data.change_impacts(self.store, changes, self.clock(), self.settings.paths.home)
            return [i for i in found if isinstance(i, Impact)]

        try:
            self.impacts = await asyncio.to_thread(read)
        except CallLogError as exc:
            self.notify(clean(exc), title="Changes", severity="error", markup=False)
            return
        if history.problem:
            self.notify(clean(history.problem), title="Changes", severity="warning", markup=False)
        self.show()

    def show(self) -> None:
        """One pair of rows per change, newest first."""
        self.query_one("#changes-title", Static).update(
            fmt.lit(
                f"provider_routing changes in {self.settings.paths.config}: {len(self.impacts)} "
                "recorded · equal windows before and after each (at most 24 h)",
                None,
            )
        )
        table = self.query_one("#changes", DataTable)
        table.clear()
        for n, impact in enumerate(reversed(self.impacts)):
            c = impact.change
            for name, side in (("before", impact.before), ("after", impact.after)):
                f = side.figures
                first = name == "before"
                table.add_row(
                    data.iso(c.at).replace("T", " ")[:16] if first else "",
                    Text(clean(c.source), style="bold") if first else "",
                    Text(name, style="dim" if first else "green"),
                    str(f.calls),
                    fmt.seconds(f.latency_p50_s),
                    fmt.seconds(f.latency_p95_s),
                    fmt.seconds(f.ttft_p50_s),
                    _pct(side),
                    fmt.money(side.cost_per_call_usd, 4),
                    fmt.lit(_upstreams(side)),
                    key=f"{n}-{name}",
                )
        if not self.impacts:
            self.query_one("#change-detail", Static).update(
                "No change recorded yet: saves from the editor, 'routing set', 'routing "
                "restore' and edits by hand (noticed when hermes-dash runs) appear here."
            )
        else:
            self.show_detail(len(self.impacts) - 1)

    @on(DataTable.RowHighlighted, "#changes")
    def highlighted(self, event: DataTable.RowHighlighted) -> None:
        """The diff and note of the change under the cursor."""
        key = event.row_key.value if event.row_key is not None else None
        if key:
            self.show_detail(len(self.impacts) - 1 - int(str(key).split("-")[0]))

    def show_detail(self, i: int) -> None:
        """The diff and the note of change ``i``."""
        if not 0 <= i < len(self.impacts):
            return
        impact = self.impacts[i]
        out = Text()
        out.append(clean(f"{data.iso(impact.change.at)} · {impact.change.source}"), "bold")
        for line in impact.change.diff:
            out.append("\n" + clean(f"  {line}"))
        if impact.note:
            out.append("\n" + clean(impact.note), "yellow")
        out.append("\n")
        out.append(svc.RESTART_NOTE, "dim")
        self.query_one("#change-detail", Static).update(out)
