"""Latency and time-to-first-token histograms read from whole periods (one period read
without GROUP BY, kept answers that build their index only when new calls arrive) against
histograms built from the raw rows: random calls, windows with edges on and off the hour
and the day, calls arriving late into kept periods, rows another program updates or
deletes, and another writer's impossible values in a rollup row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hermes_dash.calllog.kept import KEEP_S
from hermes_dash.calllog.recorder import rollups
from hermes_dash.calllog.records import Window, percentile
from hermes_dash.calllog.store import CallStore

from .conftest import call

DAY = 86400.0
T0 = 1_699_920_000.0  # 00:00 UTC: windows start on, or near, whole days and hours

#: An instant of the calls: on a whole hour or day (edges), or anywhere in four days.
instant = st.one_of(
    st.integers(0, 4 * 24).map(lambda h: h * 3600.0),
    st.integers(0, 4 * 24).map(lambda h: h * 3600.0 - 0.5),
    st.floats(0, 4 * DAY, allow_nan=False),
)
#: Latencies from a few values (calls share buckets, as they do in a real log) or any.
latency = st.one_of(
    st.sampled_from([0.05, 0.5, 1.0, 1.02, 2.0, 7.5]), st.floats(0.01, 30, allow_nan=False)
)


def _rows(offsets: list[tuple[float, float]], upstream: str | None) -> list[dict[str, Any]]:
    return [
        call(T0 + t, latency_s=lat, ttft_s=lat / 3, upstream=upstream, stream=1)
        for t, lat in offsets
    ]


def _plain(s: CallStore, w: Window, key: tuple[str, ...], column: str) -> dict[int, int]:
    hist: dict[int, int] = {}
    for (b,) in s.conn.execute(
        f"SELECT {column} FROM calls WHERE started_at >= ? AND started_at < ? "
        "AND provider = ? AND COALESCE(endpoint, base_url_host, '') = ? "
        f"AND COALESCE(upstream, '') = ? AND status = 'ok' AND {column} IS NOT NULL",
        (w.start, w.end, *key),
    ):
        hist[b] = hist.get(b, 0) + 1
    return hist


def _assert_exact(s: CallStore, w: Window) -> None:
    # The histograms themselves (a percentile alone would not see every count wrong: one
    # bucket counted twice over has the same median), then what the screens show.
    endpoint = ("provider", "endpoint", "upstream")
    for column, tables in (
        ("latency_bucket", rollups.LATENCY_TABLES),
        ("ttft_bucket", rollups.TTFT_TABLES),
    ):
        hists = s.windows._latency_hist(w, endpoint, tables, column)
        keys = {
            r
            for r in s.conn.execute(
                "SELECT DISTINCT provider, COALESCE(endpoint, base_url_host, ''), "
                "COALESCE(upstream, '') FROM calls"
            )
        }
        assert hists == {k: h for k in keys if (h := _plain(s, w, k, column))}
    groups = s.by_provider(w)
    seen = s.conn.execute(
        "SELECT COUNT(*) FROM calls WHERE started_at >= ? AND started_at < ?", (w.start, w.end)
    ).fetchone()[0]
    assert sum(g.totals.attempts for g in groups) == seen
    for g in groups:
        lat, ttft = _plain(s, w, g.key, "latency_bucket"), _plain(s, w, g.key, "ttft_bucket")
        assert (g.latency_p50_s, g.latency_p95_s) == (percentile(lat, 0.5), percentile(lat, 0.95))
        assert (g.ttft_p50_s, g.ttft_p95_s) == (percentile(ttft, 0.5), percentile(ttft, 0.95))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    first=st.lists(st.tuples(instant, latency), min_size=1, max_size=50),
    late=st.lists(st.tuples(instant, latency), max_size=20),
    start=instant,
    length=st.one_of(st.sampled_from([3600.0, DAY, 2 * DAY]), st.floats(1, 3 * DAY)),
    late_upstream=st.sampled_from([None, "Late"]),
    gone=st.lists(st.integers(1, 50), max_size=5),
    moved=st.lists(st.integers(1, 50), max_size=5),
)
def test_histograms_of_whole_periods_equal_the_rows(
    tmp_path_factory: pytest.TempPathFactory,
    first: list[tuple[float, float]],
    late: list[tuple[float, float]],
    start: float,
    length: float,
    late_upstream: str | None,
    gone: list[int],
    moved: list[int],
) -> None:
    path = tmp_path_factory.mktemp("h") / "c.db"
    s = CallStore(path)
    clock = [0.0]
    s.windows.kept.clock = lambda: clock[0]
    s.insert(_rows(first, None))
    w = Window(T0 + start, T0 + start + length)
    _assert_exact(s, w)  # a first read: every answer asked once
    _assert_exact(s, w)  # the same answers, kept
    # Another program: calls arriving late into kept periods (added to the kept answers),
    other = CallStore(path)
    other.insert(_rows(late, late_upstream))
    _assert_exact(s, w)
    # then rows re-labelled (another upstream: another group) and deleted, which show
    # once an answer is read afresh.
    other.conn.executemany("DELETE FROM calls WHERE id = ?", [(i,) for i in gone])
    other.conn.executemany(
        "UPDATE calls SET upstream = 'Moved' WHERE id = ?", [(i,) for i in moved]
    )
    other.close()
    clock[0] = KEEP_S
    _assert_exact(s, w)
    _assert_exact(s, w)
    s.close()
    # A one-shot reader of the same file (``summary``) gets the same answers.
    fresh = CallStore(path, readonly=True)
    _assert_exact(fresh, w)
    fresh.close()


def test_a_whole_period_read_takes_another_writers_counts_as_a_sum_would(
    tmp_path: Path,
) -> None:
    """One period is read without GROUP BY: a count stored as text, a blob, a fraction or
    below 0 by another writer counts as SUM would count it (text as its number, a blob
    as 0, nothing at or below 0), as in a read of several periods."""
    s = CallStore(tmp_path / "c.db")
    day = T0 + DAY
    s.insert([call(day + 3600 + i, latency_s=1.0, upstream="U") for i in range(5)])
    # A group whose only latency counts are the odd ones (its call has no sample).
    s.insert([call(day + 7200, status="error", http_status=500, upstream="V")])
    odd = [("V", 20, "7"), ("V", 21, b"\x01"), ("V", 22, 2.5), ("V", 23, -4), ("V", 24, "x")]
    s.conn.executemany(
        "INSERT INTO latency_daily (day, provider, endpoint, upstream, bucket, n) "
        "VALUES (?, 'openrouter', '', ?, ?, ?)",
        [(int(day), u, b, n) for u, b, n in odd],
    )
    one_day = {g.key: g for g in s.by_provider(Window(day, day + DAY))}
    # The same rows through GROUP BY: two days, the second one empty.
    s.windows.forget()
    two_days = {g.key: g for g in s.by_provider(Window(day, day + 2 * DAY - 7200))}
    assert one_day.keys() == two_days.keys()
    assert one_day[("openrouter", "", "V")].latency_p50_s is not None
    for key, g in one_day.items():
        assert (g.latency_p50_s, g.latency_p95_s) == (
            two_days[key].latency_p50_s,
            two_days[key].latency_p95_s,
        )
    s.close()
