"""The log beside the bill: what OpenRouter billed the key against what the log holds.

The bill comes from the growth of ``/key``'s ``usage`` between the account snapshots the
dashboard and ``summary`` record (the first poll in the window to the newest one), so it
covers every app and machine that uses the key. The log's side is the cost of its calls
to OpenRouter over the same span, billed and estimated. The difference is named for
what it most often is, other apps or machines on this key; the coverage is the share of
the bill the log accounts for. With a management key, ``/activity`` adds the bill per
completed UTC day and model beside the log's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from hermes_dash.calllog.records import CallTotals, GroupStats, Window
from hermes_dash.calllog.store import CallStore
from hermes_dash.services.endpoints import endpoint_of

if TYPE_CHECKING:
    # Only named in annotations: the parsers load with the first /activity answer.
    from hermes_dash.openrouter.records import ActivityRow

#: A poll this long before the window's start still counts as its start.
EDGE_SLACK_S = 900.0
DIFFERENCE_NAME = "other apps or machines on this key"


def openrouter_groups(openrouter_url: str | None) -> Callable[[str, str], bool]:
    """A test of (provider, endpoint) for calls billed to the OpenRouter key."""
    mine = endpoint_of(openrouter_url) if openrouter_url else ""

    def test(provider: str, endpoint: str) -> bool:
        host = endpoint.lower()
        return (
            provider == "openrouter"
            or (bool(mine) and host == mine)
            or host.split(":")[0].endswith("openrouter.ai")
        )

    return test


#: The shortest span between two polls whose bill the dashboard compares with the log.
SETTLED_SPAN_S = 15 * 60.0


@dataclass(frozen=True)
class Reconciliation:
    """The bill and the log over one span of time (USD; None where it cannot be known)."""

    start: float | None
    end: float | None
    billed_usd: float | None
    logged_usd: float
    logged_billed_usd: float
    logged_estimated_usd: float
    unpriced: int
    by_day_model: list[dict[str, Any]] | None = None

    @property
    def logged_known_usd(self) -> float | None:
        """The log's cost, None while its calls are unpriced and nothing of it is known:
        such calls are not $0, so the whole bill must not read as other apps' spend."""
        if self.unpriced and self.logged_usd == 0:
            return None
        return self.logged_usd

    @property
    def difference_usd(self) -> float | None:
        """Billed minus logged: spend the log did not see."""
        logged = self.logged_known_usd
        if self.billed_usd is None or logged is None:
            return None
        return self.billed_usd - logged

    @property
    def settled(self) -> bool:
        """Whether the span is long enough for the share to mean something: OpenRouter
        adds a call to the key's usage a little after it ends, so over the first minutes
        the bill trails the log and the share reads far above 100 %."""
        return (
            self.start is not None
            and self.end is not None
            and self.end - self.start >= SETTLED_SPAN_S
        )

    @property
    def coverage_pct(self) -> float | None:
        """The share of the bill the log holds, in per cent."""
        logged = self.logged_known_usd
        if self.billed_usd is None or self.billed_usd <= 0 or logged is None:
            return None
        return 100.0 * logged / self.billed_usd


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return (
        dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    )


def _add(a: CallTotals, b: CallTotals) -> CallTotals:
    """Two groups' totals added (only the cost fields matter here)."""
    return replace(
        a,
        cost_usd=a.cost_usd + b.cost_usd,
        cost_estimated_usd=a.cost_estimated_usd + b.cost_estimated_usd,
        unpriced=a.unpriced + b.unpriced,
    )


def _logged(
    groups: dict[tuple[str, str], CallTotals], billed_here: Callable[[str, str], bool]
) -> tuple[float, float, int]:
    cost = estimated = 0.0
    unpriced = 0
    for (provider, endpoint), t in groups.items():
        if billed_here(provider, endpoint):
            cost += t.cost_usd
            estimated += t.cost_estimated_usd
            unpriced += t.unpriced
    return cost, estimated, unpriced


