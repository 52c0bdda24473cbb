"""A hostile OpenRouter (and odd settings files) against what users run: the enricher, the
``summary`` command as a real process, ``--refresh``, and the dashboard under Pilot."""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from hermes_dash.calllog.store import CallStore
from hermes_dash.hermes.paths import HermesPaths, Secrets
from hermes_dash.openrouter.client import OpenRouterClient
from hermes_dash.openrouter.records import ModelInfo
from hermes_dash.services.enrich import MAX_ATTEMPTS, PRICES_RETRY_S, Enricher, PriceBook
from hermes_dash.services.settings import DashSettings, UserSettings
from hermes_dash.tui.app import make_app

from .conftest import FAKE_KEY, call
from .fakeserver import CREDITS_BODY, KEY_BODY, FakeOpenRouter, Reply, prefixed
from .tui_helpers import wait_for

DEEP = "[" * 20_000 + "]" * 20_000
MODELS = {
    "data": [
        {"id": "a/m", "name": "M", "pricing": {"prompt": "0.000001", "completion": "0.000002"}}
    ]
}


def _unpriced(store: CallStore) -> dict[str | None, int]:
    return {row.generation_id: n for row, n in store.unpriced(MAX_ATTEMPTS, 100)}


# -- the enricher ---------------------------------------------------------------------------


async def test_a_bad_generation_skips_that_call_and_the_round_goes_on(store: CallStore) -> None:
    t = time.time()
    ids = ["gen-deep", "gen-drip", "gen-nan", "gen-good", None]
    store.insert(
        [call(t, model="a/m", generation_id=g, cost_usd=None, cost_source=None) for g in ids]
    )
    good = {"data": {"id": "gen-good", "provider_name": "Together", "total_cost": 0.5}}

    def generation(path: str, headers: dict[str, str]) -> Reply:
        gen = path.split("id=", 1)[1]
        return {
            "gen-deep": Reply(200, DEEP),
            "gen-drip": Reply(200, good, drip_s=0.05),
            "gen-nan": Reply(200, '{"data": {"id": "gen-nan", "total_cost": NaN}}'),
        }.get(gen, Reply(200, good))

    routes = prefixed({"/generation": generation, "/models": Reply(200, MODELS)})
    with FakeOpenRouter(routes) as srv:
        api = OpenRouterClient(FAKE_KEY, base_url=srv.url, timeout=2.0, deadline=0.5)
        priced = await Enricher(store, api).run_once()
        await api.aclose()
    # gen-good at OpenRouter's cost; gen-nan (cost unknown) and the id-less call estimated.
    assert priced == 3
    assert _unpriced(store) == {"gen-deep": 1, "gen-drip": 1}  # tried again next round
    costs = dict(store.conn.execute("SELECT generation_id, cost_source FROM calls").fetchall())
    assert costs == {
        "gen-good": "openrouter",
        "gen-nan": "estimate",
        None: "estimate",
        "gen-deep": None,
        "gen-drip": None,
    }


async def test_a_dripping_generation_cannot_hold_a_round_up(store: CallStore) -> None:
    t = time.time()
    ids = [f"gen-{i}" for i in range(4)]
    store.insert([call(t, generation_id=g, cost_usd=None, cost_source=None) for g in ids])
    drip = Reply(200, {"data": {"total_cost": 1.0}}, drip_s=0.05)
    with FakeOpenRouter(prefixed({"/generation": drip})) as srv:
        api = OpenRouterClient(FAKE_KEY, base_url=srv.url, timeout=5.0)  # 20 s deadline
        enricher = Enricher(store, api, lookup_deadline_s=0.3, round_budget_s=0.5)
        started = time.monotonic()
        assert await enricher.run_once() == 0
        elapsed = time.monotonic() - started
        await api.aclose()
    assert elapsed < 3.0, elapsed
    # Newest first: two lookups fit the budget and count as tries; the rest wait untouched.
    assert _unpriced(store) == {"gen-3": 1, "gen-2": 1, "gen-1": 0, "gen-0": 0}


