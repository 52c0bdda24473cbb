"""The routing editor: form fields for ``provider_routing``, live validation, a route
preview for the default model, the what-if cost, and a confirmed, backed-up save."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import (
    DataTable,
    Footer,
    Header,
    Input,
    Label,
    Select,
    SelectionList,
    Static,
    Switch,
)

from hermes_dash.calllog.store import CallStore
from hermes_dash.hermes.config import ConfigError
from hermes_dash.openrouter.client import OpenRouterClient
from hermes_dash.openrouter.records import Endpoint
from hermes_dash.routing.rules import (
    DATA_COLLECTION,
    SORTS,
    RoutingRules,
    errors_in,
    validate,
)
from hermes_dash.routing.simulate import simulate
from hermes_dash.services import routing as svc
from hermes_dash.services.settings import DashSettings
from hermes_dash.text import clean
from hermes_dash.tui import format as fmt
from hermes_dash.tui.screens.routing_form import FormValues, draft_rules
from hermes_dash.tui.screens.routing_save import restore_with_pick, save_with_confirmation
from hermes_dash.tui.widgets.routing_fields import FieldIssues, OrderList
from hermes_dash.tui.widgets.scorecard import ScorecardPanel
from hermes_dash.tui.widgets.table import MeasuredTable
from hermes_dash.tui.widgets.whatif import WhatIfLine, describe

#: What a form field sends when it changes (each redraws the draft).
FORM_CHANGES = (Select.Changed, SelectionList.SelectedChanged, Switch.Changed, OrderList.Changed)


class RoutingScreen(Screen[None]):
    """Edit provider_routing with the keyboard; nothing is written without a diff."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("ctrl+s", "save", "Save…"),
        Binding("ctrl+r", "restore", "Restore…"),
        Binding("ctrl+o", "changes", "Changes"),
        Binding("ctrl+w", "score_window", "Window"),
        Binding("ctrl+n", "score_model", "Model"),
        Binding("1", "load_draft(1)", "Load draft 1"),
        *[Binding(str(n), f"load_draft({n})", f"Load draft {n}", show=False) for n in range(2, 10)],
    ]
    CSS_PATH = "routing.tcss"

    def __init__(
        self,
        settings: DashSettings,
        api: OpenRouterClient,
        store: CallStore,
        *,
        clock: Callable[[], float],
    ) -> None:
        super().__init__()
        self.settings = settings
        self.api = api
        self.store = store
        self.clock = clock
        self.doc: svc.RoutingDoc | None = None
        self.known: list[str] | None = None
        self.endpoints: list[Endpoint] = []
        #: Route previews drawn (tests count the work a change costs).
        self.previews_drawn = 0
        #: What the widgets held right after filling: untouched fields keep the file's value.
        self._filled: FormValues | None = None
        #: Why the form could not show the file (saving is blocked while set).
        self.fill_error: str | None = None

    @property
    def form_ready(self) -> bool:
        """Whether the form shows the file's rules (saving is allowed)."""
        return self._filled is not None

    @property
    def config_path(self) -> Path:
        """The file being edited."""
        return self.settings.paths.config

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="where")
        with Horizontal(id="columns"):
            with VerticalScroll(id="form"):
                yield Label("sort")
                yield Select(
                    [(s, s) for s in SORTS], prompt="(unset: load-balance by price)", id="sort"
                )
                yield FieldIssues("sort")
                yield Label("only these providers")
                yield SelectionList[str](id="only")
                yield FieldIssues("only")
                yield Label("never these providers")
                yield SelectionList[str](id="ignore")
                yield FieldIssues("ignore")
                yield Label("order: tried first ([ ] move, del removes)")
                yield OrderList(id="order")
                yield Input(placeholder="add a provider slug to order/lists, Enter", id="add")
                yield FieldIssues("order")
                yield Label("require_parameters")
                yield Switch(id="require_parameters")
                yield FieldIssues("require_parameters")
                yield Label("data_collection")
                yield Select(
                    [(d, d) for d in DATA_COLLECTION], prompt="(unset: allow)", id="data_collection"
                )
                yield FieldIssues("data_collection")
                yield Static("", id="issues")
            with Vertical(id="side"):
                yield Static("Route preview", id="preview-title")
                yield MeasuredTable[object](id="preview", cursor_type="row", zebra_stripes=True)
                yield WhatIfLine(self.store, id="whatif")
                yield ScorecardPanel(self.store, self.api, self.clock)
        yield Footer()

    def on_mount(self) -> None:
        """Columns, then load the config and the provider lists."""
        table = self.query_one("#preview", DataTable)
        for col in (
            "#",
            "provider",
            "in $/M",
            "out $/M",
            "p50",
            "tok/s",
            "uptime",
            "quant",
            "status",
        ):
            table.add_column(col, key=col)
        self.load()

    # -- loading -------------------------------------------------------------------------

    @work(exclusive=True, group="routing-load", exit_on_error=False)
    async def load(self) -> None:
        """Read config.yaml, then OpenRouter's providers and the model's endpoints."""
        try:
            self.doc = svc.load_routing(self.config_path)
        except ConfigError as exc:
            self.doc = None
            self.query_one("#where", Static).update(fmt.markup("[red]$error[/]", error=exc))
            self.notify(clean(exc), title="config.yaml", severity="error", markup=False)
            return
        self.known = await svc.provider_slugs(self.api)
        self.endpoints = await svc.model_endpoints(self.api, self.doc.model)
        self.fill(self.doc.rules)
        self.query_one(ScorecardPanel).show_for(self.doc.model, self.doc.rules)

    def fill(self, rules: RoutingRules) -> None:
        """Put rules into the widgets; if they then show anything but the file's rules,
        say so and refuse to save (a half-filled form would write its gaps)."""
        assert self.doc is not None
        self._filled = None
        self.fill_error = None
        try:
            # Filling changes every field: none of those changes is the user's, and the
            # draft is drawn once, below, when the form is whole.
            with self.prevent(*FORM_CHANGES):
                self._fill_widgets(rules)
            shown = self.form_values()
            wanted = FormValues.showing(rules)
            if shown != wanted:
                fields = ", ".join(wanted.differences(shown))
                raise ValueError(f"the form could not show {fields} as config.yaml has it")
            self._filled = shown
        except Exception as exc:  # any failure here must block saving, not pass silently
            self.fill_error = clean(f"cannot edit provider_routing here: {exc}")
            self.query_one("#where", Static).update(Text(self.fill_error, style="bold red"))
            self.notify(self.fill_error, title="Routing editor", severity="error", markup=False)
        self.refresh_draft()

    def _fill_widgets(self, rules: RoutingRules) -> None:
        assert self.doc is not None
        model = self.doc.model or "(no model.default)"
        source = "OpenRouter's list" if self.known is not None else "offline: type slugs below"
        self.query_one("#where", Static).update(
            fmt.markup(
                "provider_routing in [b]$path[/] · model [b]$model[/] · providers: $source",
                path=self.config_path,
                model=model,
                source=source,
            )
        )
        shown = FormValues.showing(rules)
        # Select.NULL is "no selection" (Select.BLANK is not a value and raises).
        sort = self.query_one("#sort", Select)
        sort.value = shown.sort if shown.sort is not None else Select.NULL
        dc = self.query_one("#data_collection", Select)
        dc.value = shown.data_collection if shown.data_collection is not None else Select.NULL
        self.query_one("#require_parameters", Switch).value = shown.require_parameters
        choices = sorted(
            set(self.known or ())
            | {e.slug for e in self.endpoints}
            | set(rules.only)
            | set(rules.ignore)
        )
        for name in ("only", "ignore"):
            chosen = getattr(shown, name)
            sl = self.query_one(f"#{name}", SelectionList)
            sl.clear_options()
            sl.add_options([(fmt.lit(c), c, c in chosen) for c in choices])
        self.query_one(OrderList).set_slugs(list(shown.order))

    # -- the draft -------------------------------------------------------------------------

    def form_values(self) -> FormValues:
        """What the widgets hold now."""
        sort = self.query_one("#sort", Select).value
        dc = self.query_one("#data_collection", Select).value
        return FormValues(
            sort=sort if isinstance(sort, str) else None,
            only=frozenset(self.query_one("#only", SelectionList).selected),
            ignore=frozenset(self.query_one("#ignore", SelectionList).selected),
            order=tuple(self.query_one(OrderList).slugs),
            require_parameters=self.query_one("#require_parameters", Switch).value,
            data_collection=dc if isinstance(dc, str) else None,
        )

    def draft_and_changes(self) -> tuple[RoutingRules, tuple[str, ...]]:
        """The rules the widgets describe and the fields changed since filling; untouched
        fields keep the file's own values."""
        original = self.doc.rules if self.doc else RoutingRules()
        now = self.form_values()
        filled = self._filled or FormValues.showing(original)
        ticked = {
            name: list(self.query_one(f"#{name}", SelectionList).selected)
            for name in ("only", "ignore")
        }
        return draft_rules(original, filled, now, ticked)

    def draft(self) -> RoutingRules:
        """The rules the widgets describe."""
        return self.draft_and_changes()[0]

    @on(Select.Changed)
    @on(SelectionList.SelectedChanged)
    @on(Switch.Changed)
    @on(OrderList.Changed)
    def refresh_draft(self) -> None:
        """Live validation, route preview and what-if for the current draft."""
        if self.doc is None:
            return
        draft = self.draft()
        issues = validate(draft, self.known)
        for box in self.query(FieldIssues):
            box.show([i for i in issues if i.field == box.field])
        errors = len(errors_in(issues))
        summary = (
            Text(f"✗ {errors} error(s): fix them to save", style="bold red")
            if errors
            else Text("✓ valid" + (" (with warnings)" if issues else ""), style="green")
        )
        self.query_one("#issues", Static).update(summary)
        self.show_preview(draft)

    def show_preview(self, draft: RoutingRules) -> None:
        """The endpoints under the draft now; what the last week would have cost follows
        from a worker (it reads the call log)."""
        self.previews_drawn += 1
        table = self.query_one("#preview", DataTable)
        table.clear()
        whatif = self.query_one(WhatIfLine)
        if not self.endpoints:
            whatif.settle("No endpoint list for this model (offline, or not an OpenRouter model).")
            return
        for row in simulate(self.endpoints, draft):
            e = row.endpoint
            style = "" if row.eligible else "dim strike"
            table.add_row(
                str(row.rank) if row.rank else "-",
                Text(clean(e.provider_name, fmt.MAX_SHOWN), style=style),
                f"{e.pricing.prompt * 1e6:.2f}",
                f"{e.pricing.completion * 1e6:.2f}",
                "-" if e.latency_p50_ms is None else f"{e.latency_p50_ms:.0f} ms",
                "-" if e.throughput_p50 is None else f"{e.throughput_p50:.0f}",
                "-" if e.uptime_last_30m is None else f"{e.uptime_last_30m:.1f}%",
                fmt.lit(e.quantization or "-"),
                Text(clean(row.reason), style="green" if row.eligible else "red"),
            )
        model = self.doc.model if self.doc else None
        if model:
            whatif.ask(model, self.endpoints, draft, self.clock())
        else:
            whatif.settle(describe(None))

    @on(Input.Submitted, "#add")
    def add_slug(self, event: Input.Submitted) -> None:
        """Free text: add a slug to the order and to both selection lists."""
        slug = event.value.strip()
        if not slug:
            return
        order = self.query_one(OrderList)
        if slug not in order.slugs:
            order.set_slugs([*order.slugs, slug], len(order.slugs))
        for name in ("only", "ignore"):
            sl = self.query_one(f"#{name}", SelectionList)
            try:
                sl.get_option(slug)
            except Exception:  # an unknown option id: add it
                sl.add_option((fmt.lit(slug), slug))
        event.input.value = ""
        self.refresh_draft()

    # -- save and restore ------------------------------------------------------------------

    def action_save(self) -> None:
        """Validate, show the exact diff, write after confirmation."""
        save_with_confirmation(self)

    def action_restore(self) -> None:
        """Pick a backup and put it back."""
        restore_with_pick(self)

    # -- measured data ---------------------------------------------------------------------

    def action_score_window(self) -> None:
        """The scorecard's next window."""
        self.query_one(ScorecardPanel).next_window()

    def action_score_model(self) -> None:
        """Score the next model of the call log."""
        self.query_one(ScorecardPanel).next_model()

    def action_load_draft(self, n: int) -> None:
        """Put suggestion ``n`` into the form: nothing is written until ctrl+s and the
        diff is confirmed."""
        drafts = self.query_one(ScorecardPanel).suggestions
        if self.doc is None or not self.form_ready or not 0 < n <= len(drafts):
            self.notify(f"No draft {n}.", severity="warning")
            return
        with self.prevent(*FORM_CHANGES):
            self._fill_widgets(drafts[n - 1].draft)
        self.refresh_draft()
        self.notify(
            clean(f"Draft {n} loaded: {drafts[n - 1].title}. ctrl+s shows the diff."),
            markup=False,
        )

    def action_changes(self) -> None:
        """The recorded changes with their before/after figures."""
        from hermes_dash.tui.screens.changes import ChangesScreen

        self.app.push_screen(ChangesScreen(self.settings, self.store, clock=self.clock))