def reconcile(
    store: CallStore,
    window: Window,
    *,
    openrouter_url: str | None,
    activity: list[ActivityRow] | None = None,
    providers: list[GroupStats] | None = None,
) -> Reconciliation:
    """The bill against the log for the window (``providers``: the window's provider
    rows when the caller has them, to spare a query when the bill is unknown)."""
    billed_here = openrouter_groups(openrouter_url)
    # The bill is known between two polls; the log is compared over that same span, so
    # a dashboard started mid-window still gets a fair (if shorter) comparison.
    first = store.snapshot_at(window.start - EDGE_SLACK_S, before=False)
    last = store.snapshot_at(window.end, before=True)
    start = end = None
    billed = None
    if first is not None and last is not None and last.taken_at > first.taken_at:
        assert first.usage is not None and last.usage is not None
        start, end = first.taken_at, last.taken_at
        billed = max(0.0, last.usage - first.usage)
    groups: dict[tuple[str, str], CallTotals]
    if start is not None and end is not None:
        groups = store.by_endpoint(Window(start, end))
    elif providers is not None:
        groups = {}
        for g in providers:
            key = (g.key[0], g.key[1])
            t = groups.get(key)
            groups[key] = g.totals if t is None else _add(t, g.totals)
    else:
        groups = store.by_endpoint(window)
    cost, estimated, unpriced = _logged(groups, billed_here)
    return Reconciliation(
        start=start,
        end=end,
        billed_usd=billed,
        logged_usd=cost,
        logged_billed_usd=cost - estimated,
        logged_estimated_usd=estimated,
        unpriced=unpriced,
        by_day_model=_by_day_model(store, window, activity, billed_here),
    )


def _by_day_model(
    store: CallStore,
    window: Window,
    activity: list[ActivityRow] | None,
    billed_here: Callable[[str, str], bool],
) -> list[dict[str, Any]] | None:
    """/activity's completed UTC days inside the window, per model, beside the log."""
    if activity is None:
        return None
    first_day = -(-int(window.start) // 86400) * 86400
    last_day = int(window.end) // 86400 * 86400
    logged: dict[tuple[str, str], float] = {}
    for day, provider, endpoint, model, cost in store.daily_costs(first_day, last_day):
        if billed_here(provider, endpoint):
            key = (dt.datetime.fromtimestamp(day, dt.UTC).date().isoformat(), model)
            logged[key] = logged.get(key, 0.0) + cost
    billed: dict[tuple[str, str], tuple[float, int]] = {}
    start_iso = dt.datetime.fromtimestamp(first_day, dt.UTC).date().isoformat()
    end_iso = dt.datetime.fromtimestamp(last_day, dt.UTC).date().isoformat()
    for row in activity:
        if start_iso <= row.date < end_iso:
            usd, n = billed.get((row.date, row.model), (0.0, 0))
            # An amount the server left out adds nothing; the log's own cost stays beside it.
            billed[(row.date, row.model)] = (usd + (row.usage or 0.0), n + (row.requests or 0))
    out = []
    for date, model in sorted(set(logged) | set(billed)):
        usd, n = billed.get((date, model), (0.0, 0))
        out.append(
            {
                "date": date,
                "model": model,
                "billed_usd": round(usd, 6),
                "requests": n,
                "logged_usd": round(logged.get((date, model), 0.0), 6),
            }
        )
    return out


def reconciliation_json(r: Reconciliation) -> dict[str, Any]:
    """The ``reconciliation`` object of ``summary --json``."""

    def rnd(v: float | None, digits: int = 6) -> float | None:
        return None if v is None else round(v, digits)

    return {
        "from": _iso(r.start),
        "to": _iso(r.end),
        "billed_usd": rnd(r.billed_usd),
        "billed_source": "openrouter /key usage" if r.billed_usd is not None else None,
        "logged_usd": rnd(r.logged_known_usd),
        "logged_billed_usd": rnd(r.logged_billed_usd),
        "logged_estimated_usd": rnd(r.logged_estimated_usd),
        "logged_unpriced_calls": r.unpriced,
        "difference_usd": rnd(r.difference_usd),
        "difference_is": DIFFERENCE_NAME,
        "coverage_pct": rnd(r.coverage_pct, 1),
        "by_day_model": r.by_day_model,
    }
