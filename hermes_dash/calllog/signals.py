"""What the alert rules read from the call log: recent 429s and 402s, spend velocity
against the same hour's usual rate, and sessions repeating themselves.

Every query reads a few minutes of rows through the ``started_at`` (and
``session_id``) indexes, so a poll costs milliseconds on a log of millions of calls.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def _storm(store: CallStore, since: float) -> tuple[int, int]:
    row = store.query(
        "SELECT COUNT(*), COALESCE(SUM(http_status = 429), 0) FROM calls "
        "WHERE started_at >= ? AND http_status IS NOT NULL",
        (since,),
    )[0]
    return int(row[0]), int(row[1])


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


def _spend(store: CallStore, start: float, end: float) -> float:
    row = store.query(
        "SELECT COALESCE(SUM(cost_usd), 0) FROM calls WHERE started_at >= ? AND started_at < ?",
        (start, end),
    )
    return float(row[0][0])


def velocity(store: CallStore, now: float, minutes: float, history_days: int) -> Velocity:
    """Spend per minute over the last ``minutes``; the usual rate is the mean spend per
    minute in the same UTC hour on the previous ``history_days`` days that had any calls."""
    start = now - minutes * 60
    recent = _spend(store, start, now + 1) / minutes
    hour_start = int(now - (now % 3600))
    hours = [hour_start - day * 86400 for day in range(1, history_days + 1)]
    # Whole past hours: the hourly rollup has them, one read instead of one scan each.
    usual = [
        float(cost) / 60.0
        for calls, cost in store.query(
            f"SELECT SUM({_SANE_CALLS}), SUM({_SANE_COST}) FROM calls_hourly "
            f"WHERE hour IN ({', '.join('?' for _ in hours)}) GROUP BY hour",
            hours,
        )
        if calls
    ]
    top = store.query(
        # The unary + keeps SQLite on the started_at index: through the session index it
        # would read the whole table.
        "SELECT session_id, SUM(cost_usd) AS c FROM calls WHERE started_at >= ? "
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
    rows = store.query(
        "SELECT session_id, model, task, output_tokens, cost_usd FROM calls "
        f"WHERE started_at >= ? AND +session_id IS NOT NULL AND {FIRST_ATTEMPT} "
        "ORDER BY session_id, started_at, id",
        (since,),
    )
    found: list[Loop] = []
    streak, cost, anchor = 0, 0.0, None
    for i, (session, model, task, out, usd) in enumerate(rows):
        prev = rows[i - 1] if i else None
        # Compared with the streak's first call, so slowly growing answers do not chain.
        same = (
            prev is not None
            and prev[0] == session
            and prev[1] == model
            and prev[2] == task
            and _near(anchor, out)
        )
        if same:
            streak, cost = streak + 1, cost + (usd or 0.0)
        else:
            streak, cost, anchor = 1, usd or 0.0, out
        last_of_session = i + 1 == len(rows) or rows[i + 1][0] != session
        if last_of_session and streak >= min_calls:
            found.append(Loop(session, model, streak, cost))
    return found


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
    attempts, limited = _storm(store, now - storm_minutes * 60)
    return CallSignals(
        now=now,
        attempts=attempts,
        rate_limited=limited,
        refusal=last_refusal(store, now - 3600),
        velocity=velocity(store, now, velocity_minutes, history_days),
        loops=loops(store, now - loop_minutes * 60, loop_calls),
        last_write=store.last_write(),
    )
