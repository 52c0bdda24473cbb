"""The calls browser: the whole call log, filtered, one call in detail."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Select, Static

from hermes_dash.calllog.filters import CallFilter, StatusFilter
from hermes_dash.calllog.records import CallRow
from hermes_dash.calllog.store import CallLogError, CallStore
from hermes_dash.text import clean
from hermes_dash.tui import format as fmt
from hermes_dash.tui.widgets.table import MeasuredTable

PAGE = 200
STATUS_CHOICES: list[tuple[str, StatusFilter]] = [
    ("ok", "ok"),
    ("errors", "error"),
    ("429 only", "429"),
]


def describe_attempts(rows: list[CallRow]) -> str:
    """One logical call's attempts in a line: '1 call, 3 attempts, 2.90 s waiting on 429s,
    50 ms on the wire' (waiting is the backoff between attempts, apart from wire time)."""
    waiting = sum(r.wait_s or 0.0 for r in rows)
    wire = sum(r.latency_s or 0.0 for r in rows)
    limited = any(r.http_status == 429 for r in rows[:-1])
    on = "on 429s" if limited else "between retries"
    n = len(rows)
    return (
        f"1 call, {n} attempt{'s' if n != 1 else ''}, {fmt.seconds(waiting)} waiting {on}, "
        f"{fmt.seconds(wire)} on the wire"
    )


def describe(row: CallRow, attempts: list[CallRow] | None = None) -> Content:
    """The detail of one call (and of its attempts when known); every text field of the
    row is shown literally."""
    cost = "-" if row.cost_usd is None else fmt.money(row.cost_usd, 6)
    extra = [fmt.lit(describe_attempts(attempts))] if attempts and len(attempts) > 1 else []
    return fmt.join_lines(
        [
            fmt.markup(
                f"[b]#{row.id}[/] {fmt.clock(row.started_at)}  $model  status $status",
                model=row.model,
                status=f"{row.status} {row.http_status or ''} {row.error_reason or ''}",
            ),
            fmt.lit(
                f"provider {row.provider}  upstream {row.upstream or '-'}  host "
                f"{row.base_url_host or '-'}  platform {row.platform or '-'}  session "
                f"{row.session_id or '-'}",
                None,
            ),
            f"latency {fmt.seconds(row.latency_s)}  tokens in {row.input_tokens or 0:,} out "
            f"{row.output_tokens or 0:,} cache read {row.cache_read_tokens or 0:,} reasoning "
            f"{row.reasoning_tokens or 0:,}",
            fmt.lit(
                f"cost {cost} ({row.cost_source or 'not priced yet'})  generation "
                f"{row.generation_id or '-'}  finish {row.finish_reason or '-'}  retries "
                f"{row.retry_count if row.retry_count is not None else '-'}",
                None,
            ),
            fmt.lit(
                f"attempt {row.attempt or 1}  task {row.task or '-'}  endpoint {row.host or '-'}  "
                f"time to first token {fmt.seconds(row.ttft_s)}  waited {fmt.seconds(row.wait_s)}"
                + (f"  from upstream {row.error_provider}" if row.error_provider else "")
                + (f"  limit {row.limit_source}" if row.limit_source else ""),
                None,
            ),
            *extra,
        ]
    )


