"""Pilot tests of the cost figures on screen: the 402 banner, the bill beside the log, a
call's attempts in the calls browser, and Hermes' per-task counts in the cost check."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from textual.widgets import DataTable, Static

from hermes_dash.calllog.records import AccountSnapshot
from hermes_dash.calllog.store import CallStore
from hermes_dash.hermes.paths import HermesPaths, Secrets
from hermes_dash.hermes.state_db import read_task_usage
from hermes_dash.openrouter.client import OpenRouterClient
from hermes_dash.services.settings import DashSettings, UserSettings
from hermes_dash.tui.app import HermesDashApp, make_app
from hermes_dash.tui.screens.calls import CallsScreen
from hermes_dash.tui.screens.costcheck import CostCheckScreen
from hermes_dash.tui.widgets.panel_tables import PROVIDER_COLUMNS

from .conftest import FAKE_KEY, call
from .fakeserver import CREDITS_BODY, KEY_BODY, FakeOpenRouter, Reply, prefixed
from .tui_helpers import wait_for

DAILY_KEY = {"data": {**KEY_BODY["data"], "limit_reset": "daily"}}


def _app(tmp_path: Path, url: str, store: CallStore) -> HermesDashApp:
    settings = DashSettings(
        paths=HermesPaths(tmp_path),
        db_path=store.path,
        openrouter_url=url,
        secrets=Secrets(FAKE_KEY, None),
        user_settings_path=tmp_path / "s.json",
        calllog_poll_s=0.1,  # rows a test adds are read by the next tick: soon
    )
    api = OpenRouterClient(FAKE_KEY, base_url=url, timeout=2.0)
    return make_app(settings, api, store, prefs=UserSettings(runway_alert_hours=None))


def _banner(app: HermesDashApp) -> str:
    return str(app.screen.query_one("#banner", Static).render())


async def test_402_banner_says_which_limit_and_the_bill_sits_beside_the_log(
    tmp_path: Path,
) -> None:
    now = time.time()
    store = CallStore(tmp_path / "calls.db")
    store.insert(
        [
            call(now - 120, endpoint="openrouter.ai", cost_usd=0.25, cost_source="openrouter"),
            call(
                now - 60,
                endpoint="openrouter.ai",
                status="error",
                http_status=402,
                limit_source="openrouter_key_limit",
                cost_usd=0.0,
                cost_source="none",
            ),
        ]
    )
    # The key's usage an hour ago: $1.00 billed since, the log holds $0.25 of it.
    store.add_snapshot(AccountSnapshot(now - 3600, usage=KEY_BODY["data"]["usage"] - 1.0))
    routes = prefixed({"/key": Reply(200, DAILY_KEY), "/credits": Reply(200, CREDITS_BODY)})
    with FakeOpenRouter(routes) as srv:
        app = _app(tmp_path, srv.url, store)
        async with app.run_test(size=(160, 48)) as pilot:
            await wait_for(pilot, lambda: "resets" in _banner(app))
            assert "key limit reached, resets at 00:00 UTC" in _banner(app)
            await wait_for(
                pilot, lambda: app.data is not None and app.data.reconciliation is not None
            )
            spend = str(app.screen.query_one("#spend-stats", Static).render())
            assert "$1.00, log holds 25 %" in spend
            assert "$0.75 from other apps or machines" in spend
            # a success after the 402: the banner goes away
            store.insert(
                [
                    call(
                        time.time(),
                        endpoint="openrouter.ai",
                        cost_usd=0.01,
                        cost_source="openrouter",
                    )
                ]
            )
            await wait_for(pilot, lambda: "key limit" not in _banner(app))


async def test_a_bill_of_a_few_seconds_is_not_held_against_the_log(tmp_path: Path) -> None:
    """Right after start-up two polls are seconds apart and OpenRouter has not added the
    newest calls to the key's usage yet: a share such as 611 % would be noise."""
    now = time.time()
    store = CallStore(tmp_path / "calls.db")
    store.insert([call(now - 5, endpoint="openrouter.ai", cost_usd=0.40)])
    store.add_snapshot(AccountSnapshot(now - 20, usage=KEY_BODY["data"]["usage"] - 0.05))
    routes = prefixed({"/key": Reply(200, KEY_BODY), "/credits": Reply(200, CREDITS_BODY)})
    with FakeOpenRouter(routes) as srv:
        app = _app(tmp_path, srv.url, store)
        async with app.run_test(size=(160, 48)) as pilot:
            await wait_for(
                pilot,
                lambda: (
                    app.data is not None
                    and app.data.reconciliation is not None
                    and app.data.reconciliation.billed_usd is not None
                ),
                "the bill beside the log",
            )
            await wait_for(pilot, lambda: "Bill since" in _spend(app), "the bill line")
            spend = _spend(app)
            assert "$0.05 so far" in spend and "after 15 min" in spend
            assert "log holds" not in spend and "other apps" not in spend


