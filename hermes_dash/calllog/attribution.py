"""Call-log sums per (session, platform, task) over a window: the raw material of cost by
source. The measures are the rollups' own expressions, so the parts add up to exactly the
window's totals."""

from __future__ import annotations

from dataclasses import dataclass

from hermes_dash.calllog.recorder import rollups
from hermes_dash.calllog.records import Window
from hermes_dash.calllog.sane import finite, key_text
from hermes_dash.calllog.store import CallStore
from hermes_dash.calllog.windows import _sane

#: The user's active hours (local time) by default: 07:00 to 24:00; the rest is overnight.
ACTIVE_HOURS = (7, 24)

_MEASURES = ("calls", "logical_calls", "rate_limited", "cost_usd", "input_tokens", "output_tokens")
#: Each row's value as the window's totals read it (text, blobs, inf or a negative number
#: left by another writer count as 0), or the parts would not add up to the totals.
#: TOTAL, as the totals: SUM of two 64-bit token counts stopped with "integer overflow".
_SUMS = ", ".join(
    f"TOTAL({_sane(expr.format(r='c'))})"
    for name, expr in rollups.ROLLUP_MEASURES
    if name in _MEASURES
)
_ORDER = [name for name, _ in rollups.ROLLUP_MEASURES if name in _MEASURES]


@dataclass
class Part:
    """The sums of one (session, platform, task) group, split day/overnight for cost."""

    session_id: str | None
    platform: str | None
    task: str | None
    attempts: int = 0
    calls: int = 0
    rate_limited: int = 0
    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    overnight_cost_usd: float = 0.0


def parts(store: CallStore, window: Window, active: tuple[int, int] = ACTIVE_HOURS) -> list[Part]:
    """One Part per (session, platform, task) with calls in the window; cost outside the
    ``active`` hours [from, to) of local time is also summed as overnight."""
    start, end = active
    rows = store.query(
        f"SELECT c.session_id, c.platform, c.task, "
        f"CAST(strftime('%H', c.started_at, 'unixepoch', 'localtime') AS INTEGER) "
        f"NOT BETWEEN ? AND ?, {_SUMS} FROM calls c "
        "WHERE c.started_at >= ? AND c.started_at < ? "
        "GROUP BY c.session_id, c.platform, c.task, 4",
        (start, end - 1, window.start, window.end),
    )
    found: dict[tuple[str | None, str | None, str | None], Part] = {}
    for raw_session, raw_platform, raw_task, overnight, *sums in rows:
        # A number or a blob in a text column (any writer can leave one) is grouped by
        # its text, so every key compares and sorts as a string.
        session, platform, task = (
            None if v is None else key_text(v) for v in (raw_session, raw_platform, raw_task)
        )
        part = found.setdefault((session, platform, task), Part(session, platform, task))
        m = {name: max(0.0, finite(v) or 0.0) for name, v in zip(_ORDER, sums, strict=True)}
        part.attempts += int(m["calls"])
        part.calls += int(m["logical_calls"])
        part.rate_limited += int(m["rate_limited"])
        part.cost_usd += m["cost_usd"]
        part.input_tokens += int(m["input_tokens"])
        part.output_tokens += int(m["output_tokens"])
        if overnight:
            part.overnight_cost_usd += m["cost_usd"]
    return list(found.values())
