"""The main screen's tables: providers (per endpoint and upstream) and the live calls.

Loaded when the tables join the screen, after the first frame (see DashboardScreen): with
them Textual's DataTable.
"""

from __future__ import annotations

from collections import deque

from hermes_dash.calllog.records import CallRow, GroupStats
from hermes_dash.tui import format as fmt
from hermes_dash.tui.widgets.table import Cell, PanelTable

PROVIDER_COLUMNS = (
    "provider",
    "upstream",
    "calls",
    "p50",
    "p95",
    "ttft",
    "err",
    "429s",
    "cost",
)
_SORT_KEYS = {
    "provider": lambda g: g.key,
    "upstream": lambda g: (g.key[2], g.key[0]),
    "calls": lambda g: -g.calls,
    "p50": lambda g: g.latency_p50_s if g.latency_p50_s is not None else float("inf"),
    "p95": lambda g: g.latency_p95_s if g.latency_p95_s is not None else float("inf"),
    "ttft": lambda g: g.ttft_p50_s if g.ttft_p50_s is not None else float("inf"),
    "err": lambda g: -g.totals.errors,
    "429s": lambda g: -g.totals.rate_limited,
    "cost": lambda g: -g.totals.cost_usd,
}


#: Long upstream names are cut so every column fits a half-width panel at 160 columns.
UPSTREAM_WIDTH = 13


class ProvidersTable(PanelTable):
    """Per endpoint (provider and host) and upstream: calls, wire latency p50/p95, time
    to first token (p50), errors, 429 attempts and cost; sortable."""

    def __init__(self, *, id: str) -> None:
        super().__init__(PROVIDER_COLUMNS, right=PROVIDER_COLUMNS[2:], id=id)
        self.sort_column = "calls"
        self._groups: list[GroupStats] = []
        self._window = ""

    def redraw(self) -> None:
        """Draw the groups given last."""
        self.show(self._groups)

    def show(self, groups: list[GroupStats], window: str | None = None) -> None:
        """Replace the rows (of the named window), sorted by the current column."""
        self._groups = groups
        self._window = window or self._window
        self.border_subtitle = f"{self._window} · sorted by {self.sort_column}"
        if not self.on_screen:
            return  # drawn on mount (the first frame does without the tables)
        # Two endpoints under one provider name (two custom servers) are told apart
        # by their host.
        hosts: dict[str, set[str]] = {}
        for g in groups:
            hosts.setdefault(g.key[0], set()).add(g.key[1])
        rows: list[tuple[Cell, ...]] = []
        for g in sorted(groups, key=_SORT_KEYS[self.sort_column]):
            t = g.totals
            provider, endpoint, upstream = g.key
            name = f"{provider}@{endpoint}" if len(hosts[provider]) > 1 and endpoint else provider
            cost = t.known_cost_usd
            rows.append(
                (
                    (name, "cyan" if provider != "openrouter" else ""),
                    (upstream or "-")[:UPSTREAM_WIDTH],
                    f"{t.calls:,}",
                    fmt.seconds(g.latency_p50_s),
                    fmt.seconds(g.latency_p95_s),
                    fmt.seconds(g.ttft_p50_s),
                    f"{t.errors:,}",
                    (f"{t.rate_limited:,}", "bold red" if t.rate_limited else ""),
                    # "+?": more was spent than the known part, not priced yet.
                    "unknown" if cost is None else fmt.money(cost) + ("+?" if t.unpriced else ""),
                )
            )
        self.set_rows(rows)

    def action_cycle_sort(self) -> None:
        """Sort by the next column."""
        i = PROVIDER_COLUMNS.index(self.sort_column)
        self.sort_by(PROVIDER_COLUMNS[(i + 1) % len(PROVIDER_COLUMNS)])

    def sort_by(self, column: str) -> None:
        """Sort by a column and redraw."""
        self.sort_column = column
        self.show(self._groups)

    def on_data_table_header_selected(self, event: PanelTable.HeaderSelected) -> None:
        """Click a header to sort by it."""
        event.stop()
        self.sort_by(str(event.column_key.value))


class LiveCalls(PanelTable):
    """The newest calls, newest first; 429s and errors highlighted."""

    MAX_ROWS = 100
    COLUMNS = ("time", "model", "provider", "latency", "tokens", "cost", "http")

    def __init__(self, *, id: str) -> None:
        super().__init__(self.COLUMNS, right=("latency", "tokens", "cost"), id=id)
        self._calls: deque[CallRow] = deque(maxlen=self.MAX_ROWS)

    def clear_calls(self) -> None:
        """Forget every call shown."""
        self._calls.clear()
        self.set_rows([])

    def redraw(self) -> None:
        """Draw the calls pushed so far."""
        self.push([])

    def push(self, rows: list[CallRow]) -> None:
        """Add new rows (oldest first) and redraw newest first."""
        self._calls.extend(rows)
        if not self.on_screen:
            return  # drawn on mount (the first frame does without the tables)
        table: list[tuple[Cell, ...]] = []
        for r in reversed(self._calls):
            status: Cell
            if r.http_status == 429:
                status, style = ("429", "bold white on red"), "red"
            elif r.status != "ok":
                status, style = (str(r.http_status or "err"), "bold yellow"), "yellow"
            else:
                status, style = ("ok", "green"), ""
            tok = None if r.input_tokens is None else r.input_tokens + (r.output_tokens or 0)
            table.append(
                (
                    fmt.clock(r.started_at),
                    (r.model.split("/")[-1][:18], style),
                    (r.upstream or r.provider)[:12],
                    fmt.seconds(r.latency_s),
                    fmt.tokens(tok),
                    "-" if r.cost_source == "none" else fmt.money(r.cost_usd, 4),
                    status,
                )
            )
        self.set_rows(table)