class CallsScreen(Screen[None]):
    """Every logged call in a table, newest first, with filters."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("f", "focus_filters", "Filters"),
        Binding("n", "next_page", "Older"),
        Binding("p", "prev_page", "Newer"),
    ]
    CSS_PATH = "calls.tcss"

    def __init__(self, store: CallStore) -> None:
        super().__init__()
        self.store = store
        self.page_start = 0
        self.rows: list[CallRow] = []
        self._loads = 0  # loads asked for; only the newest one's rows are shown
        self._loaded_filter: CallFilter | None = None
        #: The call the detail pane describes, and whether it is complete (its other
        #: attempts read, when it has any): a slow read for a call no longer highlighted
        #: must not overwrite the detail of the one that is.
        self.detail_of: int | None = None
        self.detail_complete = False
        #: Whether the model and provider filters have their choices yet.
        self.choices_loaded = False

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical():
            with Horizontal(id="filters"):
                yield Select[str]([], prompt="any model", id="f-model")
                yield Select[str]([], prompt="any provider", id="f-provider")
                yield Select[StatusFilter](STATUS_CHOICES, prompt="any status", id="f-status")
                yield Input(placeholder="session id", id="f-session")
            yield Static("", id="count")
            yield MeasuredTable[object](id="calls-table", cursor_type="row", zebra_stripes=True)
            yield Static("Select a call to see its detail.", id="detail")
        yield Footer()

    def on_mount(self) -> None:
        """Columns, filter choices, first page."""
        table = self.query_one(DataTable)
        for name in (
            "id",
            "time",
            "model",
            "provider",
            "upstream",
            "status",
            "latency",
            "in",
            "out",
            "cost",
            "session",
        ):
            table.add_column(name, key=name)
        table.focus()
        self.load()
        self._read_choices()

    @work(thread=True, group="calls-choices", exit_on_error=False)
    def _read_choices(self) -> None:
        """The filter lists' choices: distinct values over the whole log, which takes the
        store's lock for a while on a big log, so off the UI thread."""
        try:
            models = self.store.distinct("model")
            providers = sorted(
                set(self.store.distinct("provider")) | set(self.store.distinct("upstream"))
            )
        except CallLogError as exc:
            self.app.call_from_thread(self.notify, clean(exc), severity="error", markup=False)
            return
        self.app.call_from_thread(self._show_choices, models, providers)

    def _show_choices(self, models: list[str], providers: list[str]) -> None:
        # Option labels are outside text: shown literally; the values stay exact for
        # filtering. Filling the lists is not the user choosing a filter: no reload.
        with self.prevent(Select.Changed):
            self.query_one("#f-model", Select).set_options([(fmt.lit(m), m) for m in models])
            self.query_one("#f-provider", Select).set_options([(fmt.lit(p), p) for p in providers])
        self.choices_loaded = True

    def current_filter(self) -> CallFilter:
        """The filter the widgets describe."""

        def value(selector: str) -> str:
            v = self.query_one(selector, Select).value
            return v if isinstance(v, str) else ""

        status = self.query_one("#f-status", Select).value
        return CallFilter(
            model=value("#f-model"),
            provider=value("#f-provider"),
            status=next((s for _, s in STATUS_CHOICES if s == status), ""),
            session=self.query_one("#f-session", Input).value.strip(),
        )

    def load(self) -> None:
        """Read the page the widgets describe, off the UI thread."""
        self._loads += 1
        self._loaded_filter = self.current_filter()
        self._read_page(self._loaded_filter, self.page_start, self._loads)

    @work(thread=True, group="calls-page", exit_on_error=False)
    def _read_page(self, flt: CallFilter, offset: int, load: int) -> None:
        # The filter and the page come as arguments: the widgets belong to the UI thread.
        try:
            rows = self.store.query_calls(flt, limit=PAGE, offset=offset)
            total = self.store.count_calls(flt)
        except CallLogError as exc:
            self.app.call_from_thread(self.notify, clean(exc), severity="error", markup=False)
            return
        self.app.call_from_thread(self.show, rows, total, load, offset)

    def show(self, rows: list[CallRow], total: int, load: int, offset: int) -> None:
        """Fill the table (unless a newer load was asked for since: it shows instead)."""
        if load != self._loads:
            return
        self.rows = rows
        table = self.query_one(DataTable)
        table.clear()
        for r in rows:
            # DataTable reads str cells as markup: outside text goes in as literal Text.
            table.add_row(
                str(r.id),
                fmt.clock(r.started_at),
                fmt.lit(r.model),
                fmt.lit(r.provider),
                fmt.lit(r.upstream or "-"),
                fmt.lit(r.http_status or r.status),
                fmt.seconds(r.latency_s),
                fmt.tokens(r.input_tokens),
                fmt.tokens(r.output_tokens),
                "-" if r.cost_usd is None else fmt.money(r.cost_usd, 4),
                fmt.lit(r.session_id or "-"),
                key=str(r.id),
            )
        last = min(total, offset + len(rows))
        self.query_one("#count", Static).update(
            f"{total:,} calls match · showing {offset + 1 if rows else 0:,}-{last:,}"
        )

    def on_select_changed(self, _: Select.Changed) -> None:
        """A filter changed: back to the first page. A change that leaves the filter as
        it was (a list given its choices) reads nothing again: the table would be cleared
        and filled with the same rows, losing the cursor."""
        if self.current_filter() == self._loaded_filter and self.page_start == 0:
            return
        self.page_start = 0
        self.load()

    def on_input_submitted(self, _: Input.Submitted) -> None:
        """Session filter entered."""
        self.page_start = 0
        self.load()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """Show the highlighted call in detail."""
        key = event.row_key.value
        row = next((r for r in self.rows if str(r.id) == key), None)
        if row is not None:
            self.detail_of = row.id
            self.detail_complete = not row.call_key
            self.query_one("#detail", Static).update(describe(row))
            if row.call_key:
                self.load_attempts(row)

    @work(thread=True, exclusive=True, group="attempts", exit_on_error=False)
    def load_attempts(self, row: CallRow) -> None:
        """Read the other attempts of the call off the UI thread, then show them."""
        try:
            attempts = self.store.attempts_of(row.call_key or "")
        except CallLogError:
            return
        self.app.call_from_thread(self._show_attempts, row, attempts)

    def _show_attempts(self, row: CallRow, attempts: list[CallRow]) -> None:
        if row.id != self.detail_of:
            return  # the user has moved on; that call's detail is no longer shown
        self.query_one("#detail", Static).update(describe(row, attempts))
        self.detail_complete = True

    def action_focus_filters(self) -> None:
        """Jump to the filters."""
        self.query_one("#f-model", Select).focus()

    def action_next_page(self) -> None:
        """Older calls."""
        if len(self.rows) == PAGE:
            self.page_start += PAGE
            self.load()

    def action_prev_page(self) -> None:
        """Newer calls."""
        if self.page_start:
            self.page_start = max(0, self.page_start - PAGE)
            self.load()