def _spend(app: HermesDashApp) -> str:
    return str(app.screen.query_one("#spend-stats", Static).render())


async def test_calls_browser_shows_a_calls_attempts(tmp_path: Path) -> None:
    now = time.time()
    store = CallStore(tmp_path / "calls.db")
    store.insert(
        [
            call(
                now - 10,
                status="error",
                http_status=429,
                call_key="k",
                attempt=1,
                latency_s=0.02,
                cost_usd=0.0,
                cost_source="none",
            ),
            call(
                now - 8,
                status="error",
                http_status=429,
                call_key="k",
                attempt=2,
                wait_s=1.5,
                latency_s=0.02,
                cost_usd=0.0,
                cost_source="none",
            ),
            call(
                now - 5,
                call_key="k",
                attempt=3,
                wait_s=1.4,
                latency_s=0.01,
                ttft_s=0.005,
                task="compression",
            ),
        ]
    )
    routes = prefixed({"/key": Reply(200, KEY_BODY), "/credits": Reply(200, CREDITS_BODY)})
    with FakeOpenRouter(routes) as srv:
        app = _app(tmp_path, srv.url, store)
        async with app.run_test(size=(160, 48)) as pilot:
            await pilot.press("c")
            await wait_for(pilot, lambda: isinstance(app.screen, CallsScreen))
            table = app.screen.query_one(DataTable)
            await wait_for(pilot, lambda: table.row_count == 3)
            table.move_cursor(row=0)  # newest first: the success
            detail = app.screen.query_one("#detail", Static)
            await wait_for(pilot, lambda: "attempts" in str(detail.render()))
            text = str(detail.render())
            assert "1 call, 3 attempts, 2.90 s waiting on 429s, 50 ms on the wire" in text
            assert "task compression" in text and "time to first token 5 ms" in text


