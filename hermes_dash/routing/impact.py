"""Before and after each routing change: the same figures over two equal windows.

The windows meet at the change: ``[at - L, at)`` and ``[at, at + L)``, with ``L`` the
smallest of a day, the time since the change, and the time to the previous and to the
next change (so each side sees one routing only). The calls are those routing applies
to: sent through OpenRouter (Hermes provider ``openrouter``, or an upstream reported).
A call belongs to the side it started in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hermes_dash.calllog.records import CallRow, Window
from hermes_dash.calllog.store import CallFilter, CallStore
from hermes_dash.routing.history import Change
from hermes_dash.routing.scorecard import UNKNOWN_UPSTREAM, UpstreamScore, score_rows, slug_rule

#: The longest side of a before/after comparison.
MAX_SIDE_S = 86400.0


@dataclass(frozen=True)
class Side:
    """One side of a change: the window and its figures."""

    window: Window
    figures: UpstreamScore
    upstreams: dict[str, int]  # attempts per upstream

    @property
    def cost_per_call_usd(self) -> float | None:
        """Known cost per logical call; None when nothing is priced or no call."""
        f = self.figures
        return f.cost_usd / f.calls if f.cost_usd is not None and f.calls else None


@dataclass(frozen=True)
class Impact:
    """One change with its before and after."""

    change: Change
    before: Side
    after: Side
    stale_processes: int  # Hermes processes still running that started before the change
    ahead_s: float = 0.0
    """How far the change's date is ahead of this machine's clock (0: not in the future)."""

    @property
    def excluded_after(self) -> dict[str, int]:
        """Attempts after the change served by upstreams the new block excludes (in
        ``ignore``, or missing from ``only``): the wire's sign of calls still sent with
        the old routing (a process not restarted) or without any (auxiliary tasks)."""
        return excluded(self.change.after, self.after.upstreams)

    @property
    def note(self) -> str:
        """Why the after side may still show the old routing."""
        notes: list[str] = []
        if self.ahead_s > 0:
            notes.append(
                f"dated {_span(self.ahead_s)} ahead of this machine's clock (a clock set wrong, "
                "or a file's time from another machine): no calls to compare yet"
            )
        if self.stale_processes:
            n = self.stale_processes
            notes.append(
                f"{n} Hermes process{'es' if n > 1 else ''} running since before this change: "
                "not restarted, still sending the old routing"
            )
        shut_out = self.excluded_after
        if shut_out:
            names = ", ".join(f"{name} {n}" for name, n in sorted(shut_out.items()))
            notes.append(
                f"after it, attempts still went to upstreams it excludes ({names}): sent by a "
                "process that had not restarted, or by auxiliary tasks, which ignore routing"
            )
        return "; ".join(notes)


def _span(seconds: float) -> str:
    if seconds < 90 * 60:
        return f"{max(seconds / 60, 1):.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"


def excluded(block: dict[str, object], upstreams: dict[str, int]) -> dict[str, int]:
    """The attempts of ``upstreams`` (by display name) that ``block`` shuts out."""
    ignore = block.get("ignore")
    only = block.get("only")
    ignored = {str(s).split("/")[0] for s in ignore} if isinstance(ignore, list) else set()
    allowed = {str(s).split("/")[0] for s in only} if isinstance(only, list) else None
    out: dict[str, int] = {}
    for name, n in upstreams.items():
        slug = slug_rule(name) if name else None
        if slug is None:
            continue  # no slug: no block can name it
        if slug in ignored or (allowed is not None and slug not in allowed):
            out[name] = n
    return out


def routed(row: CallRow) -> bool:
    """Whether provider_routing applies to this attempt (it went through OpenRouter)."""
    return row.provider == "openrouter" or bool(row.upstream)


def side(store: CallStore, window: Window, model: str | None = None) -> Side:
    """The figures of the routed attempts in ``window`` (one model's when given)."""
    rows = [
        r
        for r in store.iter_calls(CallFilter(model=model or "", window=window))
        if routed(r) and r.started_at < window.end
    ]
    counts: dict[str, int] = {}
    for r in rows:
        name = r.upstream or r.error_provider or UNKNOWN_UPSTREAM
        counts[name] = counts.get(name, 0) + 1
    return Side(window, score_rows(UNKNOWN_UPSTREAM, rows), counts)


def side_length(changes: Sequence[Change], i: int, now: float) -> float:
    """The length of both sides of change ``i`` (0 when it happened just now)."""
    at = changes[i].at
    length = min(MAX_SIDE_S, max(0.0, now - at))
    if i > 0:
        length = min(length, max(0.0, at - changes[i - 1].at))
    if i + 1 < len(changes):
        length = min(length, max(0.0, changes[i + 1].at - at))
    return length


def impacts(
    store: CallStore,
    changes: Sequence[Change],
    now: float,
    hermes_started: Sequence[float] = (),
    model: str | None = None,
) -> list[Impact]:
    """Before and after of every change, oldest first. ``hermes_started`` holds the
    start times of the Hermes processes running now."""
    out: list[Impact] = []
    for i, change in enumerate(changes):
        length = side_length(changes, i, now)
        before = Window(change.at - length, change.at, "before")
        after = Window(change.at, change.at + length, "after")
        stale = sum(1 for t in hermes_started if t < change.at)
        sides = side(store, before, model), side(store, after, model)
        out.append(Impact(change, *sides, stale, max(0.0, change.at - now)))
    return out
