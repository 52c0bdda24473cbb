"""The alert signals read in fewer passes over the recent rows: the same answers, to the
last bit, as the plain queries they replace, on random call logs with another writer's
odd values (blob sessions, text times, missing numbers)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hermes_dash.calllog import signals
from hermes_dash.calllog.signals import FIRST_ATTEMPT, Loop
from hermes_dash.calllog.store import CallStore

NOW = 1_795_618_800.0

#: One row as another writer may leave it: sessions that repeat, times that tie, sizes
#: near each other (loops) or not, costs missing.
row = st.tuples(
    st.one_of(st.sampled_from([0.0, 1.0, 1.5, 60.0]), st.floats(0, 3600, allow_nan=False)),
    st.sampled_from(["a", "b", "é", b"\x00blob", None, 7]),
    st.sampled_from(["m1", "m2"]),
    st.sampled_from(["main", None, "title"]),
    st.sampled_from([40, 42, 44, 46, 60, 500, None]),
    st.one_of(st.none(), st.floats(0, 2, allow_nan=False)),
    st.sampled_from([None, 1, 2]),
    st.sampled_from([200, 429, 402, None]),
)


def _fill(store: CallStore, rows: list[tuple[Any, ...]], text_time: bool) -> None:
    store.conn.executemany(
        "INSERT INTO calls (started_at, session_id, model, task, output_tokens, cost_usd, "
        "attempt, http_status, provider, status) VALUES (?,?,?,?,?,?,?,?,'openrouter','ok')",
        [(NOW - 3600 + t, *rest) for t, *rest in rows],
    )
    if text_time:  # a start time stored as text sorts after every number
        store.conn.execute(
            "INSERT INTO calls (started_at, session_id, model, output_tokens, cost_usd, "
            "provider, status) VALUES ('soon', 'a', 'm1', 42, 0.5, 'openrouter', 'ok')"
        )


def _plain_loops(store: CallStore, since: float, min_calls: int) -> list[Loop]:
    """The request-loop scan as written before: sorted by session in SQL."""
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
        same = (
            prev is not None
            and prev[0] == session
            and prev[1] == model
            and prev[2] == task
            and signals._near(anchor, out)
        )
        if same:
            streak, cost = streak + 1, cost + (usd or 0.0)
        else:
            streak, cost, anchor = 1, usd or 0.0, out
        last_of_session = i + 1 == len(rows) or rows[i + 1][0] != session
        if last_of_session and streak >= min_calls:
            found.append(Loop(session, model, streak, cost))
    return found


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(row, max_size=70),
    since=st.floats(0, 3600, allow_nan=False),
    min_calls=st.integers(1, 6),
    text_time=st.booleans(),
)
def test_request_loops_equal_a_scan_sorted_by_session(
    tmp_path_factory: pytest.TempPathFactory,
    rows: list[tuple[Any, ...]],
    since: float,
    min_calls: int,
    text_time: bool,
) -> None:
    store = CallStore(tmp_path_factory.mktemp("l") / "c.db")
    _fill(store, rows, text_time)
    start = NOW - 3600 + since
    assert signals.loops(store, start, min_calls) == _plain_loops(store, start, min_calls)
    store.close()


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(row, max_size=70),
    storm=st.floats(0, 3600, allow_nan=False),
    spend=st.floats(0, 3600, allow_nan=False),
    text_time=st.booleans(),
)
def test_storm_and_spend_in_one_pass_equal_their_own_queries(
    tmp_path_factory: pytest.TempPathFactory,
    rows: list[tuple[Any, ...]],
    storm: float,
    spend: float,
    text_time: bool,
) -> None:
    store = CallStore(tmp_path_factory.mktemp("r") / "c.db")
    _fill(store, rows, text_time)
    storm_since, spend_start, spend_end = NOW - 3600 + storm, NOW - 3600 + spend, NOW - 1000
    attempts, limited = store.query(
        "SELECT COUNT(*), COALESCE(SUM(http_status = 429), 0) FROM calls "
        "WHERE started_at >= ? AND started_at < ? AND http_status IS NOT NULL",
        (storm_since, spend_end),
    )[0]
    spent = store.query(
        "SELECT COALESCE(SUM(cost_usd), 0) FROM calls WHERE started_at >= ? AND started_at < ?",
        (spend_start, spend_end),
    )[0][0]
    # Equal, not close: the same rows added in the same order.
    assert signals._recent(store, storm_since, spend_start, spend_end) == (
        attempts,
        limited,
        float(spent),
    )
    store.close()