def _state_db(path: Path, now: float) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE sessions (id TEXT PRIMARY KEY, model TEXT, started_at REAL,
            input_tokens INTEGER, output_tokens INTEGER, estimated_cost_usd REAL,
            actual_cost_usd REAL, api_call_count INTEGER);
        CREATE TABLE session_model_usage (session_id TEXT, model TEXT,
            billing_provider TEXT DEFAULT '', task TEXT NOT NULL DEFAULT '',
            api_call_count INTEGER, input_tokens INTEGER, output_tokens INTEGER,
            estimated_cost_usd REAL, actual_cost_usd REAL, first_seen REAL, last_seen REAL);
        """
    )
    conn.execute(
        "INSERT INTO sessions VALUES ('s1', 'openai/gpt-4o-mini', ?, 0, 0, 0, 0, 5)", (now,)
    )
    conn.executemany(
        "INSERT INTO session_model_usage VALUES ('s1', ?, 'openrouter', ?, ?, 100, 10, 0.01, 0.01, ?, ?)",
        [
            ("openai/gpt-4o-mini", "", 5, now, now),
            ("openai/gpt-4o-mini", "title_generation", 1, now, now),
            ("google/gemini-2.5-flash", "compression", 2, now, now),
            ("google/gemini-2.5-flash", "compression", 9, now - 30 * 86400, now - 30 * 86400),
        ],
    )
    conn.commit()
    conn.close()


def test_task_usage_reads_auxiliary_tasks(tmp_path: Path) -> None:
    now = time.time()
    _state_db(tmp_path / "state.db", now)
    usage = read_task_usage(tmp_path / "state.db", since=now - 7 * 86400)
    got = {(u.model, u.task): u.api_calls for u in usage}
    assert got == {
        ("openai/gpt-4o-mini", "main"): 5,
        ("openai/gpt-4o-mini", "title_generation"): 1,
        ("google/gemini-2.5-flash", "compression"): 2,  # the old row is outside the window
    }


async def test_cost_check_shows_hermes_calls_by_task(tmp_path: Path) -> None:
    now = time.time()
    _state_db(tmp_path / "state.db", now)
    store = CallStore(tmp_path / "calls.db")
    store.insert([call(now - 30), call(now - 20, task="title_generation")])
    routes = prefixed({"/key": Reply(200, KEY_BODY), "/credits": Reply(200, CREDITS_BODY)})
    with FakeOpenRouter(routes) as srv:
        app = _app(tmp_path, srv.url, store)
        async with app.run_test(size=(180, 48)) as pilot:
            await pilot.press("h")
            await wait_for(pilot, lambda: isinstance(app.screen, CostCheckScreen))
            table = app.screen.query_one(DataTable)
            await wait_for(pilot, lambda: table.row_count == 2)
            # Cells as drawn: the task columns are literal Text (names come from outside).
            rows = {
                str(table.get_row_at(i)[0]): [str(c) for c in table.get_row_at(i)] for i in range(2)
            }
            assert rows["openai/gpt-4o-mini"][-1] == "main 5 · title_generation 1"
            assert rows["openai/gpt-4o-mini"][-2] == "main 1 · title_generation 1"
            assert rows["google/gemini-2.5-flash"][-1] == "compression 2"
            assert rows["google/gemini-2.5-flash"][1] == "-"  # the log never saw it


async def test_429_banner_and_panel_tell_upstreams_from_the_endpoint(tmp_path: Path) -> None:
    now = time.time()
    store = CallStore(tmp_path / "calls.db")
    store.insert(
        [
            call(now - 90, endpoint="openrouter.ai"),
            call(
                now - 60,
                endpoint="openrouter.ai",
                status="error",
                http_status=429,
                cost_usd=0.0,
                cost_source="none",
            ),
            call(
                now - 30,
                endpoint="openrouter.ai",
                status="error",
                http_status=429,
                error_provider="DeepInfra",
                cost_usd=0.0,
                cost_source="none",
            ),
        ]
    )
    routes = prefixed({"/key": Reply(200, KEY_BODY), "/credits": Reply(200, CREDITS_BODY)})
    with FakeOpenRouter(routes) as srv:
        app = _app(tmp_path, srv.url, store)
        async with app.run_test(size=(160, 48)) as pilot:
            await wait_for(pilot, lambda: "Rate limited now" in _banner(app))
            assert "429 from upstream DeepInfra on openai/gpt-4o-mini" in _banner(app)
            rate = str(app.screen.query_one("#rate-stats", Static).render())
            assert "429s in 24h: 2 of 3 attempts" in rate
            assert "From upstreams 1, from the endpoint itself 1" in rate
            store.insert([call(time.time(), endpoint="openrouter.ai")])
            await wait_for(pilot, lambda: "Rate limited now" not in _banner(app))


async def test_providers_table_shows_endpoints_and_time_to_first_token(tmp_path: Path) -> None:
    now = time.time()
    store = CallStore(tmp_path / "calls.db")
    store.insert(
        [
            call(now - 50, endpoint="openrouter.ai", upstream="DeepInfra", ttft_s=0.2),
            call(
                now - 40,
                provider="custom",
                endpoint="10.0.0.5:8000",
                ttft_s=0.05,
                cost_usd=0.0,
                cost_source="none",
            ),
            call(
                now - 30,
                provider="custom",
                endpoint="llm.example:443",
                ttft_s=0.4,
                cost_usd=None,
                cost_source=None,
            ),
        ]
    )
    routes = prefixed({"/key": Reply(200, KEY_BODY), "/credits": Reply(200, CREDITS_BODY)})
    with FakeOpenRouter(routes) as srv:
        app = _app(tmp_path, srv.url, store)
        async with app.run_test(size=(160, 48)) as pilot:
            table = app.dashboard.providers
            await wait_for(pilot, lambda: table.row_count == 3)
            # Cells are drawn as literal text: compared as the text they show.
            cells = [[str(c) for c in table.get_row_at(i)] for i in range(3)]
            rows = {row[0]: row for row in cells}
            ttft = PROVIDER_COLUMNS.index("ttft")
            # two custom endpoints are two rows, told apart by their host
            assert set(rows) == {"openrouter", "custom@10.0.0.5:8000", "custom@llm.example:443"}
            # a histogram percentile: within its bucket (5 %) of the one sample
            assert abs(float(rows["openrouter"][ttft].removesuffix(" ms")) - 200) <= 10
            assert rows["custom@10.0.0.5:8000"][-1] == "$0.00"  # local: a known 0
            assert rows["custom@llm.example:443"][-1] == "unknown"  # never $0 for unknown
