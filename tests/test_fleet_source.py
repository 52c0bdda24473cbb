"""Fleet mode against a Prometheus that fails: a real HTTP server on 127.0.0.1 speaking
Prometheus' API, then refusing, sending what is not its JSON, stalling, or gone. The last
good figures stay on screen; the status line says why in one line."""

from __future__ import annotations

import json
import socket
from urllib.parse import parse_qs, urlsplit

import pytest

from hermes_dash.cli import main
from hermes_dash.services.fleet import FleetSource
from hermes_dash.services.promql import PrometheusClient
from hermes_dash.tui.fleet import FleetApp

from .fakeserver import FakeOpenRouter, Reply
from .tui_helpers import Notices, wait_for

MODEL = "evil\x1b]52;c;cm0gLXJmIH4=\x07/model"


def _answer(path: str, headers: dict[str, str]) -> Reply:
    """Prometheus' instant queries: 7 logical calls of one hostile model name, nothing else."""
    promql = parse_qs(urlsplit(path).query).get("query", [""])[0]
    result = []
    if "hermes_dash_calls_total" in promql and "sum by" in promql:
        labels = {
            "provider": "openrouter",
            "endpoint": "openrouter.ai",
            "upstream": "",
            "model": MODEL,
        }
        result = [{"metric": labels, "value": [1.0, "7"]}]
    elif promql.startswith("hermes_dash_calllog_up"):
        result = [{"metric": {"host": "alpha"}, "value": [1.0, "1"]}]
    return Reply(200, {"status": "success", "data": {"resultType": "vector", "result": result}})


ALERTS = [
    {
        "labels": {
            "alertname": "HermesDashBudgetReached",
            "host": "alpha\x1b[2J",
            "severity": "critical",
        },
        "annotations": {"summary": "alpha\x1b]0;pwned\x07: daily budget [b]reached[/b]"},
        "state": "firing",
    },
    {"labels": {"alertname": "HermesDash429Storm", "host": "alpha"}, "state": "pending"},
    {"labels": {"alertname": "DiskFull", "host": "alpha"}, "state": "firing"},
]


def _routes() -> dict:
    return {
        "/api/v1/query": _answer,
        "/api/v1/query_range": Reply(
            200, {"status": "success", "data": {"resultType": "matrix", "result": []}}
        ),
        "/api/v1/label/host/values": Reply(200, {"status": "success", "data": ["alpha\x1b[2J"]}),
        "/api/v1/alerts": Reply(200, {"status": "success", "data": {"alerts": ALERTS}}),
    }


def _app(url: str, timeout: float = 10.0) -> FleetApp:
    return FleetApp(
        FleetSource(PrometheusClient(url, timeout=timeout)), refresh_s=3600, window="all"
    )


def _text(app: FleetApp, selector: str) -> str:
    return str(app.screen.query_one(selector).render())


async def _refresh_and_wait(pilot, app: FleetApp) -> None:
    done = app.reads_done
    await pilot.press("r")
    await wait_for(pilot, lambda: app.reads_done > done, "a refresh to end")


async def test_failures_keep_the_last_good_figures() -> None:
    with FakeOpenRouter(_routes()) as srv:
        url = srv.url.removesuffix("/api/v1")
        app = _app(url, timeout=5.0)
        async with app.run_test(size=(180, 50)) as pilot:
            await wait_for(pilot, lambda: app.last is not None, "the first read")
            assert "over 7 calls" in _text(app, "#spend-stats")
            assert app.hosts == ["alpha\x1b[2J"]
            cases = [
                (
                    Reply(
                        503,
                        {
                            "status": "error",
                            "errorType": "unavailable",
                            "error": "overloaded\x1b[31m",
                        },
                    ),
                    "Prometheus answered HTTP 503: unavailable overloaded",
                ),
                (
                    Reply(
                        400, {"status": "error", "errorType": "bad_data", "error": "parse error"}
                    ),
                    "Prometheus answered HTTP 400: bad_data parse error",
                ),
                (Reply(200, "<html>a proxy's login page</html>"), "not its JSON API"),
                ("/api/v1/query", Reply(200, {"status": "success", "data": []}), "without data"),
                (
                    Reply(
                        200,
                        {"status": "success", "data": {"resultType": "vector", "result": []}},
                        stall_s=8,
                    ),
                    "did not answer in time",
                ),
            ]
            for case in cases:
                path, reply, said = case if len(case) == 3 else ("/api/v1/label/host/values", *case)
                srv.routes.update(_routes())
                srv.routes[path] = reply
                await _refresh_and_wait(pilot, app)
                status = _text(app, "#status")
                assert said in status, status
                assert "showing the last good figures" in status
                assert "\x1b" not in status and "\n" not in status.strip()
                assert "over 7 calls" in _text(app, "#spend-stats")
            srv.routes.update(_routes())
            await _refresh_and_wait(pilot, app)
            assert "showing the last good figures" not in _text(app, "#status")


async def test_prometheus_gone_is_one_line() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = _app(f"http://127.0.0.1:{port}")
    async with app.run_test(size=(180, 50)) as pilot:
        await wait_for(pilot, lambda: app.reads_done >= 1, "the first read")
        status = _text(app, "#status")
        assert f"cannot reach Prometheus at http://127.0.0.1:{port}" in status
        assert app.last is None


