"""One line per panel for small terminals: the numbers that matter, before the charts."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from hermes_dash.services.account import AccountState
from hermes_dash.services.dashboard import DashboardData
from hermes_dash.tui import format as fmt


def spend_line(account: AccountState, data: DashboardData | None, has_key: bool) -> fmt.Line:
    """Today, month, balance and runway (the key's own numbers; '-' when unknown)."""
    snap = account.snapshot
    stale = " [b reverse] STALE [/]" if account.stale else ""
    if snap is None:
        known = "no key" if not has_key else "polling…" if account.status == "ok" else "unavailable"
        head = f"[b]Spend[/]     {known}"
    else:
        head = (
            f"[b]Spend[/]     today [b]{fmt.money(snap.usage_daily)}[/] · month "
            f"{fmt.money(snap.usage_monthly)} · balance [b]{fmt.money(snap.balance)}[/]"
        )
    runway = None
    if data is not None:
        runway = data.burn_1h.runway_hours or data.burn_24h.runway_hours
    return f"{head} · runway [b]{fmt.hours(runway)}[/]{stale}"


def rate_line(data: DashboardData) -> fmt.Line:
    """429s in the window and the last one."""
    t = data.totals
    colour = "b red" if t.rate_limited else "b green"
    head = f"[b]429s[/]      [{colour}]{t.rate_limited:,}[/] in {data.window.name}"
    last = data.last_rate_limit
    if last is None:
        return head
    via = last.upstream or last.provider
    model = last.model.split("/")[-1]
    return fmt.markup(
        f"{head} · last $at $model via $via",
        at=fmt.clock(last.started_at),
        model=fmt.short(model, 24),
        via=fmt.short(via, 16),
    )


def providers_line(data: DashboardData) -> fmt.Line:
    """The slowest provider by p95 wire latency, and the errors of all."""
    timed = [g for g in data.providers if g.latency_p95_s is not None]
    errors = sum(g.totals.errors for g in data.providers)
    colour = "b yellow" if errors else "b green"
    tail = f" · errors [{colour}]{errors:,}[/]"
    if not timed:
        return f"[b]Providers[/] slowest -{tail}"
    slow = max(timed, key=lambda g: g.latency_p95_s or 0.0)
    provider, _, upstream = slow.key
    name = f"{provider}/{upstream}" if upstream else provider
    return fmt.markup(
        f"[b]Providers[/] slowest p95 [b]{fmt.seconds(slow.latency_p95_s)}[/] $name{tail}",
        name=fmt.short(name, 24),
    )


class CompactSummary(Static):
    """Spend, rate limits and providers as one line each; shown on small terminals (the
    dashboard's -narrow class, see app.tcss), where the panels no longer fit one screen."""

    DEFAULT_CSS = """
    CompactSummary { display: none; height: auto; padding: 0 1; background: $boost; }
    """

    def show(self, account: AccountState, data: DashboardData | None, has_key: bool) -> None:
        """Redraw from the newest data."""
        lines: list[fmt.Line] = [spend_line(account, data, has_key)]
        if data is not None:
            lines += [rate_line(data), providers_line(data)]
        self.update(fmt.join_lines(lines) if lines else Content(""))
