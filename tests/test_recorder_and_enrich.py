"""The recorder's hooks, cost enrichment, and Hermes' state.db of two schema versions."""

from __future__ import annotations

import multiprocessing
import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from hermes_dash.calllog import recorder
from hermes_dash.calllog.records import Window
from hermes_dash.calllog.store import CallStore
from hermes_dash.hermes.state_db import StateDbError, read_model_costs
from hermes_dash.openrouter.client import OpenRouterClient
from hermes_dash.services.enrich import GENERATION_ATTEMPTS, Enricher

from .conftest import FAKE_KEY, call

IDENTITY = dict(
    task_id="t1",
    turn_id="u1",
    api_request_id="r1",
    session_id="s1",
    platform="cli",
    model="anthropic/claude-sonnet-4.5",
    provider="openrouter",
    base_url="https://openrouter.ai/api/v1",
    api_mode="chat_completions",
    api_call_count=1,
)


@pytest.fixture
def log(tmp_path: Path):  # type: ignore[no-untyped-def]
    path = tmp_path / "calls.db"
    recorder.configure(str(path))
    yield path
    recorder.configure(None)


def test_success_and_429_hooks_write_rows_without_text(log: Path) -> None:
    t = time.time()
    recorder.on_post_api_request(
        **IDENTITY,
        api_duration=1.25,
        started_at=t,
        ended_at=t + 1.25,
        finish_reason="stop",
        message_count=3,
        response_model="anthropic/claude-sonnet-4.5",
        response={
            "model": "x",
            "id": "gen-abc",
            "upstream_provider": "Anthropic",
            "assistant_message": {"content": "SECRET ANSWER"},
        },
        usage={
            "input_tokens": 1000,
            "output_tokens": 50,
            "cache_read_tokens": 200,
            "cache_write_tokens": 0,
            "reasoning_tokens": 5,
            "cost": 0.0123,
        },
        assistant_message=object(),
        assistant_content_chars=13,
        assistant_tool_call_count=0,
    )
    recorder.on_api_request_error(
        **IDENTITY,
        api_duration=0.2,
        started_at=t + 2,
        ended_at=t + 2.2,
        status_code=429,
        retry_count=1,
        max_retries=3,
        retryable=True,
        reason="rate_limit",
        error={"type": "RateLimitError", "message": "PROMPT TEXT MAYBE"},
        request={"messages": []},
    )
    assert recorder.flush()
    rows = (
        sqlite3.connect(log)
        .execute(
            "SELECT status, http_status, upstream, generation_id, input_tokens, cost_usd, cost_source, "
            "error_reason, latency_bucket FROM calls ORDER BY id"
        )
        .fetchall()
    )
    assert rows[0] == (
        "ok",
        200,
        "Anthropic",
        "gen-abc",
        1200,  # the prompt's full token count: Hermes' input_tokens plus cache reads
        0.0123,
        "openrouter",
        None,
        rows[0][-1],
    )
    assert rows[0][-1] is not None
    assert rows[1][:2] == ("error", 429) and rows[1][7] == "rate_limit" and rows[1][-1] is None
    dump = b"".join(log.read_bytes() for _ in [0]) + Path(str(log) + "-wal").read_bytes()
    assert b"SECRET ANSWER" not in dump and b"PROMPT TEXT" not in dump


def test_hooks_never_raise_and_count_drops(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    recorder.configure(str(blocker / "calls.db"))  # cannot be created
    try:
        before = recorder.dropped_total
        recorder.on_post_api_request(**IDENTITY, api_duration="junk", usage=["bad"], response=5)
        recorder.on_api_request_error()  # no arguments at all
        assert recorder.flush()
        assert recorder.dropped_total == before + 2
    finally:
        recorder.configure(None)
    # once writing works again, the drops are reported in the log
    path = tmp_path / "ok.db"
    recorder.configure(str(path))
    try:
        recorder.on_post_api_request(**IDENTITY, api_duration=1.0)
        assert recorder.flush()
        assert CallStore(path).dropped_rows() >= 2
    finally:
        recorder.configure(None)


def _hammer(path: str, n: int) -> None:
    recorder.configure(path)
    t = time.time()
    for i in range(n):
        recorder.on_post_api_request(
            **{**IDENTITY, "api_request_id": f"{i}"},
            api_duration=0.5,
            started_at=t + i,
            ended_at=t + i + 0.5,
            usage={"input_tokens": 1, "output_tokens": 1},
        )
    assert recorder.flush(120)
    assert recorder.dropped_total == 0


def test_eight_recorders_at_once_lose_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "calls.db")
    CallStore(path).close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_hammer, args=(path, 5000)) for _ in range(8)]
    for p in procs:
        p.start()
    reader = CallStore(path)
    seen = 0
    while any(p.is_alive() for p in procs):
        seen = max(seen, reader.max_id())  # the dashboard reads while they write
        time.sleep(0.05)
    for p in procs:
        p.join()
        assert p.exitcode == 0
    assert reader.conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0] == 40_000
    assert reader.totals(Window(0, time.time() + 10_000)).calls == 40_000
    assert reader.dropped_rows() == 0


def _enricher(store: CallStore, handler) -> Enricher:  # type: ignore[no-untyped-def]
    api = OpenRouterClient(
        FAKE_KEY, base_url="https://or.test/api/v1", transport=httpx.MockTransport(handler)
    )
    return Enricher(store, api)


MODELS = {
    "data": [
        {"id": "a/m", "name": "M", "pricing": {"prompt": "0.000001", "completion": "0.000002"}}
    ]
}


