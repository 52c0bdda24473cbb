"""The call-log store: migrations, window queries against known data, concurrency."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hermes_dash.calllog.kept import KEEP_S
from hermes_dash.calllog.recorder import rollups, schema
from hermes_dash.calllog.records import Window, percentile
from hermes_dash.calllog.store import CallLogError, CallStore

from .conftest import call

T0 = 1_700_000_000.0  # a fixed instant, 22:13:20 UTC


def test_new_file_is_created_0600_in_wal_mode_at_current_version(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "calls.db"
    s = CallStore(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert s.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert schema.schema_version(s.conn) == schema.SCHEMA_VERSION


def test_migration_is_idempotent_and_refuses_a_newer_file(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    CallStore(path).insert([call(T0)])
    again = CallStore(path)
    rows = again.conn.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
    assert [v for (v,) in rows] == list(range(1, schema.SCHEMA_VERSION + 1))
    assert again.totals(Window(T0 - 1, T0 + 1)).calls == 1
    again.conn.execute("INSERT INTO schema_version VALUES (99)")
    with pytest.raises(CallLogError, match="newer"):
        CallStore(path)


def test_corrupt_file_gives_a_clear_error_and_is_not_touched(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    junk = os.urandom(8192)
    path.write_bytes(junk)
    with pytest.raises(CallLogError, match="not a valid SQLite database"):
        CallStore(path)
    assert path.read_bytes() == junk


def test_totals_and_groups_on_known_rows(store: CallStore) -> None:
    store.insert(
        [
            call(T0, upstream="DeepInfra", latency_s=1.0, cost_usd=0.5),
            call(T0 + 10, upstream="DeepInfra", latency_s=3.0, cost_usd=0.25),
            call(
                T0 + 20,
                status="error",
                http_status=429,
                error_reason="rate_limit",
                cost_usd=0.0,
                cost_source="none",
                latency_s=0.1,
            ),
            call(
                T0 + 30,
                provider="custom",
                model="qwen3:8b",
                latency_s=5.0,
                cost_usd=0.0,
                cost_source="none",
                input_tokens=7,
                output_tokens=3,
            ),
            call(T0 + 40, cost_usd=0.2, cost_source="estimate", upstream="Fireworks"),
            call(T0 - 10_000),  # outside the window
        ]
    )
    w = Window(T0 - 5, T0 + 100)
    t = store.totals(w)
    assert (t.calls, t.ok, t.errors, t.rate_limited) == (5, 4, 1, 1)
    assert t.cost_usd == pytest.approx(0.95)
    assert t.cost_estimated_usd == pytest.approx(0.2)
    assert t.input_tokens == 407 and t.output_tokens == 43
    groups = {g.key: g for g in store.by_provider(w)}
    assert set(groups) == {
        ("openrouter", "", "DeepInfra"),
        ("openrouter", "", ""),
        ("custom", "", ""),
        ("openrouter", "", "Fireworks"),
    }
    deepinfra = groups[("openrouter", "", "DeepInfra")]
    assert deepinfra.calls == 2
    assert deepinfra.totals.cost_usd == pytest.approx(0.75)
    assert 0.95 <= deepinfra.latency_p50_s <= 1.1  # between the two, near the lower
    assert deepinfra.latency_p95_s == pytest.approx(3.0, rel=0.1)
    assert groups[("openrouter", "", "")].totals.rate_limited == 1
    assert groups[("openrouter", "", "")].latency_p50_s is None  # a 429 has no latency sample
    models = {g.key[0]: g.calls for g in store.by_model(w)}
    assert models == {"openai/gpt-4o-mini": 4, "qwen3:8b": 1}


def test_percentile_interpolates_inside_buckets() -> None:
    hist: dict[int, int] = {}
    samples = [0.1 * i for i in range(1, 1001)]  # 0.1 s .. 100 s
    for s in samples:
        b = schema.latency_bucket(s)
        assert b is not None
        hist[b] = hist.get(b, 0) + 1
    assert percentile(hist, 0.5) == pytest.approx(50.0, rel=0.05)
    assert percentile(hist, 0.95) == pytest.approx(95.0, rel=0.05)
    assert percentile({}, 0.5) is None


@settings(max_examples=40, deadline=None)
@given(
    offsets=st.lists(st.floats(0, 9 * 86400, allow_nan=False), min_size=1, max_size=80),
    start=st.floats(0, 4 * 86400, allow_nan=False),
    length=st.floats(1, 6 * 86400, allow_nan=False),
)
def test_window_sums_equal_a_plain_scan(
    tmp_path_factory: pytest.TempPathFactory, offsets: list[float], start: float, length: float
) -> None:
    s = CallStore(tmp_path_factory.mktemp("w") / "c.db")
    s.insert(
        [
            call(
                T0 + o,
                cost_usd=round(o % 7, 3),
                upstream="U" if o % 2 < 1 else None,
                latency_s=0.05 + (o % 13),
            )
            for o in offsets
        ]
    )
    w = Window(T0 + start, T0 + start + length)
    plain = s.conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(cost_usd), 0) FROM calls WHERE started_at >= ? "
        "AND started_at < ?",
        (w.start, w.end),
    ).fetchone()
    t = s.totals(w)
    assert t.calls == plain[0]
    assert t.cost_usd == pytest.approx(plain[1])
    groups = s.by_provider(w)
    assert sum(g.calls for g in groups) == plain[0]
    # the multi-level latency histogram equals one built from the raw rows
    for g in groups:
        hist: dict[int, int] = {}
        for (b,) in s.conn.execute(
            "SELECT latency_bucket FROM calls WHERE started_at >= ? AND started_at < ? "
            "AND provider = ? AND COALESCE(endpoint, base_url_host, '') = ? "
            "AND COALESCE(upstream, '') = ? AND status = 'ok'",
            (w.start, w.end, *g.key),
        ):
            hist[b] = hist.get(b, 0) + 1
        assert g.latency_p50_s == percentile(hist, 0.5)
        assert g.latency_p95_s == percentile(hist, 0.95)
    s.close()


def test_rollups_follow_updates_and_deletes(store: CallStore) -> None:
    store.insert([call(T0, cost_usd=None, cost_source=None)])
    (cid,) = store.conn.execute("SELECT id FROM calls").fetchone()
    store.set_cost(cid, 0.42, "openrouter", "Together")
    w = Window(T0 - 7200, T0 + 7200)
    assert [g.key for g in store.by_provider(w)] == [("openrouter", "", "Together")]
    assert store.totals(w).cost_usd == pytest.approx(0.42)
    store.conn.execute("DELETE FROM calls")
    assert store.totals(w).calls == 0


def test_bulk_load_builds_the_same_rollups_as_the_triggers(tmp_path: Path) -> None:
    rows = [
        call(
            T0 + i * 997.0,
            latency_s=0.1 + i % 13,
            upstream=f"U{i % 3}",
            http_status=429 if i % 11 == 0 else 200,
            status="error" if i % 11 == 0 else "ok",
        )
        for i in range(300)
    ]
    a, b = CallStore(tmp_path / "a.db"), CallStore(tmp_path / "b.db")
    a.insert(rows)
    b.bulk_load(iter(rows))
    for table in ("calls_hourly", "calls_daily", "latency_hourly", "latency_daily"):
        col = "calls" if table.startswith("calls") else "n"
        q = f"SELECT * FROM {table} WHERE {col} != 0 ORDER BY 1, 2, 3, 4"
        assert a.conn.execute(q).fetchall() == b.conn.execute(q).fetchall()
    # and the triggers are back after a bulk load
    b.insert([call(T0)])
    assert b.totals(Window(T0 - 1, T0 + 1)).calls == 1 + sum(
        1 for r in rows if T0 - 1 <= r["started_at"] < T0 + 1
    )


def test_rows_after_series_and_filters(store: CallStore) -> None:
    store.insert(
        [
            call(
                T0 + i * 60,
                model="m:free" if i % 2 else "m",
                http_status=429 if i == 3 else 200,
                status="error" if i == 3 else "ok",
                session_id=f"s{i % 2}",
            )
            for i in range(10)
        ]
    )
    assert [r.id for r in store.rows_after(7)] == [8, 9, 10]
    assert store.max_id() == 10
    w = Window(T0, T0 + 600)
    series = store.series(w, points=10)
    assert sum(p.calls for p in series) == 10
    assert sum(p.rate_limited for p in series) == 1
    assert store.requests_to(w, ":free") == 4  # the 429 does not count
    assert store.requests_to(Window(T0 + 300, T0 + 600), ":free") == 3
    from hermes_dash.calllog.store import CallFilter

    assert store.count_calls(CallFilter(status="429")) == 1
    assert store.count_calls(CallFilter(session="s1")) == 5
    assert len(list(store.iter_calls(CallFilter(), chunk=3))) == 10
    assert store.last_rate_limit(w).id == 4


def _writer(path: str, n: int, tag: int) -> None:
    # SQLite's lock is not fair: a writer that loses it can wait until the others have
    # written all their rows, which on a loaded machine takes long. What is tested is
    # that no row is lost, not how long a writer waits, so the patience is generous.
    conn = schema.connect(path, timeout=120.0)
    schema.migrate(conn)
    for i in range(n):
        schema.insert_calls(conn, [call(T0 + i, request_id=f"{tag}-{i}")])
    conn.close()


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "calls.db")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, 300, k)) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)
        assert p.exitcode == 0
    s = CallStore(path)
    assert s.conn.execute("SELECT COUNT(DISTINCT request_id) FROM calls").fetchone()[0] == 1200
    assert s.totals(Window(T0 - 1, T0 + 400)).calls == 1200


def test_readonly_open_of_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CallLogError, match="does not exist"):
        CallStore(tmp_path / "nope.db", readonly=True)


def test_locked_database_reports_locked(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    CallStore(path)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        s = CallStore(path, timeout=0.2)
        with pytest.raises(CallLogError, match="locked"):
            s.insert([call(T0)])
    finally:
        holder.execute("ROLLBACK")


def test_account_spend_series_buckets_usage_growth() -> None:
    from hermes_dash.calllog.records import AccountSnapshot, SeriesPoint
    from hermes_dash.services.dashboard import account_spend_series

    w = Window(T0, T0 + 4 * 3600)
    series = [SeriesPoint(T0 + i * 3600, 0.0, 0, 0) for i in range(4)]
    snaps = [
        AccountSnapshot(T0 + 600, usage=10.0),
        AccountSnapshot(T0 + 4000, usage=12.5),
        AccountSnapshot(T0 + 4100, usage=None),
        AccountSnapshot(T0 + 11000, usage=13.0),
        AccountSnapshot(T0 + 11500, usage=12.0),
    ]  # a reset never counts as negative spend
    assert account_spend_series(snaps, series, w) == [0.0, 2.5, 0.0, 0.5]
    assert account_spend_series(snaps[:1], series, w) is None


def test_prefetched_first_read_equals_a_direct_read(store: CallStore) -> None:
    import sys

    from hermes_dash.services.dashboard import LIVE_ROWS_AT_START
    from hermes_dash.services.startup import prefetch_first, read_first

    store.insert([call(T0 - i * 30.0, input_tokens=i) for i in range(60)])
    interval = sys.getswitchinterval()
    early = prefetch_first(store, "24h", T0).result(timeout=10)
    assert early == read_first(store, "24h", T0)
    # The newest calls, oldest first, a screenful of them; aggregates over the window.
    assert len(early.rows) == LIVE_ROWS_AT_START
    assert early.rows[-1].id == store.max_id()
    assert early.data.totals.calls == 60
    assert sys.getswitchinterval() == interval  # put back once the read is done


def test_prefetch_failure_is_handed_to_the_waiter(tmp_path: Path) -> None:
    from hermes_dash.services.startup import prefetch_first

    store = CallStore(tmp_path / "calls.db")
    store.close()  # every query now fails
    with pytest.raises(CallLogError):
        prefetch_first(store, "24h", T0).result(timeout=10)


def test_patience_bounds_the_wait_for_a_lock_and_is_undone(tmp_path: Path) -> None:
    import time

    path = tmp_path / "calls.db"
    s = CallStore(path, timeout=5.0)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        with pytest.raises(CallLogError, match="locked"), s.patience(0.1):
            s.insert([call(T0)])
        assert time.monotonic() - started < 2.0
    finally:
        holder.execute("ROLLBACK")
    assert s.conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000


def _plain_latency(s: CallStore, w: Window, key: tuple[str, ...]) -> dict[int, int]:
    hist: dict[int, int] = {}
    for (b,) in s.conn.execute(
        "SELECT latency_bucket FROM calls WHERE started_at >= ? AND started_at < ? "
        "AND provider = ? AND COALESCE(endpoint, base_url_host, '') = ? "
        "AND COALESCE(upstream, '') = ? AND status = 'ok'",
        (w.start, w.end, *key),
    ):
        hist[b] = hist.get(b, 0) + 1
    return hist


def _assert_latency_matches_a_scan(s: CallStore, w: Window) -> None:
    groups = s.by_provider(w)
    scanned = s.conn.execute(
        "SELECT COUNT(*) FROM calls WHERE started_at >= ? AND started_at < ?", (w.start, w.end)
    ).fetchone()[0]
    assert sum(g.calls for g in groups) == scanned
    for g in groups:
        hist = _plain_latency(s, w, g.key)
        assert (g.latency_p50_s, g.latency_p95_s) == (percentile(hist, 0.5), percentile(hist, 0.95))


@settings(max_examples=30, deadline=None)
@given(
    first=st.lists(st.floats(0, 9 * 86400, allow_nan=False), min_size=1, max_size=60),
    later=st.lists(st.floats(0, 10 * 86400, allow_nan=False), max_size=30),
    start=st.floats(0, 2 * 86400, allow_nan=False),
    end=st.floats(9.5 * 86400, 12 * 86400, allow_nan=False),
    priced=st.integers(0, 5),
)
def test_kept_latency_answers_stay_exact_as_calls_arrive(
    tmp_path_factory: pytest.TempPathFactory,
    first: list[float],
    later: list[float],
    start: float,
    end: float,
    priced: int,
) -> None:
    path = tmp_path_factory.mktemp("k") / "c.db"
    s = CallStore(path)

    def rows(offsets: list[float], salt: float) -> list[dict[str, object]]:
        return [call(T0 + o, latency_s=0.05 + (o * salt) % 13) for o in offsets]

    s.insert(rows(first, 1.0))
    # A window that ends in a quiet stretch (after every call) or among calls.
    w = Window(T0 + start, T0 + end)
    _assert_latency_matches_a_scan(s, w)  # fills the kept answers
    _assert_latency_matches_a_scan(s, w)  # and reuses them
    # Calls arriving later from another writer, some of them late into kept days.
    other = CallStore(path)
    other.insert(rows(later, 3.7))
    other.close()
    _assert_latency_matches_a_scan(s, w)
    # Pricing names an upstream: the call moves to another group.
    for (cid,) in s.conn.execute("SELECT id FROM calls ORDER BY id LIMIT ?", (priced,)):
        s.set_cost(cid, 0.01, "openrouter", "Fireworks")
    _assert_latency_matches_a_scan(s, w)
    s.close()


def test_kept_latency_answers_take_new_calls_without_reading_their_rollups_again(
    tmp_path: Path,
) -> None:
    path = tmp_path / "c.db"
    store = CallStore(path)
    store.insert([call(T0 + h * 3600.0, latency_s=1.0 + h % 5) for h in range(24 * 8)])
    w = Window(T0, T0 + 8 * 86400)
    asked: list[str] = []
    query = store.db.query

    def counting(sql: str, params: object = ()) -> list[tuple[object, ...]]:
        if "FROM latency_" in sql:
            asked.append(sql)
        return query(sql, params)  # type: ignore[arg-type]

    store.db.query = counting  # type: ignore[method-assign]
    clock = [0.0]
    store.windows.kept.clock = lambda: clock[0]
    _assert_latency_matches_a_scan(store, w)
    first = len(asked)
    assert first >= 1
    store.insert([call(T0 + 9 * 86400.0)])  # after the window
    store.insert([call(T0 + 2 * 86400.0 + 60, latency_s=29.0)] * 40)  # late, into a kept day
    _assert_latency_matches_a_scan(store, w)
    assert len(asked) == first  # the new calls were added to the kept answers
    clock[0] = KEEP_S  # old enough: read afresh (another program may have changed rows)
    _assert_latency_matches_a_scan(store, w)
    assert len(asked) == 2 * first
    # The file replaced by a new one: nothing kept from the old file is shown.
    store.db.query = query  # type: ignore[method-assign]
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    fresh = CallStore(path)
    fresh.insert([call(T0 + 3 * 86400.0 + 5, latency_s=7.0)])
    fresh.close()
    assert store.reopen_if_replaced()
    _assert_latency_matches_a_scan(store, w)
    assert [g.calls for g in store.by_provider(w)] == [1]
    store.close()


def test_a_v1_log_is_carried_forward(tmp_path: Path) -> None:
    """A log written by the hook-only recorder (schema v1) keeps every row; its rollups
    are rebuilt with the endpoint key, and its input tokens gain the cache reads that
    Hermes' hook left out."""
    path = tmp_path / "calls.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in schema.MIGRATIONS[1]:
        conn.execute(statement)
    # v1 also had rollups without the endpoint column; the migration must replace them.
    conn.execute(
        "CREATE TABLE calls_hourly (hour INTEGER, provider TEXT, upstream TEXT, model TEXT, "
        "calls INTEGER, PRIMARY KEY (hour, provider, upstream, model))"
    )
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    conn.execute("INSERT INTO schema_version VALUES (1)")
    conn.execute(
        "INSERT INTO calls (started_at, provider, base_url_host, model, status, http_status, "
        "latency_s, latency_bucket, input_tokens, cache_read_tokens, output_tokens, cost_usd, "
        "cost_source) VALUES (?, 'openrouter', 'openrouter.ai', 'm/a', 'ok', 200, 0.5, ?, "
        "100, 40, 10, 0.01, 'openrouter')",
        (T0, schema.latency_bucket(0.5)),
    )
    conn.execute(
        "INSERT INTO calls (started_at, provider, base_url_host, model, status, http_status) "
        "VALUES (?, 'custom', '127.0.0.1', 'm/b', 'error', 429)",
        (T0 + 1,),
    )
    conn.close()

    store = CallStore(path)
    assert schema.schema_version(store.conn) == schema.SCHEMA_VERSION
    window = Window(T0 - 10, T0 + 10)
    totals = store.totals(window)
    assert (totals.calls, totals.ok, totals.rate_limited) == (2, 1, 1)
    assert totals.input_tokens == 140
    rows = store.conn.execute("SELECT source, endpoint FROM calls ORDER BY id").fetchall()
    assert rows == [("hook", "openrouter.ai"), ("hook", "127.0.0.1")]
    endpoints = store.conn.execute(
        "SELECT endpoint, SUM(calls), SUM(logical_calls) FROM calls_hourly GROUP BY endpoint "
        "ORDER BY endpoint"
    ).fetchall()
    assert endpoints == [("127.0.0.1", 1, 1), ("openrouter.ai", 1, 1)]
    # The rebuilt rollups stay in step with new rows through the triggers.
    store.insert([call(T0 + 2)])
    assert store.totals(window).calls == 3


