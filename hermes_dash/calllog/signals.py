"""What the alert rules read from the call log: recent 429s and 402s, spend velocity
against the same hour's usual rate, and sessions repeating themselves.

Every query reads a few minutes of rows through the ``started_at`` (and
``session_id``) indexes, so a poll costs milliseconds on a log of millions of calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hermes_dash.calllog.recorder import rollups
from hermes_dash.calllog.store import CallStore

_SANE_CALLS = rollups.sane_number("calls")
_SANE_COST = rollups.sane_number("cost_usd")
#: A logical call's first attempt (v1 rows and hook rows have no attempt number).
FIRST_ATTEMPT = "(attempt IS NULL OR attempt = 1)"


@dataclass(frozen=True)
class Refusal:
    """The newest HTTP 402 in the recent past, with OpenRouter's reason."""

    at: float
    limit_source: str | None


@dataclass(frozen=True)
class Velocity:
    """Spend per minute now against the usual rate for this hour of the day."""

    recent_usd_per_min: float
    usual_usd_per_min: float | None  # None without history for this hour
    top_session: str | None
    top_session_usd: float


@dataclass(frozen=True)
class Loop:
    """A session making near-identical requests in a row."""

    session_id: str
    model: str
    calls: int
    cost_usd: float


@dataclass(frozen=True)
class CallSignals:
    """Everything the rules need from the call log, read in one pass."""

    now: float
    attempts: int  # HTTP attempts over the storm window
    rate_limited: int  # 429 attempts among them
    refusal: Refusal | None
    velocity: Velocity
    loops: list[Loop]
    last_write: float | None


def _recent(
    store: CallStore, storm_since: float, spend_start: float, end: float
) -> tuple[int, int, float]:
    """HTTP attempts and 429s in [storm_since, end), and the spend in [spend_start, end):
    one pass over the recent rows instead of one per figure (each pass visits every row
    of a busy few minutes)."""
    # The spend adds the same rows in the same (index) order as a query of its own, so
    # the sum is the same to the last bit. A cost another writer got wrong counts as 0, as
    # in every other figure: a negative one hid the real spend, inf made it $inf/min.
    # Both end at ``end``: 429s a writer with its clock ahead dated later were a storm in
    # every evaluation until their time came, while no summary counted them.
    row = store.query(
        "SELECT COUNT(http_status) FILTER (WHERE started_at >= ?), "
        "COALESCE(SUM(http_status = 429) FILTER (WHERE started_at >= ?), 0), "
        f"COALESCE(SUM({_SANE_COST}) FILTER (WHERE started_at >= ?), 0) "
        "FROM calls WHERE started_at >= ? AND started_at < ?",
        (storm_since, storm_since, spend_start, min(storm_since, spend_start), end),
    )[0]
    return int(row[0]), int(row[1]), float(row[2])


def last_refusal(store: CallStore, since: float) -> Refusal | None:
    """The newest 402 since ``since``, with its limit source, while calls are still being
    refused: a success after it means the limit no longer holds (raised, reset, credits
    bought), so there is nothing to report."""
    rows = store.query(
        "SELECT started_at, limit_source FROM calls WHERE started_at >= ? AND http_status = 402 "
        "ORDER BY started_at DESC LIMIT 1",
        (since,),
    )
    if not rows:
        return None
    at = rows[0][0]
    later_ok = store.query(
        "SELECT 1 FROM calls WHERE started_at > ? AND status = 'ok' LIMIT 1", (at,)
    )
    return None if later_ok else Refusal(at, rows[0][1])


