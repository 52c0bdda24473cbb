"""Cost check: our logged cost per model beside Hermes' own estimate and actual cost, and
Hermes' own count of calls per task (auxiliary tasks included) beside the log's."""

from __future__ import annotations

from collections.abc import Callable

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from hermes_dash.calllog.records import GroupStats, Window
from hermes_dash.calllog.store import CallLogError, CallStore
from hermes_dash.hermes.paths import HermesPaths
from hermes_dash.hermes.state_db import (
    HermesModelCost,
    HermesTaskUsage,
    StateDbError,
    read_model_costs,
    read_task_usage,
)
from hermes_dash.tui import format as fmt
from hermes_dash.tui.screens.dialogs import Dialog
from hermes_dash.tui.widgets.table import MeasuredTable

WINDOW = "7d"


class CostCheckScreen(Dialog[None]):
    """Per model, last 7 days: calls and cost from our log; Hermes' estimate and bill."""

    BINDINGS = [Binding("escape,h", "dismiss", "Close")]
    CSS_PATH = "costcheck.tcss"

    def __init__(self, store: CallStore, paths: HermesPaths, clock: Callable[[], float]) -> None:
        super().__init__()
        self.store = store
        self.paths = paths
        self.clock = clock

    def compose(self) -> ComposeResult:
        with Vertical(id="costcheck-box"):
            yield Static(
                f"[b]Cost check, last {WINDOW}[/]: the call log (OpenRouter's bill per call) "
                "beside Hermes' own estimate and actual cost from state.db",
                id="costcheck-title",
            )
            yield MeasuredTable[object](id="costcheck", zebra_stripes=True)
            yield Static("", id="costcheck-note")

    def on_mount(self) -> None:
        """Columns, then load off the UI thread."""
        table = self.query_one(DataTable)
        for col in (
            "model",
            "calls",
            "logged cost",
            "Hermes sessions",
            "Hermes estimate",
            "Hermes actual",
            "estimate - logged",
            "log calls by task",
            "Hermes calls by task",
        ):
            table.add_column(col, key=col)
        self.load()

    @work(thread=True, exit_on_error=False)
    def load(self) -> None:
        """Read both sources."""
        window = Window.named(WINDOW, self.clock())
        note = ""
        try:
            ours = {g.key[0]: g for g in self.store.by_model(window)}
            logged_tasks = self.store.task_counts(window)
        except CallLogError as exc:
            ours, logged_tasks, note = {}, {}, str(exc)
        tasks: dict[str, list[HermesTaskUsage]] = {}
        try:
            theirs = {c.model: c for c in read_model_costs(self.paths.state_db, since=window.start)}
            for usage in read_task_usage(self.paths.state_db, since=window.start):
                tasks.setdefault(usage.model, []).append(usage)
        except StateDbError as exc:
            theirs, note = {}, f"{exc} (Hermes' columns stay empty)"
        self.app.call_from_thread(self.show, ours, theirs, note, tasks, logged_tasks)

    def show(
        self,
        ours: dict[str, GroupStats],
        theirs: dict[str, HermesModelCost],
        note: str,
        tasks: dict[str, list[HermesTaskUsage]] | None = None,
        logged_tasks: dict[str, dict[str, int]] | None = None,
    ) -> None:
        """Fill the table."""
        table = self.query_one(DataTable)
        tasks = tasks or {}
        logged_tasks = logged_tasks or {}
        for model in sorted(
            set(ours) | set(theirs) | set(tasks), key=lambda m: -(ours[m].calls if m in ours else 0)
        ):
            g, h = ours.get(model), theirs.get(model)
            logged = g.totals.cost_usd if g else None
            est = h.estimated_usd if h else None
            delta = None if (logged is None or est is None) else est - logged
            table.add_row(
                fmt.lit(model),  # DataTable reads str cells as markup
                f"{g.calls:,}" if g else "-",
                fmt.money(logged, 4),
                str(h.sessions) if h else "-",
                fmt.money(est, 4),
                fmt.money(h.actual_usd if h else None, 4),
                "-" if delta is None else f"{'+' if delta >= 0 else '-'}{fmt.money(abs(delta), 4)}",
                # Task names come from the call log and state.db: literal, like the model.
                fmt.lit(
                    " · ".join(f"{t} {n:,}" for t, n in sorted(logged_tasks.get(model, {}).items()))
                    or "-"
                ),
                fmt.lit(
                    " · ".join(f"{u.task} {u.api_calls or 0:,}" for u in tasks.get(model, []))
                    or "-"
                ),
            )
        self.query_one("#costcheck-note", Static).update(fmt.lit(note, None))