async def test_a_failing_models_is_asked_once_per_retry_period(store: CallStore) -> None:
    t = time.time()
    store.insert([call(t, model="a/m", cost_usd=None, cost_source=None) for _ in range(6)])
    now = [t]
    routes = prefixed({"/models": Reply(200, DEEP)})
    with FakeOpenRouter(routes) as srv:
        api = OpenRouterClient(FAKE_KEY, base_url=srv.url, timeout=2.0)
        enricher = Enricher(store, api, clock=lambda: now[0])
        assert await enricher.run_once() == 0
        assert await enricher.run_once() == 0
        assert len(srv.requests) == 1  # not once per call, not once per round
        srv.routes["/api/v1/models"] = Reply(200, MODELS)
        now[0] += PRICES_RETRY_S + 1
        assert await enricher.run_once() == 6
        await api.aclose()
    assert len(srv.requests) == 2


async def test_a_huge_models_does_not_stall_an_enrichment_round(store: CallStore) -> None:
    n = 100_000
    models = [
        {"id": f"author{i}/model-{i}", "name": f"M{i}", "pricing": {"prompt": "0.000001"}}
        for i in range(n)
    ]
    body = json.dumps({"data": models}).encode()
    threads: list[str] = []
    real_parse = ModelInfo.parse_list.__func__  # type: ignore[attr-defined]
    real_build = PriceBook.build.__func__  # type: ignore[attr-defined]

    def parse_spy(cls: type[ModelInfo], data: Any) -> list[ModelInfo]:
        threads.append(threading.current_thread().name)
        return real_parse(cls, data)

    def build_spy(cls: type[PriceBook], models: Any) -> PriceBook:
        threads.append(threading.current_thread().name)
        return real_build(cls, models)

    t = time.time()
    # Direct providers log the model without its author: priced by name, not by a scan.
    store.insert(
        [
            call(t, provider="anthropic", model=f"model-{i}", cost_usd=None, cost_source=None)
            for i in range(0, n, n // 40)
        ]
    )
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.005)
            gaps.append(time.perf_counter() - last)
            last = time.perf_counter()

    with FakeOpenRouter(prefixed({"/models": Reply(200, body)})) as srv:
        api = OpenRouterClient(FAKE_KEY, base_url=srv.url, deadline=60.0)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(ModelInfo, "parse_list", classmethod(parse_spy))
            mp.setattr(PriceBook, "build", classmethod(build_spy))
            tick = asyncio.create_task(ticker())
            priced = await Enricher(store, api).run_once()
            done.set()
            await tick
        await api.aclose()
    assert priced == 40
    # /models is parsed and indexed on threads while the loop keeps turning (how long
    # its pauses are is for the benchmarks, not a test).
    assert len(threads) == 2 and threading.main_thread().name not in threads, threads
    assert len(gaps) > 1


# -- settings.json --------------------------------------------------------------------------

BAD_SETTINGS = {
    "400 digits": "9" * 400,
    "5000 digits": "9" * 5000,
    "1e400": "1e400",
    "NaN": "NaN",
    "-Infinity": "-Infinity",
    "negative": "-5",
    "string": '"ten"',
    "bool": "true",
    "list": "[1]",
    "object": '{"usd": 1}',
}


@pytest.mark.parametrize("raw", list(BAD_SETTINGS.values()), ids=list(BAD_SETTINGS))
def test_a_bad_settings_field_falls_back_alone(tmp_path: Path, raw: str) -> None:
    path = tmp_path / "settings.json"
    path.write_text(
        f'{{"daily_budget_usd": {raw}, "monthly_budget_usd": 12.5, "runway_alert_hours": {raw},'
        ' "theme": "textual-light"}'
    )
    s = UserSettings.load(path)
    assert s.daily_budget_usd is None and s.runway_alert_hours == 24.0  # the defaults
    assert s.monthly_budget_usd == 12.5 and s.theme == "textual-light"  # read as written


