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
from textual.message import Message
from textual.screen import Screen
from textual.widgets import (
    DataTable,
    Footer,
    Header,
    Input,
    Label,
    ListItem,
    ListView,
    Select,
    SelectionList,
    Static,
    Switch,
)

from hermes_dash.calllog.store import CallStore
from hermes_dash.hermes.config import ConfigError
from hermes_dash.hermes.writer import list_backups
from hermes_dash.openrouter.client import OpenRouterClient
from hermes_dash.openrouter.records import Endpoint
from hermes_dash.routing.rules import (
    DATA_COLLECTION,
    SORTS,
    Issue,
    RoutingRules,
    errors_in,
    validate,
)
from hermes_dash.routing.simulate import simulate
from hermes_dash.services import routing as svc
from hermes_dash.services.readonly import READ_ONLY_HINT, ReadOnlyError
from hermes_dash.services.settings import DashSettings
from hermes_dash.text import clean
from hermes_dash.tui import format as fmt
from hermes_dash.tui.screens.dialogs import ConfirmDiff, PickBackup
from hermes_dash.tui.screens.routing_form import FormValues, draft_rules
from hermes_dash.tui.widgets.whatif import WhatIfLine, describe


class OrderList(ListView):
    """The ``order`` list: reorder with ctrl+up/down (or [ and ]), delete removes."""

    BINDINGS = [
        Binding("ctrl+up,left_square_bracket", "move(-1)", "Move up"),
        Binding("ctrl+down,right_square_bracket", "move(1)", "Move down"),
        Binding("delete,backspace", "remove", "Remove"),
    ]

    def __init__(self, *, id: str) -> None:
        super().__init__(id=id)
        self.slugs: list[str] = []

    def set_slugs(self, slugs: list[str], index: int | None = None) -> None:
        """Replace the items."""
        self.slugs = list(slugs)
        self.clear()
        self.extend(ListItem(Label(fmt.lit(f"{i + 1}. {s}"))) for i, s in enumerate(self.slugs))
        if self.slugs:
            self.index = min(index or 0, len(self.slugs) - 1)

    def action_move(self, step: int) -> None:
        """Swap the highlighted provider with its neighbour."""
        i = self.index
        if i is None or not 0 <= i + step < len(self.slugs):
            return
        s = self.slugs
        s[i], s[i + step] = s[i + step], s[i]
        self.set_slugs(s, i + step)
        self.post_message(self.Changed())

    def action_remove(self) -> None:
        """Drop the highlighted provider."""
        if self.index is not None and self.slugs:
            del self.slugs[self.index]
            self.set_slugs(self.slugs, self.index)
            self.post_message(self.Changed())

    class Changed(Message):
        """The order changed."""


class FieldIssues(Static):
    """The validation findings for one field, shown right under it (empty when fine)."""

    DEFAULT_CSS = "FieldIssues { height: auto; }"

    def __init__(self, field: str) -> None:
        super().__init__("", id=f"issues-{field}")
        self.field = field

    def show(self, issues: list[Issue]) -> None:
        """Replace the findings."""
        lines = [
            Text(
                clean(f"{'✗' if i.severity == 'error' else '!'} {i.message}"),
                style="bold red" if i.severity == "error" else "yellow",
            )
            for i in issues
        ]
        self.update(Text("\n").join(lines))


#: What a form field sends when it changes (each redraws the draft).
FORM_CHANGES = (Select.Changed, SelectionList.SelectedChanged, Switch.Changed, OrderList.Changed)


class RoutingScreen(Screen[None]):
    """Edit provider_routing with the keyboard; nothing is written without a diff."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("ctrl+s", "save", "Save…"),
        Binding("ctrl+r", "restore", "Restore…"),
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
                yield DataTable[object](id="preview", cursor_type="row", zebra_stripes=True)
                yield WhatIfLine(self.store, id="whatif")
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

    def _refused(self, exc: ReadOnlyError) -> None:
        self.notify(str(exc), title="Read-only", severity="error", markup=False)

    def action_save(self) -> None:
        """Validate, show the exact diff, write after confirmation."""
        if self.settings.read_only:  # said before the diff, not after the user confirms
            self._refused(ReadOnlyError(f"saving config.yaml refused: {READ_ONLY_HINT}"))
            return
        if self.doc is None:
            self.notify("config.yaml could not be read: nothing to save", severity="error")
            return
        if self.fill_error is not None or self._filled is None:
            self.notify(
                self.fill_error or "the form is still loading",
                title="Not saved",
                severity="error",
                markup=False,
            )
            return
        draft, changed = self.draft_and_changes()
        errors = errors_in(validate(draft, self.known))
        if errors:
            self.notify(
                clean("; ".join(map(str, errors))),
                title="Not saved",
                severity="error",
                markup=False,
            )
            return
        if not changed:
            self.notify("No change to save.")
            return
        try:
            proposal = svc.propose_routing(self.doc, draft, changed)
        except ConfigError as exc:
            self.notify(clean(exc), title="Not saved", severity="error", markup=False)
            return
        if not proposal.changed:
            self.notify("No change to save.")
            return

        def confirmed(ok: bool | None) -> None:
            if not ok:
                return
            try:
                backup = svc.save(proposal, self.settings.paths, read_only=self.settings.read_only)
            except ReadOnlyError as exc:
                self._refused(exc)
                return
            except ConfigError as exc:
                self.notify(clean(exc), title="Not saved", severity="error", markup=False)
                return
            name = backup.name if backup else "none (new file)"
            self.notify(
                clean(f"Saved. Backup: {name}. {svc.RESTART_NOTE}"),
                title="provider_routing",
                timeout=8,
                markup=False,
            )
            self.load()

        self.app.push_screen(ConfirmDiff(f"Write {self.config_path}?", proposal.diff()), confirmed)

    def action_restore(self) -> None:
        """Pick a backup and put it back."""

        if self.settings.read_only:
            self._refused(ReadOnlyError(f"restoring config.yaml refused: {READ_ONLY_HINT}"))
            return

        def chosen(backup: Path | None) -> None:
            if backup is None:
                return
            try:
                svc.restore(
                    backup, self.config_path, self.settings.paths, read_only=self.settings.read_only
                )
            except ReadOnlyError as exc:
                self._refused(exc)
                return
            except ConfigError as exc:
                self.notify(clean(exc), title="Not restored", severity="error", markup=False)
                return
            self.notify(
                clean(f"Restored {backup.name}. {svc.RESTART_NOTE}"), timeout=8, markup=False
            )
            self.load()

        self.app.push_screen(PickBackup(list_backups(self.settings.paths.backups)), chosen)
