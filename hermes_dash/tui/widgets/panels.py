"""The main screen's panels: spend, rate limits, status line (its tables are in
``panel_tables``)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Static

from hermes_dash.calllog.records import GroupStats
from hermes_dash.services.account import AccountState
from hermes_dash.services.dashboard import DashboardData
from hermes_dash.tui import format as fmt
from hermes_dash.tui.widgets.charts import SeriesChart


class Panel(Vertical):
    """A bordered box with a title: a few lines of numbers above a chart.

    It can be given data before it is mounted: the first frame then already shows the
    numbers instead of a placeholder.
    """

    DEFAULT_CSS = """
    Panel { border: round $primary-darken-1; padding: 0 1; height: 1fr; }
    Panel > .stats { height: auto; }
    Panel > .guide { display: none; height: auto; margin-top: 1; }
    Panel.-guide > .guide { display: block; }
    Panel.-guide > SeriesChart.-armed { display: none; }
    """

    def __init__(self, title: str, *, id: str, stats_id: str, chart: SeriesChart) -> None:
        super().__init__(id=id)
        self.border_title = title
        self.stats = Static("Loading…", classes="stats", id=stats_id)
        self.chart = chart
        # Where the chart would be: what is missing and how to fix it, when the chart
        # would have nothing to draw (an axis from -1 to 1 explains nothing).
        self.guide = Static("", classes="guide", id=f"{stats_id}-guide")

    def compose(self) -> ComposeResult:
        yield self.stats
        yield self.chart
        yield self.guide

    def show_guide(self, words: Content | None) -> None:
        """Words in place of the chart, or (None) the chart again."""
        self.set_class(words is not None, "-guide")
        if words is not None:
            self.guide.update(words)


class SpendPanel(Panel):
    """Balance, limits, usage, burn rate, runway and the spend chart."""

    def __init__(self, title: str, *, id: str) -> None:
        chart = SeriesChart(
            lambda p: p.cost_usd,
            "spend per interval, USD (bars: logged, line: key)",
            "green",
            id="spend-chart",
        )
        super().__init__(title, id=id, stats_id="spend-stats", chart=chart)

    def show(self, account: AccountState, data: DashboardData | None, has_key: bool) -> None:
        """Redraw from the newest data."""
        lines: list[fmt.Line] = []
        snap = account.snapshot
        stale = " [b reverse] STALE [/]" if account.stale else ""
        if snap is not None:
            limit = "none" if snap.limit is None else fmt.money(snap.limit)
            lines.append(
                f"Balance [b]{fmt.money(snap.balance)}[/]  Key limit {limit} "
                f"(left [b]{fmt.money(snap.limit_remaining)}[/]){stale}"
            )
            lines.append(
                f"Today {fmt.money(snap.usage_daily)}  Week {fmt.money(snap.usage_weekly)}  "
                f"Month {fmt.money(snap.usage_monthly)}"
            )
        elif not has_key:
            lines.append(
                "[yellow]No OpenRouter key.[/] Set OPENROUTER_API_KEY or add it to "
                "$HERMES_HOME/.env to see balance and limits."
            )
        elif account.status != "ok":
            # The server's own error message: shown as it is, never as markup.
            lines.append(
                fmt.markup("[red]$message[/]", message=account.message or "OpenRouter unavailable")
            )
        else:
            lines.append("Polling OpenRouter…")
        if data is not None:
            lines.append(
                f"Burn [b]{fmt.rate(data.burn_1h.usd_per_hour)}[/] (1 h)  "
                f"{fmt.rate(data.burn_24h.usd_per_hour)} (24 h)  "
                f"Runway [b]{fmt.hours(data.burn_1h.runway_hours or data.burn_24h.runway_hours)}[/]"
            )
            t = data.totals
            notes = [
                f"{fmt.money(t.cost_estimated_usd)} estimated" if t.cost_estimated_usd else "",
                f"{t.unpriced:,} unpriced" if t.unpriced else "",
            ]
            note = ", ".join(n for n in notes if n)
            lines.append(
                f"Logged {data.window.name}: "
                f"{'unknown' if t.known_cost_usd is None else fmt.money(t.known_cost_usd)} "
                f"over {t.calls:,} calls" + (f" ({note})" if note else "")
            )
            rec = data.reconciliation
            if rec is not None and rec.billed_usd is not None and not rec.settled:
                lines.append(
                    f"Bill since {fmt.clock(rec.start)}: {fmt.money(rec.billed_usd)} so far "
                    "(held against the log after 15 min of polls: the bill trails the calls)"
                )
            elif rec is not None and rec.billed_usd is not None:
                other = rec.difference_usd or 0.0
                lines.append(
                    f"Bill since {fmt.clock(rec.start)}: {fmt.money(rec.billed_usd)}, "
                    f"log holds {fmt.percent(rec.coverage_pct)}"
                    + (f"; {fmt.money(other)} from other apps or machines" if other > 0.005 else "")
                )
            self.chart.show(data.series, data.window.end, data.account_series, data.routing_changes)
            self.border_subtitle = data.window.name
        self.stats.update(fmt.join_lines(lines))


class RateLimitPanel(Panel):
    """429s over time, by model and provider, the latest one, the free-model quota."""

    def __init__(self, title: str, *, id: str) -> None:
        chart = SeriesChart(
            lambda p: p.rate_limited, "HTTP 429s per interval", "red", id="rate-chart"
        )
        super().__init__(title, id=id, stats_id="rate-stats", chart=chart)

    def show(self, data: DashboardData) -> None:
        """Redraw from the newest data."""
        t = data.totals
        share = f" ({t.rate_limited / t.attempts:.1%})" if t.attempts else ""
        lines: list[fmt.Line] = [
            f"429s in {data.window.name}: [b]{t.rate_limited:,}[/] of {t.attempts:,} "
            f"attempts{share}"
        ]
        ev = data.limits
        if ev is not None and ev.upstream_429:
            lines.append(
                f"From upstreams {sum(ev.upstream_429.values()):,}, from the endpoint "
                f"itself {ev.own_429:,}"
            )
        last = data.last_rate_limit
        if last is not None:
            via = last.upstream or last.provider
            lines.append(fmt.lit(f"Last: {fmt.clock(last.started_at)} {last.model} via {via}"))
        by_model = sorted(
            (m for m in data.models if m.totals.rate_limited), key=lambda m: -m.totals.rate_limited
        )
        if by_model:
            lines.append(
                fmt.lit(
                    "By model: "
                    + " · ".join(
                        f"{fmt.short(m.key[0].split('/')[-1])} {m.totals.rate_limited}"
                        for m in by_model[:3]
                    )
                )
            )
        by_prov = sorted(
            (p for p in data.providers if p.totals.rate_limited),
            key=lambda p: -p.totals.rate_limited,
        )
        if by_prov:
            lines.append(
                fmt.lit(
                    "By provider: "
                    + " · ".join(
                        f"{fmt.short(_provider_name(p))} {p.totals.rate_limited}"
                        for p in by_prov[:3]
                    )
                )
            )
        q = data.free_quota
        if q is not None:
            colour = (
                "red" if q.used >= q.quota else "yellow" if q.used >= 0.8 * q.quota else "green"
            )
            lines.append(
                f"Free models today: [{colour}]{q.used:,} / {q.quota:,}[/] requests"
                + (" (OpenRouter)" if q.source == "openrouter" else "")
            )
        self.stats.update(fmt.join_lines(lines))
        self.chart.show(data.series, data.window.end, marks=data.routing_changes)
        self.border_subtitle = data.window.name


def _provider_name(g: GroupStats) -> str:
    provider, _, upstream = g.key
    return f"{provider}/{upstream}" if upstream else provider


class StatusLine(Static):
    """Last poll, staleness, connection, masked key, call-log path, plugin state."""

    DEFAULT_CSS = "StatusLine { height: 1; background: $boost; padding: 0 1; }"
