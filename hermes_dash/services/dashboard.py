"""Everything the main screen shows, computed off the UI thread in one pass."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from dataclasses import dataclass

from hermes_dash.calllog.records import (
    AccountSnapshot,
    CallRow,
    CallTotals,
    GroupStats,
    LimitEvents,
    SeriesPoint,
    Window,
)
from hermes_dash.calllog.signals import CallSignals
from hermes_dash.calllog.store import CallStore
from hermes_dash.routing.history import RoutingHistory, history_path
from hermes_dash.services.limits import FreeQuota, free_quota, utc_day_start
from hermes_dash.services.reconcile import Reconciliation, reconcile
from hermes_dash.services.summary import Burn, burn

#: The window the dashboard opens on.
DEFAULT_WINDOW = "24h"
#: Calls the live table starts with: about a screenful.
LIVE_ROWS_AT_START = 40


@dataclass(frozen=True)
class DashboardData:
    """One consistent picture of the call log for a window."""

    window: Window
    totals: CallTotals
    burn_1h: Burn
    burn_24h: Burn
    spend_today_usd: float
    spend_month_usd: float
    providers: list[GroupStats]
    models: list[GroupStats]
    series: list[SeriesPoint]
    account_series: list[float] | None
    snapshots: list[AccountSnapshot]
    last_rate_limit: CallRow | None
    free_quota: FreeQuota | None
    """Free-model requests today; None where nobody can tell (the fleet's PromQL)."""
    limits: LimitEvents | None = None
    reconciliation: Reconciliation | None = None
    signals: CallSignals | None = None
    """What the alert rules read from the call log (429 storm, 402s, runaway)."""
    routing_changes: tuple[float, ...] = ()
    """When provider_routing changed within the window (marked on the charts)."""


def utc_month_start(now: float) -> float:
    """The first instant of the UTC month ``now`` is in."""
    d = dt.datetime.fromtimestamp(now, dt.UTC)
    return dt.datetime(d.year, d.month, 1, tzinfo=dt.UTC).timestamp()


def account_spend_series(
    snapshots: list[AccountSnapshot], series: list[SeriesPoint], window: Window
) -> list[float] | None:
    """Spend on the key per chart interval, from the growth of ``usage`` between polls
    (everything billed to the key, not only what this agent logged); None with < 2 polls."""
    polls = [s for s in snapshots if s.usage is not None]
    if len(polls) < 2 or not series:
        return None
    step = (window.end - window.start) / len(series)
    out = [0.0] * len(series)
    for before, after in itertools.pairwise(polls):
        assert before.usage is not None and after.usage is not None
        i = min(len(series) - 1, max(0, int((after.taken_at - window.start) // step)))
        out[i] += max(0.0, after.usage - before.usage)
    return out


def build_dashboard(
    store: CallStore,
    window_name: str,
    now: float,
    snap: AccountSnapshot | None,
    openrouter_url: str | None = None,
) -> DashboardData:
    """Query the store for the main screen."""
    window = Window.named(window_name, now)
    w1h, w24h = Window.named("1h", now), Window.named("24h", now)
    parts = store.breakdown(window)
    totals = parts.totals
    t1h_totals = totals if window_name == "1h" else store.totals(w1h)
    t24h_totals = totals if window_name == "24h" else store.totals(w24h)
    series = store.series(window, points=60)
    snapshots = store.snapshots(window, limit=300)
    today = Window(utc_day_start(now), window.end)
    month = Window(utc_month_start(now), window.end)
    return DashboardData(
        window=window,
        totals=totals,
        burn_1h=burn(store, w1h, t1h_totals, snap),
        burn_24h=burn(store, w24h, t24h_totals, snap),
        spend_today_usd=store.totals(today).cost_usd,
        spend_month_usd=store.totals(month).cost_usd,
        providers=parts.providers,
        models=parts.models,
        series=series,
        account_series=account_spend_series(snapshots, series, window),
        snapshots=snapshots,
        last_rate_limit=store.last_rate_limit(window),
        free_quota=free_quota(store, now, snap),
        limits=store.limit_events(window),
        # Without a poll there is no bill to hold the log against yet.
        reconciliation=None
        if snap is None
        else reconcile(store, window, openrouter_url=openrouter_url, providers=parts.providers),
        signals=_signals(store, now),
        routing_changes=routing_changes_in(store, window),
    )


def routing_changes_in(store: CallStore, window: Window) -> tuple[float, ...]:
    """Times of the routing changes recorded beside this call log, within the window."""
    changes = RoutingHistory(history_path(store.path)).changes()
    return tuple(c.at for c in changes if window.start <= c.at < window.end)


def _signals(store: CallStore, now: float) -> CallSignals:
    # Imported here: the alert rules build on this module.
    from hermes_dash.services.alerts import AlertRules, signals_for

    return signals_for(store, now, AlertRules())


def live_tail_start(store: CallStore) -> int:
    """The id after which the live table starts: a screenful of the newest calls."""
    return max(0, store.max_id() - LIVE_ROWS_AT_START)


@dataclass(frozen=True)
class ReadRequest:
    """The inputs of one call-log read, copied when it is asked for: the thread that reads
    never looks at state the interface changes meanwhile."""

    window_name: str
    after_id: int
    """The newest call already shown; -1 to start at the live tail."""
    rebuild: bool
    """Whether the aggregates must be rebuilt even without new calls."""
    snapshot: AccountSnapshot | None
    version: int
    """The app state the request was made in (see ``LogRead.version``)."""
    now: float
    openrouter_url: str | None = None
    """Where the account is billed: the reconciliation compares it with the log."""


@dataclass(frozen=True)
class LogRead:
    """What one read found."""

    rows: list[CallRow]
    last_id: int
    """The id the next read continues after (past any row skipped as impossible)."""
    data: DashboardData | None
    """Fresh aggregates, or None when nothing changed."""
    reopened: bool
    """The file had been replaced (deleted and made anew): ids start over."""
    version: int


def read_update(
    store: CallStore, request: ReadRequest, cancelled: Callable[[], bool] = lambda: False
) -> LogRead | None:
    """Read the calls after ``request.after_id`` and, when anything changed, the window's
    aggregates; None when ``cancelled`` says to stop between the two."""
    reopened = store.reopen_if_replaced()
    after = live_tail_start(store) if reopened or request.after_id < 0 else request.after_id
    rows, last = store.tail(after)
    if cancelled():
        return None
    data = None
    if rows or request.rebuild or reopened:
        data = build_dashboard(
            store,
            request.window_name,
            request.now,
            request.snapshot,
            openrouter_url=request.openrouter_url,
        )
    return LogRead(rows, last, data, reopened, request.version)