def velocity(
    store: CallStore, now: float, minutes: float, history_days: int, spent: float
) -> Velocity:
    """Spend per minute over the last ``minutes`` (``spent`` in [now - minutes, now + 1));
    the usual rate is the mean spend per minute in the same UTC hour on the previous
    ``history_days`` days that had any calls."""
    start = now - minutes * 60
    recent = spent / minutes
    hour_start = int(now - (now % 3600))
    hours = [hour_start - day * 86400 for day in range(1, history_days + 1)]
    # Whole past hours: the hourly rollup has them, one read instead of one scan each.
    # TOTAL: SUM of two 64-bit counts a hand edit left stopped every evaluation.
    usual = [
        float(cost) / 60.0
        for calls, cost in store.query(
            f"SELECT TOTAL({_SANE_CALLS}), TOTAL({_SANE_COST}) FROM calls_hourly "
            f"WHERE hour IN ({', '.join('?' for _ in hours)}) GROUP BY hour",
            hours,
        )
        if calls
    ]
    top = store.query(
        # The unary + keeps SQLite on the started_at index: through the session index it
        # would read the whole table.
        f"SELECT session_id, SUM({_SANE_COST}) AS c FROM calls WHERE started_at >= ? "
        "AND +session_id IS NOT NULL GROUP BY +session_id ORDER BY c DESC LIMIT 1",
        (start,),
    )
    return Velocity(
        recent_usd_per_min=recent,
        usual_usd_per_min=sum(usual) / len(usual) if usual else None,
        top_session=top[0][0] if top and top[0][1] else None,
        top_session_usd=float(top[0][1] or 0.0) if top else 0.0,
    )


def _near(a: int | None, b: int | None) -> bool:
    """Two output sizes that look like the same answer again (the same tool call)."""
    if a is None or b is None:
        return a == b
    return abs(a - b) <= max(5, 0.1 * max(a, b))


def loops(store: CallStore, since: float, min_calls: int) -> list[Loop]:
    """Sessions whose latest logical calls are ``min_calls`` or more near-identical
    requests in a row: the same model and task, answers of about the same size."""
    # In the time index's own order, then parted by session here: sorting a busy half
    # hour by session in SQL cost twice the scan itself.
    sessions: dict[Any, list[tuple[Any, ...]]] = {}
    for row in store.query(
        "SELECT session_id, model, task, output_tokens, cost_usd FROM calls "
        f"WHERE started_at >= ? AND +session_id IS NOT NULL AND {FIRST_ATTEMPT} "
        "ORDER BY started_at, id",
        (since,),
    ):
        sessions.setdefault(row[0], []).append(row)
    found: list[Loop] = []
    for session in sorted(sessions, key=_sql_order):
        streak, cost, anchor, prev = 0, 0.0, None, None
        for row in sessions[session]:
            _, model, task, out, usd = row
            # Compared with the streak's first call, so slowly growing answers do not chain.
            same = prev is not None and prev[1] == model and prev[2] == task and _near(anchor, out)
            if same:
                streak, cost = streak + 1, cost + (usd or 0.0)
            else:
                streak, cost, anchor = 1, usd or 0.0, out
            prev = row
        if streak >= min_calls:
            found.append(Loop(session, prev[1] if prev else "", streak, cost))
    return found


def _sql_order(value: Any) -> tuple[int, Any]:
    """A sort key putting values in SQLite's order (numbers, then text, then blobs), so
    sessions another writer named with numbers sort as ``ORDER BY`` would put them."""
    if isinstance(value, (int, float)):
        return 0, value
    return (1, value) if isinstance(value, str) else (2, bytes(value))


def read_signals(
    store: CallStore,
    now: float,
    *,
    storm_minutes: float,
    velocity_minutes: float,
    history_days: int,
    loop_minutes: float,
    loop_calls: int,
) -> CallSignals:
    """Read every signal the alert rules use."""
    attempts, limited, spent = _recent(
        store, now - storm_minutes * 60, now - velocity_minutes * 60, now + 1
    )
    return CallSignals(
        now=now,
        attempts=attempts,
        rate_limited=limited,
        refusal=last_refusal(store, now - 3600),
        velocity=velocity(store, now, velocity_minutes, history_days, spent),
        loops=loops(store, now - loop_minutes * 60, loop_calls),
        last_write=store.last_write(),
    )