async def test_outside_text_is_shown_literally() -> None:
    with FakeOpenRouter(_routes()) as srv:
        app = _app(srv.url.removesuffix("/api/v1"))
        async with app.run_test(size=(180, 50)) as pilot:
            await wait_for(pilot, lambda: app.last is not None, "the first read")
            await pilot.press("f")
            await wait_for(pilot, lambda: len(app.screen_stack) == 2, "the host picker")
            await pilot.press("down", "enter")
            await wait_for(pilot, lambda: app.host is not None and app.reads_done >= 2, "alpha")
            status = _text(app, "#status")
            assert "host alpha (1 reporting)" in status and "\x1b" not in status
            # The query asked for that host, quoted as a PromQL string.
            asked = [parse_qs(urlsplit(p).query).get("query", [""])[0] for p, _ in srv.requests]
            assert any(json.dumps("alpha\x1b[2J") in q for q in asked)
            # Firing hermes-dash rules only, in the banner, literally.
            banner = _text(app, "#banner")
            assert "alpha: daily budget [b]reached[/b]" in banner and "pwned" not in banner
            assert "DiskFull" not in banner and "429" not in banner
            assert app.screen.query_one("#banner").has_class("-error")
            rate_or_models = [g.key for g in app.last.data.models] if app.last else []
            assert rate_or_models == [(MODEL,)]


@pytest.mark.parametrize("url", ["localhost:9090", "ftp://x", "http://"])
def test_bad_prometheus_url_is_a_usage_error(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--prometheus", url])
    assert exc.value.code == 2
    assert "--prometheus takes the URL" in capsys.readouterr().err


async def test_without_a_host_label_the_hosts_are_instances() -> None:
    routes = _routes()
    routes["/api/v1/label/host/values"] = Reply(200, {"status": "success", "data": []})
    routes["/api/v1/label/instance/values"] = Reply(
        200, {"status": "success", "data": ["b:9464", "a:9464"]}
    )
    with FakeOpenRouter(routes) as srv:
        app = _app(srv.url.removesuffix("/api/v1"))
        async with app.run_test(size=(180, 50)) as pilot:
            await wait_for(pilot, lambda: app.last is not None, "the first read")
            assert (app.host_label, app.hosts) == ("instance", ["a:9464", "b:9464"])
            await pilot.press("f")
            await wait_for(pilot, lambda: len(app.screen_stack) == 2, "the host picker")
            await pilot.press("down", "down", "enter")
            await wait_for(pilot, lambda: app.host == "b:9464" and app.reads_done >= 2, "b")
            asked = [parse_qs(urlsplit(p).query).get("query", [""])[0] for p, _ in srv.requests]
            assert any('{instance="b:9464"}' in q for q in asked)


async def test_help_and_local_screens_say_what_fleet_mode_has() -> None:
    with FakeOpenRouter(_routes()) as srv:
        app = _app(srv.url.removesuffix("/api/v1"))
        notices = Notices()
        async with app.run_test(size=(180, 50), message_hook=notices) as pilot:
            await wait_for(pilot, lambda: app.last is not None, "the first read")
            for key, said in (
                ("question_mark", "f host"),
                ("c", "Prometheus holds totals, not single calls"),
                ("k", "management key"),
            ):
                await pilot.press(key)
                await wait_for(pilot, lambda s=said: any(s in m for m in notices.messages()), key)
                assert len(app.screen_stack) == 1
            assert not app.screen.query_one("#live-calls").display


ACCOUNT = {
    "hermes_dash_account_poll_ok": (1, 1),
    "hermes_dash_account_balance_usd": (50, 40),
    "hermes_dash_key_usage_usd": (10, 10),
    "hermes_dash_key_usage_daily_usd": (1, 2),
    "hermes_dash_key_limit_remaining_usd": (30, 25),
    "hermes_dash_runway_hours": (7, 5),
}


def _account_answer(path: str, headers: dict[str, str]) -> Reply:
    promql = parse_qs(urlsplit(path).query).get("query", [""])[0]
    values = ACCOUNT.get(promql.split("{")[0])
    if values is None:
        return _answer(path, headers)
    result = [
        {"metric": {"__name__": promql, "host": host}, "value": [1.0, str(v)]}
        for host, v in zip(("alpha", "beta"), values, strict=True)
    ]
    return Reply(200, {"status": "success", "data": {"resultType": "vector", "result": result}})


async def test_account_numbers_across_hosts() -> None:
    """Hosts on one key report it once; different keys add up; what is left is the least."""
    routes = {**_routes(), "/api/v1/query": _account_answer}
    with FakeOpenRouter(routes) as srv:
        app = _app(srv.url.removesuffix("/api/v1"))
        async with app.run_test(size=(180, 50)) as pilot:
            await wait_for(pilot, lambda: app.last is not None, "the first read")
            assert app.last is not None
            snap = app.last.account.snapshot
            assert snap is not None
            assert (snap.balance, snap.usage, snap.usage_daily, snap.limit_remaining) == (
                40,
                10,
                3,
                25,
            )
            assert app.last.data.burn_1h.runway_hours == 5
            spend = _text(app, "#spend-stats")
            assert "Balance $40.00" in spend and "Today $3.00" in spend