async def test_generation_404_retried_then_priced_once(store: CallStore) -> None:
    t = time.time()
    store.insert(
        [
            call(
                t,
                model="a/m",
                generation_id="gen-1",
                cost_usd=None,
                cost_source=None,
                input_tokens=1000,
                output_tokens=100,
            )
        ]
    )
    visible = {"yes": False}
    lookups = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/generation"):
            lookups.append(request)
            if not visible["yes"]:
                return httpx.Response(404, json={"error": {"code": 404, "message": "not found"}})
            return httpx.Response(
                200,
                json={"data": {"id": "gen-1", "provider_name": "Together", "total_cost": 0.0042}},
            )
        return httpx.Response(200, json=MODELS)

    e = _enricher(store, handler)
    assert await e.run_once() == 0  # 404: normal right after a call
    assert store.totals(Window(t - 1, t + 1)).cost_usd == 0
    visible["yes"] = True
    assert await e.run_once() == 1
    assert await e.run_once() == 0  # never priced twice
    w = Window(t - 1, t + 1)
    assert store.totals(w).cost_usd == pytest.approx(0.0042)
    assert [g.key for g in store.by_provider(w)] == [("openrouter", "", "Together")]
    assert len(lookups) == 2


async def test_generation_gives_up_and_estimates(store: CallStore) -> None:
    t = time.time()
    store.insert(
        [
            call(
                t,
                model="a/m",
                generation_id="gen-2",
                cost_usd=None,
                cost_source=None,
                input_tokens=1000,
                output_tokens=100,
                cache_read_tokens=0,
            )
        ]
    )

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/generation"):
            return httpx.Response(404, json={})
        return httpx.Response(200, json=MODELS)

    e = _enricher(store, handler)
    for _ in range(GENERATION_ATTEMPTS):
        assert await e.run_once() == 0
    assert await e.run_once() == 1
    t_ = store.totals(Window(t - 1, t + 1))
    assert t_.cost_usd == pytest.approx(0.0012) and t_.cost_estimated_usd == pytest.approx(0.0012)


async def test_local_and_failed_calls_cost_nothing(store: CallStore) -> None:
    t = time.time()
    store.insert(
        [
            call(t, provider="custom", base_url_host="127.0.0.1", cost_usd=None, cost_source=None),
            call(t, status="error", http_status=500, cost_usd=None, cost_source=None),
        ]
    )
    e = _enricher(store, lambda r: httpx.Response(500))
    assert await e.run_once() == 2
    assert store.conn.execute("SELECT DISTINCT cost_source FROM calls").fetchall() == [("none",)]


OLD_STATE = """
CREATE TABLE sessions (id TEXT PRIMARY KEY, source TEXT, model TEXT, started_at REAL NOT NULL,
  input_tokens INTEGER DEFAULT 0, output_tokens INTEGER DEFAULT 0, estimated_cost_usd REAL);
INSERT INTO sessions VALUES ('a', 'cli', 'a/m', 100, 10, 1, 0.5), ('b', 'cli', 'a/m', 200, 20, 2, 0.25),
  ('c', 'cli', 'b/n', 300, 5, 5, NULL);
"""
NEW_STATE = """
CREATE TABLE sessions (id TEXT PRIMARY KEY, model TEXT, started_at REAL NOT NULL, billing_provider TEXT,
  input_tokens INTEGER, output_tokens INTEGER, estimated_cost_usd REAL, actual_cost_usd REAL);
CREATE TABLE session_model_usage (session_id TEXT NOT NULL, model TEXT NOT NULL,
  billing_provider TEXT NOT NULL DEFAULT '', api_call_count INTEGER NOT NULL DEFAULT 0,
  input_tokens INTEGER NOT NULL DEFAULT 0, output_tokens INTEGER NOT NULL DEFAULT 0,
  estimated_cost_usd REAL NOT NULL DEFAULT 0, actual_cost_usd REAL NOT NULL DEFAULT 0);
INSERT INTO sessions VALUES ('a', 'a/m', 100, 'openrouter', 0, 0, 0, 0), ('b', 'a/m', 200, 'openrouter', 0, 0, 0, 0);
INSERT INTO session_model_usage VALUES ('a', 'a/m', 'openrouter', 3, 30, 3, 0.3, 0.31),
  ('a', 'b/n', 'openrouter', 1, 10, 1, 0.1, 0.0), ('b', 'a/m', 'openrouter', 2, 20, 2, 0.2, 0.22);
"""


@pytest.mark.parametrize("sql", [OLD_STATE, NEW_STATE], ids=["old", "new"])
def test_state_db_of_two_schema_versions(tmp_path: Path, sql: str) -> None:
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path)
    conn.executescript(sql)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.commit()
    before = path.read_bytes()
    costs = {c.model: c for c in read_model_costs(path)}
    assert set(costs) == {"a/m", "b/n"}
    am = costs["a/m"]
    if sql is OLD_STATE:
        assert (am.sessions, am.input_tokens, am.estimated_usd, am.actual_usd) == (
            2,
            30,
            0.75,
            None,
        )
        assert am.api_calls is None
    else:
        assert (am.sessions, am.api_calls, am.input_tokens) == (2, 5, 50)
        assert am.estimated_usd == pytest.approx(0.5) and am.actual_usd == pytest.approx(0.53)
    since, expected = (250, ["b/n"]) if sql is OLD_STATE else (150, ["a/m"])
    assert [c.model for c in read_model_costs(path, since=since)] == expected
    assert path.read_bytes() == before  # read-only
    conn.close()


def test_state_db_errors(tmp_path: Path) -> None:
    with pytest.raises(StateDbError, match=r"no Hermes state\.db"):
        read_model_costs(tmp_path / "missing.db")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not sqlite" * 100)
    with pytest.raises(StateDbError):
        read_model_costs(junk)
