"""The upstream scorecard beside the routing form: how each upstream served the model
being routed, from the call log, and the drafts the figures suggest (keys 1-9 load one)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from hermes_dash.calllog.records import WINDOWS, Window
from hermes_dash.calllog.store import CallLogError, CallStore
from hermes_dash.openrouter.client import OpenRouterClient
from hermes_dash.routing.rules import RoutingRules
from hermes_dash.routing.scorecard import MIN_SAMPLE, models_in_log
from hermes_dash.routing.suggest import Suggestion
from hermes_dash.services import routing_data as data
from hermes_dash.text import clean
from hermes_dash.tui import format as fmt
from hermes_dash.tui.widgets.table import MeasuredTable

COLUMNS = ("upstream", "calls", "p50", "p95", "TTFT", "tok/s", "429", "err", "$/1M", "OR p50")


def _share(v: float, attempts: int) -> str:
    return "-" if not attempts else f"{v * 100:.0f}%"


class ScorecardPanel(Vertical):
    """Scorecard and suggestions for one model over one window."""

    DEFAULT_CSS = """
    ScorecardPanel { height: 1fr; }
    ScorecardPanel #scorecard-title { text-style: bold; }
    ScorecardPanel #scorecard { height: auto; max-height: 9; }
    ScorecardPanel #suggestions { height: auto; }
    """

    def __init__(
        self,
        store: CallStore,
        api: OpenRouterClient,
        clock: Callable[[], float],
        *,
        id: str = "scorecard-panel",
    ) -> None:
        super().__init__(id=id)
        self.store = store
        self.api = api
        self.clock = clock
        self.window_name = "24h"
        self.model: str | None = None
        self.default_model: str | None = None
        self.rules = RoutingRules()
        self.models: list[str] = []
        self.suggestions: list[Suggestion] = []
        self.report: data.RoutingReport | None = None

    def compose(self) -> ComposeResult:
        yield Static("Your upstreams", id="scorecard-title")
        yield MeasuredTable[object](id="scorecard", cursor_type="row", zebra_stripes=True)
        yield Static("", id="suggestions")

    def on_mount(self) -> None:
        """Columns."""
        table = self.query_one("#scorecard", DataTable)
        for col in COLUMNS:
            table.add_column(col, key=col)

    def show_for(self, model: str | None, rules: RoutingRules) -> None:
        """Score ``model`` (the default model) against the rules in the file."""
        self.default_model = model
        if self.model is None:
            self.model = model
        self.rules = rules
        self.refresh_report()

    def next_window(self) -> None:
        """1h -> 24h -> 7d -> 30d -> 1h."""
        names = list(WINDOWS)
        self.window_name = names[(names.index(self.window_name) + 1) % len(names)]
        self.refresh_report()

    def next_model(self) -> None:
        """The next model of the call log (the default model first)."""
        choices = list(dict.fromkeys([m for m in [self.default_model, *self.models] if m]))
        if not choices:
            return
        i = choices.index(self.model) if self.model in choices else -1
        self.model = choices[(i + 1) % len(choices)]
        self.refresh_report()

    @work(exclusive=True, group="scorecard", exit_on_error=False)
    async def refresh_report(self) -> None:
        """OpenRouter's figures for the model, then the call log's (off the UI thread)."""
        model = self.model
        title = self.query_one("#scorecard-title", Static)
        if not model:
            title.update("Your upstreams: no model (set model.default, or ctrl+n to pick one)")
            return
        title.update(fmt.lit(f"Your upstreams · {model} · {self.window_name} · loading…"))
        published = await data.fetch_published(self.api, model)
        now = self.clock()
        window = Window.named(self.window_name, now)
        try:
            self.models = await asyncio.to_thread(models_in_log, self.store)
            report = await asyncio.to_thread(
                data.build_report, self.store, model, window, self.rules, published, now
            )
        except CallLogError as exc:
            self.notify(clean(exc), title="Scorecard", severity="error", markup=False)
            return
        self.show(report)

    def show(self, report: data.RoutingReport) -> None:
        """Fill the table and the suggestions."""
        self.report = report
        self.suggestions = report.suggestions[:9]
        card = report.card
        self.query_one("#scorecard-title", Static).update(
            fmt.lit(
                f"Your upstreams · {card.model} · {card.window.name} (ctrl+w window, ctrl+n model)",
                None,
            )
        )
        table = self.query_one("#scorecard", DataTable)
        table.clear()
        for s in card.rows:
            pub = s.published
            style = "yellow" if s.small_sample else ""
            table.add_row(
                Text(clean(s.label, 22) + (" *" if s.small_sample else ""), style=style),
                f"{s.calls}/{s.attempts}",
                fmt.seconds(s.latency_p50_s),
                fmt.seconds(s.latency_p95_s),
                fmt.seconds(s.ttft_p50_s),
                "-" if s.throughput_tps is None else f"{s.throughput_tps:.0f}",
                _share(s.rate_limited_share, s.attempts),
                _share(s.error_share, s.attempts),
                "unknown" if s.billed_per_mtok is None else f"${s.billed_per_mtok:.2f}",
                "-"
                if pub is None or pub.latency_p50_ms is None
                else f"{pub.latency_p50_ms:.0f} ms",
            )
        self.query_one("#suggestions", Static).update(self._suggestion_text(report))

    def _suggestion_text(self, report: data.RoutingReport) -> Text:
        card = report.card
        out = Text()
        if not card.rows:
            out.append("No calls to this model in the window.\n", style="dim")
        elif any(s.small_sample for s in card.rows):
            out.append(
                f"* under {MIN_SAMPLE} attempts: a small sample, figures may not hold\n",
                style="yellow",
            )
        if not self.suggestions and card.rows:
            out.append("No suggestion: the data shows no clear reason to change routing.\n")
        for i, s in enumerate(self.suggestions, 1):
            out.append(f"{i} ", style="bold reverse")
            out.append(clean(f" {s.title}: {s.reason}"), style="bold")
            out.append("\n")
            wi = s.replay
            if wi is not None and wi.draft is not None:
                lg, dr = wi.logged, wi.draft
                out.append(
                    clean(
                        f"   7-day what-if ({lg.calls} calls, to {dr.served_by}): cost "
                        f"{fmt.money(lg.cost_usd)} → {fmt.money(dr.cost_usd)}, p95 "
                        f"{fmt.seconds(lg.latency_p95_s)} → {fmt.seconds(dr.latency_p95_s)}, "
                        f"429s {_pct(lg.rate_limited_share)} → {_pct(dr.rate_limited_share)}"
                    ),
                    style="dim",
                )
                out.append("\n")
        out.append(data.HERMES_FACTS, style="dim italic")
        return out


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v * 100:.1f}%"