def test_an_impossible_value_in_a_whole_past_hour_counts_as_zero(tmp_path: Path) -> None:
    """Another writer's inf, negative or text cost in a row of an hour the window reads
    from the rollups counts as 0 there, exactly as in a read of the raw rows: it does not
    turn the hour's sum into inf (which a reader would then drop whole)."""
    path = tmp_path / "calls.db"
    store = CallStore(path)
    hour = (int(T0) // 3600 - 5) * 3600  # a whole hour well inside the window below
    conn = sqlite3.connect(path)
    for i, cost in enumerate([0.25, float("inf"), -0.5, "free", 0.25]):
        conn.execute(
            "INSERT INTO calls (started_at, provider, model, status, http_status, cost_usd, "
            "cost_source, input_tokens) VALUES (?, 'openrouter', 'm/a', 'ok', 200, ?, "
            "'openrouter', ?)",
            (hour + 60 + i, cost, float("inf") if i == 1 else 10),
        )
    conn.commit()
    conn.close()
    window = Window(T0 - 86400, T0)
    totals = store.totals(window)
    assert totals.cost_usd == pytest.approx(0.5)
    assert totals.input_tokens == 40
    rollup = store.conn.execute(
        "SELECT SUM(cost_usd), SUM(input_tokens) FROM calls_hourly WHERE hour = ?", (hour,)
    ).fetchone()
    assert rollup == (pytest.approx(0.5), 40)


@settings(max_examples=200, deadline=None)
@given(
    start=st.floats(0, 3 * 86400, allow_nan=False),
    length=st.floats(1, 8 * 86400, allow_nan=False),
    later=st.one_of(st.none(), st.floats(0, 12 * 86400, allow_nan=False)),
    points=st.lists(st.floats(-86400, 13 * 86400, allow_nan=False), min_size=1, max_size=40),
    subtract=st.booleans(),
)
def test_a_windows_plan_counts_every_instant_inside_once_and_none_outside(
    tmp_path_factory: pytest.TempPathFactory,
    start: float,
    length: float,
    later: float | None,
    points: list[float],
    subtract: bool,
) -> None:
    """Whole periods and raw stretches, some of them subtracted (an edge read as its
    period less the rest): added up with their signs they cover the window exactly."""
    s = CallStore(tmp_path_factory.mktemp("p") / "c.db")
    if later is not None:  # a call that stops the window's end from moving up
        s.insert([call(T0 + later)])
    w = Window(T0 + start, T0 + start + length)
    parts, raw = s.windows._plan(w, rollups.CALLS_TABLES, subtract=subtract)
    for raw_lo, raw_hi, sign in raw:
        # Never more than half an hour of rows at an edge when periods may be subtracted
        # (whole counts), else less than an hour.
        assert raw_hi - raw_lo <= (1800 + 1e-6 if subtract else 3600)
        assert sign == 1 or subtract
    for offset in points:
        t = T0 + offset
        inside = sum(sign for _, _, p0, p1, sign in parts if p0 <= t < p1) + sum(
            sign for lo, hi, sign in raw if lo <= t < hi
        )
        if w.start <= t < w.end:
            assert inside == 1
        elif t < w.start:
            assert inside == 0
        else:
            # After the end only while no call has started there yet: reading on to the
            # end of the period is then the same answer.
            assert inside in (0, 1)
            assert not inside or later is None or not w.end <= T0 + later <= t
    s.close()