NOT_OBJECTS = {
    "list": "[1, 2]",
    "string": '"x"',
    "number": "5",
    "null": "null",
    "deep": DEEP,
    "cut": "{",
    "bad utf-8": "\udcff",
}


@pytest.mark.parametrize("text", list(NOT_OBJECTS.values()), ids=list(NOT_OBJECTS))
def test_a_settings_file_that_is_not_an_object_gives_the_defaults(
    tmp_path: Path, text: str
) -> None:
    path = tmp_path / "settings.json"
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    assert UserSettings.load(path) == UserSettings()


# -- the summary command, as a process ------------------------------------------------------


CLI = [sys.executable, "-m", "hermes_dash"]


def _summary(db: Path, url: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, *extra, "summary", "--db", str(db), "--openrouter-url", url, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OPENROUTER_API_KEY": FAKE_KEY},
    )


def _strict(text: str) -> Any:
    def refuse(name: str) -> None:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "calls.db"
    CallStore(path).insert([call(time.time() - 60 * i) for i in range(5)])
    return path


def test_summary_json_is_strict_with_null_for_numbers_nobody_can_use(log: Path) -> None:
    key = (
        '{"data": {"label": "k", "usage": NaN, "usage_daily": Infinity, "usage_weekly": 1e400,'
        f' "usage_monthly": {"9" * 400}, "limit": {"9" * 5000}, "limit_remaining": 5,'
        ' "is_free_tier": false}}'
    )
    credits = '{"data": {"total_credits": 1e308, "total_usage": -1e308}}'  # balance overflows
    routes = prefixed({"/key": Reply(200, key), "/credits": Reply(200, credits)})
    with FakeOpenRouter(routes) as srv:
        proc = _summary(log, srv.url)
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    account = _strict(out)["account"]
    assert account["status"] == "ok" and account["limit_remaining"] == 5
    for field in ("usage", "usage_daily", "usage_weekly", "usage_monthly", "limit", "balance"):
        assert account[field] is None, field


def test_summary_json_is_strict_whatever_the_routing_block_holds(log: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.yaml").write_text(
        "provider_routing:\n  sort: 2024-01-01\n  x_nan: .nan\n  x_inf: -.inf\n"
    )
    proc = subprocess.run(
        [*CLI, "summary", "--json", "--offline", "--db", str(log)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "HERMES_HOME": str(home)},
    )
    assert proc.returncode == 0, proc.stderr
    assert _strict(proc.stdout)["routing"] == {"sort": "2024-01-01", "x_nan": None, "x_inf": None}


def test_summary_with_a_deeply_nested_answer_is_one_line(log: Path) -> None:
    routes = prefixed({"/key": Reply(200, DEEP), "/credits": Reply(200, CREDITS_BODY)})
    with FakeOpenRouter(routes) as srv:
        proc = _summary(log, srv.url)
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and out == ""
    assert err.count("\n") == 1 and "nested too deeply" in err and "Traceback" not in err


def test_summary_ends_within_60_s_whatever_the_server_drips(log: Path) -> None:
    # Real deadlines, no test knobs: the contract's bound is what is measured.
    slow_key = prefixed({"/key": Reply(200, KEY_BODY, drip_s=0.5), "/credits": Reply(200, {})})
    slow_credits = prefixed(
        {"/key": Reply(200, KEY_BODY), "/credits": Reply(200, CREDITS_BODY, drip_s=0.5)}
    )
    with FakeOpenRouter(slow_key) as a, FakeOpenRouter(slow_credits) as b:
        started = time.monotonic()
        procs = [_summary(log, a.url), _summary(log, b.url)]
        try:
            results = [p.communicate(timeout=90) for p in procs]
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        elapsed = time.monotonic() - started
    assert elapsed < 60, elapsed
    (_, key_err), (credits_out, credits_err) = results
    assert procs[0].returncode == 1 and "did not answer /key in time" in key_err
    assert key_err.count("\n") == 1 and "Traceback" not in key_err
    # A slow /credits only makes credits unknown.
    assert procs[1].returncode == 0, credits_err
    account = _strict(credits_out)["account"]
    assert account["usage"] == 37.5 and account["credits_total"] is None


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1", "0", "4.9", "3601", "1e9", "x"])
def test_refresh_out_of_range_is_a_one_line_usage_error(value: str, log: Path) -> None:
    proc = _summary(log, "http://127.0.0.1:9/api/v1", f"--refresh={value}")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and out == ""
    assert err.count("\n") == 1 and "--refresh" in err and "Traceback" not in err


