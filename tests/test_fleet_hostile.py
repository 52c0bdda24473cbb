"""``hermes-dash --prometheus URL`` against hostile input: URLs that cannot work, a
password in the URL, and a Prometheus that answers numbers no counter can hold. The real
CLI process for the arguments; the real app over a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from hermes_dash.services.fleet import FleetSource
from hermes_dash.services.promql import PrometheusClient
from hermes_dash.tui.fleet import FleetApp, make_fleet_app

from .fakeserver import FakeOpenRouter, Reply
from .prometheus_server import prometheus
from .prometheus_server import wait_for as prometheus_wait
from .test_fleet_source import _answer, _routes
from .tui_helpers import wait_for


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1",  # an IPv6 address never closed
        "http://localhost:99999",  # no such port
        "http://exa mple:9090",  # a space in the host
        "http://:9090",  # no host
        "http://localhost:9090/?x=1",  # queries would be glued after the query string
        "http://localhost:9090/#top",
    ],
)
def test_a_prometheus_url_that_cannot_work_is_one_line_and_exit_2(url: str) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "hermes_dash", "--prometheus", url],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and r.stderr.count("\n") == 1
    assert "--prometheus" in r.stderr


async def test_the_password_in_the_url_is_sent_never_shown() -> None:
    with FakeOpenRouter(_routes()) as srv:
        base = srv.url.removesuffix("/api/v1")
        app = make_fleet_app(base.replace("http://", "http://admin:s3cret@"), refresh_s=3600)
        async with app.run_test(size=(180, 50)) as pilot:
            await wait_for(pilot, lambda: app.last is not None, "the first read")
            # Prometheus behind a proxy's basic auth gets it...
            assert all(h.get("authorization", "").startswith("Basic ") for _, h in srv.requests)
            shown = app.export_screenshot()
            assert "admin@127.0.0.1" in shown and "s3cret" not in shown
            # ...and a failure names the server without it too.
            srv.routes["/api/v1/label/host/values"] = Reply(200, "<html>login</html>")
            done = app.reads_done
            await pilot.press("r")
            await wait_for(pilot, lambda: app.reads_done > done, "a failed refresh")
            assert app.error is not None and "not its JSON API" in app.error
            assert "s3cret" not in app.error and "s3cret" not in app.export_screenshot()


def _impossible_numbers(path: str, headers: dict[str, str]) -> Reply:
    """Every counter sum: two series near the float limit, one negative, one sane."""
    promql = parse_qs(urlsplit(path).query).get("query", [""])[0]
    if "sum by" not in promql or "histogram_quantile" in promql:
        return _answer(path, headers)
    values = {"a": "1e308", "b": "1.7e308", "c": "-7", "d": "5"}
    result = []
    for model, value in values.items():
        labels = {"provider": "openrouter", "endpoint": "e", "upstream": "U", "model": model}
        if "cost_usd" in promql:
            labels["source"] = "billed"
        result.append({"metric": labels, "value": [1.0, value]})
    return Reply(200, {"status": "success", "data": {"resultType": "vector", "result": result}})


async def test_numbers_no_counter_can_hold_are_left_out_not_a_failed_refresh() -> None:
    routes = {**_routes(), "/api/v1/query": _impossible_numbers}
    with FakeOpenRouter(routes) as srv:
        app = make_fleet_app(srv.url.removesuffix("/api/v1"), refresh_s=3600)
        async with app.run_test(size=(180, 50)) as pilot:
            await wait_for(pilot, lambda: app.reads_done >= 1, "the first read")
            assert app.error is None and app.last is not None
            totals = app.last.data.totals
            assert (totals.calls, totals.attempts, totals.cost_usd) == (5, 5, 5.0)
            assert [g.key for g in app.last.data.models] == [("d",)]
            assert [g.calls for g in app.last.data.providers] == [5]
            assert "over 5 calls" in str(app.screen.query_one("#spend-stats").render())


def _points_out_of_the_window(path: str, headers: dict[str, str]) -> Reply:
    """A range answer whose times are text, negative, past the float range or outside
    the range asked for; one point is where it should be."""
    asked = parse_qs(urlsplit(path).query)
    start = float(asked["start"][0])
    values = [[start, "1"], ["abc", "2"], [-1, "3"], [1e308, "4"], [start - 86400 * 365, "5"]]
    result = [{"metric": {}, "values": values}]
    return Reply(200, {"status": "success", "data": {"resultType": "matrix", "result": result}})


async def test_chart_points_outside_the_window_asked_for_are_left_out() -> None:
    routes = {**_routes(), "/api/v1/query_range": _points_out_of_the_window}
    with FakeOpenRouter(routes) as srv:
        app = make_fleet_app(srv.url.removesuffix("/api/v1"), refresh_s=3600)
        async with app.run_test(size=(180, 50)) as pilot:
            await wait_for(pilot, lambda: app.reads_done >= 1, "the first read")
            assert app.error is None and app.last is not None
            window = app.last.data.window
            series = app.last.data.series
            assert len(series) == 1 and window.start <= series[0].t <= window.end
            assert series[0].calls == 1


async def test_a_host_named_beyond_the_basic_plane_is_a_query_prometheus_parses(
    tmp_path: Path,
) -> None:
    """Label values are any text: an emoji in a host's name, escaped as JSON's surrogate
    pair, was a PromQL syntax error, so every refresh failed once that host was picked."""
    with prometheus(tmp_path, {}) as url:
        prometheus_wait(lambda: _answers(url), what="Prometheus to answer")
        app = make_fleet_app(url, refresh_s=3600)
        async with app.run_test(size=(180, 50)) as pilot:
            await wait_for(pilot, lambda: app.reads_done >= 1, "the first read")
            assert app.error is None
            app.host = "laptop \U0001f680"
            done = app.reads_done
            await pilot.press("r")
            await wait_for(pilot, lambda: app.reads_done > done, "a refresh of that host")
            assert app.error is None, app.error


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/-/ready", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


async def test_an_answer_dripped_a_byte_at_a_time_ends_at_the_deadline() -> None:
    """Each byte in time, the whole answer never: the deadline is the request's, not
    each read's, or one refresh hangs for as long as the server likes."""
    routes = _routes()
    with FakeOpenRouter(routes) as srv:
        base = srv.url.removesuffix("/api/v1")
        app = FleetApp(FleetSource(PrometheusClient(base, timeout=3.0)), refresh_s=3600)
        async with app.run_test(size=(180, 50)) as pilot:
            await wait_for(pilot, lambda: app.last is not None, "the first read")
            srv.routes["/api/v1/label/host/values"] = Reply(
                200, {"status": "success", "data": ["alpha"]}, drip_s=0.5
            )
            done = app.reads_done
            await pilot.press("r")
            await wait_for(pilot, lambda: app.reads_done > done, "the dripped refresh to end")
            assert app.error is not None and "did not answer in time" in app.error


def _a_vast_cost(path: str, headers: dict[str, str]) -> Reply:
    """A cost no call can have, yet under the bound a counter may hold."""
    promql = parse_qs(urlsplit(path).query).get("query", [""])[0]
    if "hermes_dash_cost_usd_total" not in promql or "sum by" not in promql:
        return _answer(path, headers)
    labels = {"provider": "p", "endpoint": "e", "upstream": "U", "model": "m", "source": "billed"}
    result = [{"metric": labels, "value": [1.0, "1e299"]}]
    return Reply(200, {"status": "success", "data": {"resultType": "vector", "result": result}})


async def test_a_vast_amount_is_written_short_not_in_300_digits() -> None:
    routes = {**_routes(), "/api/v1/query": _a_vast_cost}
    with FakeOpenRouter(routes) as srv:
        app = make_fleet_app(srv.url.removesuffix("/api/v1"), refresh_s=3600)
        async with app.run_test(size=(180, 50)) as pilot:
            await wait_for(pilot, lambda: app.last is not None, "the first read")
            spend = str(app.screen.query_one("#spend-stats").render())
            assert "$1.00e+299" in spend and "000,000,000" not in spend
