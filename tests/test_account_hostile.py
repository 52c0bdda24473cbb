"""``summary --account`` against a hostile or broken management API, as real processes
against a real local server: negative spend, a server that pages for ever with new keys,
a redirect to another host, and names that try to style or drive the terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hermes_dash.calllog.store import CallStore
from tests.conftest import FAKE_KEY, call
from tests.fake_account import MGMT_KEY, Seen, _Server, activity_entry, key_entry

Answer = Callable[[Seen], tuple[int, Any, str, float]]


class Hostile(_Server):
    """Answers ``/keys`` and ``/activity`` with whatever ``reply`` says."""

    def __init__(self, reply: Answer) -> None:
        super().__init__()
        self.reply = reply

    @property
    def url(self) -> str:
        return f"{self.root}/api/v1"

    def answer(self, seen: Seen) -> tuple[int, Any, str, float]:
        path = seen.path.partition("?")[0]
        if path == "/api/v1/key":  # the API key's own numbers: not what is under test
            return _json({"data": {"label": "x", "usage": 1.0}})
        if path == "/api/v1/credits":
            return _json({"error": {"code": 403, "message": "management key"}}, 403)
        return self.reply(seen)


def _json(body: Any, status: int = 200) -> tuple[int, Any, str, float]:
    return status, body, "application/json", 0.0


def _offset(seen: Seen) -> int:
    _, _, query = seen.path.partition("?")
    params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
    return int(params.get("offset", "0"))


@pytest.fixture
def serve() -> Iterator[Callable[[Answer], Hostile]]:
    started: list[Hostile] = []

    def start(reply: Answer) -> Hostile:
        srv = Hostile(reply)
        srv.start()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()


def run(url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    db = tmp_path / "calls.db"
    if not db.exists():
        store = CallStore(db)
        store.insert([call(time.time() - 30, cost_usd=0.25)])
        store.close()
    env = dict(os.environ)
    env.update(
        OPENROUTER_API_KEY=FAKE_KEY,
        OPENROUTER_MANAGEMENT_KEY=MGMT_KEY,
        HERMES_DASH_OPENROUTER_URL=url,
        HERMES_HOME=str(tmp_path / "home"),
        HERMES_DASH_DB=str(db),
    )
    return subprocess.run(
        [sys.executable, "-m", "hermes_dash", "summary", "--account", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_negative_spend_is_unknown_not_a_refund(
    serve: Callable[[Answer], Hostile], tmp_path: Path
) -> None:
    def reply(seen: Seen) -> tuple[int, Any, str, float]:
        if "/activity" in seen.path:
            rows = [
                activity_entry("2026-11-01", "openai/gpt-4o", "OpenAI", usage=2.0),
                activity_entry("2026-11-02", "openai/gpt-4o", "OpenAI", usage=-50.0),
            ]
            return _json({"data": rows})
        return _json({"data": [key_entry(1, usage_daily=-7.5), key_entry(2, usage_daily=1.0)]})

    srv = serve(reply)
    p = run(srv.url, tmp_path, "--json")
    assert p.returncode == 0, p.stderr
    view = json.loads(p.stdout)["account_view"]
    assert view["keys"][0]["usage_daily"] is None
    # One unknown day's spend makes the sum unknown, never $2.00 - $50.00.
    assert view["activity"]["usage_usd"] is None
    assert view["activity"]["by_model_upstream"][0]["usage_usd"] is None
    assert view["today"]["keys_usage_daily_usd"] is None
    text = run(srv.url, tmp_path)
    assert text.returncode == 0 and "$-" not in text.stdout and "-$" not in text.stdout
    assert "unknown billed" in text.stdout


def test_a_server_paging_for_ever_is_one_line_not_part_of_the_account(
    serve: Callable[[Answer], Hostile], tmp_path: Path
) -> None:
    def reply(seen: Seen) -> tuple[int, Any, str, float]:
        if "/activity" in seen.path:
            return _json({"data": []})
        start = _offset(seen)
        return _json({"data": [key_entry(start + i) for i in range(100)]})

    srv = serve(reply)
    p = run(srv.url, tmp_path)
    assert p.returncode == 1 and p.stdout == ""
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "more than 10,000 keys" in lines[0]
    assert "Traceback" not in p.stderr


def test_exactly_ten_thousand_keys_are_all_listed(
    serve: Callable[[Answer], Hostile], tmp_path: Path
) -> None:
    def reply(seen: Seen) -> tuple[int, Any, str, float]:
        if "/activity" in seen.path:
            return _json({"data": []})
        start = _offset(seen)
        return _json({"data": [key_entry(i) for i in range(start, min(start + 100, 10_000))]})

    srv = serve(reply)
    p = run(srv.url, tmp_path, "--json")
    assert p.returncode == 0, p.stderr
    view = json.loads(p.stdout)["account_view"]
    assert len(view["keys"]) == 10_000
    assert view["today"]["keys_usage_daily_usd"] == pytest.approx(10_000.0)


def test_a_redirect_never_carries_the_management_key_elsewhere(
    serve: Callable[[Answer], Hostile], tmp_path: Path
) -> None:
    elsewhere = serve(lambda seen: _json({"data": []}))

    def reply(seen: Seen) -> tuple[int, Any, str, float]:
        return 302, b"", "text/plain", 0.0

    srv = serve(reply)
    # The redirect's Location names the other server.
    srv.server.RequestHandlerClass.send_response = _redirecting(  # type: ignore[method-assign]
        srv.server.RequestHandlerClass.send_response, elsewhere.url + "/keys"
    )
    p = run(srv.url, tmp_path)
    assert p.returncode == 1 and p.stdout == ""
    assert (
        len(p.stderr.strip().splitlines()) == 1 and "redirect (HTTP 302), not followed" in p.stderr
    )
    assert MGMT_KEY not in p.stderr and MGMT_KEY[-8:] not in p.stderr
    assert elsewhere.seen == []  # nothing, key or not, went to the other host


def _redirecting(send_response: Any, location: str) -> Any:
    def send(self: Any, code: int, message: str | None = None) -> None:
        send_response(self, code, message)
        if code == 302:
            self.send_header("Location", location)

    return send


def test_names_cannot_style_or_drive_the_terminal(
    serve: Callable[[Answer], Hostile], tmp_path: Path
) -> None:
    def reply(seen: Seen) -> tuple[int, Any, str, float]:
        if "/activity" in seen.path:
            model = "[bold]m[/bold]\x1b]52;c;aGk=\x07\x1b[2J"
            return _json({"data": [activity_entry("2026-11-01", model, "Up\rstream")]})
        return _json({"data": [key_entry(1, name="[red]gw[/red]\x1b[31m\x08!")]})

    srv = serve(reply)
    p = run(srv.url, tmp_path)
    assert p.returncode == 0, p.stderr
    assert "\x1b" not in p.stdout and "\x07" not in p.stdout and "\r" not in p.stdout
    assert "\x08" not in p.stdout
    assert "[red]gw[/red]" in p.stdout and "[bold]m[/bold]" in p.stdout  # literally


@pytest.mark.parametrize(
    "bad",
    [{"usage_daily": "lots"}, {"disabled": "no"}, {"name": 7}, {"hash": None}, {"limit": [1]}],
)
def test_a_key_of_the_wrong_shape_is_one_line_naming_keys(
    serve: Callable[[Answer], Hostile], tmp_path: Path, bad: dict[str, Any]
) -> None:
    def reply(seen: Seen) -> tuple[int, Any, str, float]:
        if "/activity" in seen.path:
            return _json({"data": []})
        return _json({"data": [key_entry(1), key_entry(2, **bad)]})

    srv = serve(reply)
    p = run(srv.url, tmp_path)
    assert p.returncode == 1 and p.stdout == ""
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "/keys" in lines[0] and "Traceback" not in p.stderr