@pytest.mark.parametrize("value", ["5", "30", "3600"])
def test_refresh_in_range_is_accepted(value: str, log: Path) -> None:
    proc = subprocess.run(
        [*CLI, "--refresh", value, "summary", "--offline", "--db", str(log)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr


# -- the dashboard --------------------------------------------------------------------------


async def test_dashboard_goes_stale_and_keeps_polling_through_a_hostile_server(
    tmp_path: Path,
) -> None:
    settings_file = tmp_path / "settings.json"
    settings_file.write_text(f'{{"daily_budget_usd": {"9" * 400}, "runway_alert_hours": NaN}}')
    routes = prefixed({"/key": Reply(200, KEY_BODY), "/credits": Reply(200, CREDITS_BODY)})
    with FakeOpenRouter(routes) as srv:
        store = CallStore(tmp_path / "calls.db")
        store.insert([call(time.time())])
        settings = DashSettings(
            paths=HermesPaths(tmp_path),
            db_path=tmp_path / "calls.db",
            openrouter_url=srv.url,
            refresh_s=1.0,
            secrets=Secrets(FAKE_KEY, None),
            user_settings_path=settings_file,
        )
        api = OpenRouterClient(FAKE_KEY, base_url=srv.url, timeout=2.0, deadline=0.5)
        app = make_app(settings, api, store)
        async with app.run_test(size=(120, 40)) as pilot:

            async def wait(cond: Any, what: str) -> None:
                await wait_for(pilot, cond, what)

            await wait(lambda: app.account.snapshot is not None, "the first poll")
            good = app.account.snapshot
            assert app.prefs.daily_budget_usd is None and app.prefs.runway_alert_hours == 24.0

            # A bad /credits leaves /key polling alone.
            srv.routes["/api/v1/credits"] = Reply(200, DEEP)
            await pilot.press("r")
            await wait(
                lambda: (
                    app.account.snapshot is not None and app.account.snapshot.credits_total is None
                ),
                "a poll without credits",
            )
            assert app.account.status == "ok" and app.account.snapshot.usage == 37.5
            good = app.account.snapshot

            # A dripping /key: the poll times out, the numbers go STALE, the next is set.
            srv.routes["/api/v1/key"] = Reply(200, KEY_BODY, drip_s=0.05)
            await pilot.press("r")
            await wait(lambda: app.account.status != "ok", "the timeout")
            assert app.account.stale and app.account.snapshot == good
            assert "did not answer /key in time" in app.account.message
            assert app.next_poll_in is not None and math.isfinite(app.next_poll_in)
            assert app.next_poll_in > settings.refresh_s
            assert "STALE" in str(app.screen.query_one("#spend-stats").render())

            # The next poll comes by itself (no key pressed) and meets a deep body.
            srv.routes["/api/v1/key"] = Reply(200, DEEP)
            await wait(lambda: "nested too deeply" in app.account.message, "the next poll")
            assert app.account.stale and app.is_running

            # ...and the one after that finds OpenRouter healed.
            srv.routes["/api/v1/key"] = Reply(200, KEY_BODY)
            await wait(lambda: app.account.status == "ok", "recovery")
            assert not app.account.stale
