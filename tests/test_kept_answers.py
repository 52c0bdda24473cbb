"""Answers kept between polls (chart series, the window's 429s and 402s, histograms)
equal a plain computation over the rows: right after new rows, rows that arrive late
into kept hours, another writer's rows, and a replaced file."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hermes_dash.calllog.records import Window
from hermes_dash.calllog.store import CallStore

from .conftest import call

T0 = 1_790_000_000.0

attempt = st.tuples(
    st.floats(0, 3 * 86400, allow_nan=False),
    st.sampled_from(
        [
            (200, None, None),
            (429, None, None),
            (429, "DeepInfra", None),
            (402, None, "openrouter_credits"),
            (402, None, None),
        ]
    ),
    st.floats(0, 2, allow_nan=False),
)


def _rows(
    found: list[tuple[float, tuple[int, str | None, str | None], float]],
) -> list[dict[str, Any]]:
    return [
        call(
            T0 + offset,
            http_status=status,
            status="ok" if status == 200 else "error",
            error_provider=provider,
            limit_source=source,
            cost_usd=cost,
        )
        for offset, (status, provider, source), cost in found
    ]


def _plain_series(s: CallStore, w: Window, points: int) -> list[tuple[float, int, int]]:
    """The chart's buckets from the raw rows: each call in its hour's bucket."""
    span = w.end - w.start
    step = max(3600, round(max(60.0, span / points) / 3600) * 3600)
    n = max(1, int(-(-span // step)))
    out = [[0.0, 0, 0] for _ in range(n)]
    first, last = int(w.start) // 3600 * 3600, math.floor(w.end / 3600) * 3600
    for t, cost, status in s.conn.execute("SELECT started_at, cost_usd, http_status FROM calls"):
        hour = int(t) // 3600 * 3600
        if first <= hour <= last:
            i = min(n - 1, max(0, int((hour - w.start) // step)))
            out[i][0] += cost or 0.0
            out[i][1] += status == 429
            out[i][2] += 1
    return [(c, rl, k) for c, rl, k in out]


def _plain_limits(s: CallStore, w: Window) -> tuple[dict[str, int], int, dict[str, int]]:
    upstream: dict[str, int] = {}
    own = 0
    payment: dict[str, int] = {}
    for status, provider, source in s.conn.execute(
        "SELECT http_status, error_provider, limit_source FROM calls "
        "WHERE started_at >= ? AND started_at < ? AND http_status IN (402, 429)",
        (w.start, w.end),
    ):
        if status == 429 and provider:
            upstream[provider] = upstream.get(provider, 0) + 1
        elif status == 429:
            own += 1
        else:
            payment[source or ""] = payment.get(source or "", 0) + 1
    return upstream, own, payment


def _check(s: CallStore, w: Window) -> None:
    shown = [(p.cost_usd, p.rate_limited, p.calls) for p in s.series(w, points=30)]
    plain = _plain_series(s, w, 30)
    assert [(rl, k) for _, rl, k in shown] == [(rl, k) for _, rl, k in plain]
    assert [c for c, _, _ in shown] == pytest.approx([c for c, _, _ in plain], abs=1e-9)
    events = s.limit_events(w)
    assert (events.upstream_429, events.own_429, events.payment_402) == _plain_limits(s, w)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    first=st.lists(attempt, min_size=1, max_size=50),
    later=st.lists(attempt, max_size=30),
    start=st.floats(0, 86400, allow_nan=False),
    end=st.floats(2 * 86400, 4 * 86400, allow_nan=False),
)
def test_kept_chart_and_limit_answers_equal_the_rows_as_calls_arrive(
    tmp_path_factory: pytest.TempPathFactory,
    first: list[Any],
    later: list[Any],
    start: float,
    end: float,
) -> None:
    path = tmp_path_factory.mktemp("kept") / "calls.db"
    s = CallStore(path)
    s.insert(_rows(first))
    # A window ending among the calls or after them (the kept answers then run to the
    # end of the day).
    w = Window(T0 + start, T0 + end)
    _check(s, w)  # read and kept
    _check(s, w)  # kept
    other = CallStore(path)  # another writer; its rows land anywhere, in kept hours too
    other.insert(_rows(later))
    other.close()
    _check(s, w)
    s.close()


def test_a_replaced_file_shows_its_own_rows(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    s = CallStore(path)
    s.insert(_rows([(3600.0 * h, (429, None, None), 0.5) for h in range(30)]))
    w = Window(T0, T0 + 2 * 86400)
    _check(s, w)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink()
    fresh = CallStore(path)
    fresh.insert(_rows([(7200.0, (402, None, "openrouter_credits"), 0.25)]))
    fresh.close()
    assert s.reopen_if_replaced()
    _check(s, w)
    assert s.limit_events(w).payment_402 == {"openrouter_credits": 1}
    assert sum(p.calls for p in s.series(w)) == 1
    s.close()
