"""Spend control against careless or hostile input: ``budget`` as a real process against
a management API on 127.0.0.1 that misbehaves, and odd amounts and standard inputs."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from hermes_dash.openrouter import errors
from hermes_dash.openrouter.management import ManagementClient
from tests.conftest import FAKE_KEY
from tests.fake_account import MGMT_KEY, key_entry

#: (method, path, body) -> (status, body bytes), or None to drip the body slowly.
Route = Callable[[str, str, bytes], "tuple[int, bytes] | None"]


class Hostile:
    """A management API whose every answer a test scripts; records what it was sent."""

    def __init__(self, route: Route):
        self.route = route
        self.seen: list[tuple[str, str, bytes]] = []
        self.stop_drip = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                outer.seen.append((self.command, self.path, raw))
                answer = outer.route(self.command, self.path, raw)
                try:
                    if answer is None:  # headers now, then a byte now and then
                        self.send_response(200)
                        self.send_header("Content-Type", "application/json")
                        self.end_headers()
                        self.wfile.write(b'{"data": [')
                        while not outer.stop_drip.wait(0.2):
                            self.wfile.write(b" ")
                            self.wfile.flush()
                        return
                    status, data = answer
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = _handle
            do_PATCH = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/api/v1"

    def patches(self) -> list[tuple[str, str, bytes]]:
        return [s for s in self.seen if s[0] == "PATCH"]

    def close(self) -> None:
        self.stop_drip.set()
        self.server.shutdown()
        self.server.server_close()


def keys_page(*entries: dict[str, Any]) -> tuple[int, bytes]:
    return 200, json.dumps({"data": list(entries)}).encode()


def plain(method: str, path: str, body: bytes) -> tuple[int, bytes]:
    """One key; a PATCH answers with that key updated."""
    if method == "PATCH":
        return 200, json.dumps({"data": key_entry(0, **json.loads(body))}).encode()
    if path.startswith("/api/v1/keys"):
        return keys_page(key_entry(0))
    return 404, b"{}"


@pytest.fixture
def serve() -> Iterator[Callable[[Route], Hostile]]:
    servers: list[Hostile] = []

    def start(route: Route) -> Hostile:
        servers.append(Hostile(route))
        return servers[-1]

    yield start
    for srv in servers:
        srv.close()


def run(
    args: list[str], srv: Hostile, tmp_path: Path, *, stdin: int | None = subprocess.DEVNULL
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update(
        OPENROUTER_API_KEY=FAKE_KEY,
        OPENROUTER_MANAGEMENT_KEY=MGMT_KEY,
        HERMES_DASH_OPENROUTER_URL=srv.url,
        HERMES_HOME=str(tmp_path / "home"),
    )
    return subprocess.run(
        [sys.executable, "-m", "hermes_dash", *args],
        env=env, stdin=stdin, capture_output=True, text=True, timeout=90,
    )  # fmt: skip


def one_clean_line(p: subprocess.CompletedProcess[str]) -> str:
    """stderr is one line, no traceback, no secret."""
    assert "Traceback" not in p.stderr, p.stderr
    assert MGMT_KEY not in p.stdout + p.stderr and FAKE_KEY not in p.stdout + p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    return lines[0]


@pytest.mark.parametrize("amount", ["0.001", "0.004", "1e300", "2000000", "nan", "-1", "1e309"])
def test_amounts_that_would_block_or_overflow_a_key_are_refused(
    serve: Callable[[Route], Hostile], tmp_path: Path, amount: str
) -> None:
    """$0.004 used to be rounded to a $0.00 limit (the key blocked for every caller);
    1e300 was sent as a limit and printed as hundreds of digits."""
    srv = serve(plain)
    p = run(["budget", "set", f"--daily={amount}", "--yes"], srv, tmp_path)
    assert p.returncode == 2, p.stdout
    assert "--daily" in one_clean_line(p) and "$0.01" in p.stderr
    assert not srv.patches()


@pytest.mark.parametrize(("amount", "sent"), [("1,000", 1000.0), ("$0.01", 0.01), ("5", 5.0)])
def test_ordinary_amounts_are_sent_as_typed(
    serve: Callable[[Route], Hostile], tmp_path: Path, amount: str, sent: float
) -> None:
    srv = serve(plain)
    p = run(["budget", "set", f"--weekly={amount}", "--yes"], srv, tmp_path)
    assert p.returncode == 0, p.stderr
    (patch,) = srv.patches()
    assert json.loads(patch[2]) == {"limit": sent, "limit_reset": "weekly"}


def test_closed_standard_input_is_not_a_terminal(
    serve: Callable[[Route], Hostile], tmp_path: Path
) -> None:
    """``budget set --daily 5 <&-`` crashed with a traceback (sys.stdin is None)."""
    srv = serve(plain)
    code = "import os, runpy, sys; os.close(0); sys.stdin = None; " \
        "sys.argv = ['hermes-dash', 'budget', 'set', '--daily', '5']; " \
        "runpy.run_module('hermes_dash', run_name='__main__')"  # fmt: skip
    env = dict(os.environ)
    env.update(
        OPENROUTER_MANAGEMENT_KEY=MGMT_KEY,
        HERMES_DASH_OPENROUTER_URL=srv.url,
        HERMES_HOME=str(tmp_path / "home"),
    )
    p = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert p.returncode == 2
    assert "--yes" in one_clean_line(p)
    assert not srv.patches()


def test_patch_answering_for_another_key_is_not_reported_as_done(
    serve: Callable[[Route], Hostile], tmp_path: Path
) -> None:
    """A 200 whose body is another key used to print "key 'key-99' limit is now …"."""

    def route(method: str, path: str, body: bytes) -> tuple[int, bytes]:
        if method == "PATCH":
            other = key_entry(99, limit=5.0, limit_reset="daily")
            return 200, json.dumps({"data": other}).encode()
        return plain(method, path, body)

    srv = serve(route)
    p = run(["budget", "set", "--daily", "5", "--yes"], srv, tmp_path)
    assert p.returncode == 1
    line = one_clean_line(p)
    assert "another key" in line and "budget show" in line
    assert "limit is now" not in p.stdout


def test_terminal_sequences_in_key_names_never_reach_the_terminal(
    serve: Callable[[Route], Hostile], tmp_path: Path
) -> None:
    evil = key_entry(
        0,
        name="\x1b]52;c;aGVsbG8=\x07clip\x1b[2J",
        limit=1e308,
        limit_reset="\x1b]2;title\x07daily",
    )
    other = key_entry(1, name="tab\there\x9b31m")
    srv = serve(lambda m, p, b: keys_page(evil, other) if m == "GET" else (404, b"{}"))
    p = run(["budget", "show"], srv, tmp_path)
    assert p.returncode == 0, p.stderr
    for ch in ("\x1b", "\x07", "\x9b", "\t"):
        assert ch not in p.stdout
    assert "clip" in p.stdout
    assert max(len(line) for line in p.stdout.splitlines()) < 160  # no 309-digit limit
    p = run(["budget", "set", "--daily", "5", "--key", evil["hash"], "--yes"], srv, tmp_path)
    assert "\x1b" not in p.stdout + p.stderr and "\x07" not in p.stdout + p.stderr


def test_deeply_nested_keys_answer_is_one_line(
    serve: Callable[[Route], Hostile], tmp_path: Path
) -> None:
    bomb = b'{"data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    srv = serve(lambda m, p, b: (200, bomb))
    p = run(["budget", "show"], srv, tmp_path)
    assert p.returncode == 1
    assert "/keys" in one_clean_line(p)


def test_a_drip_fed_keys_answer_ends_at_the_deadline(
    serve: Callable[[Route], Hostile],
) -> None:
    """A server that sends a byte now and then never trips the per-read timeout; the
    listing used to wait for as long as it kept dripping."""
    srv = serve(lambda m, p, b: None)

    async def go() -> str:
        client = ManagementClient(MGMT_KEY, base_url=srv.url, timeout=5.0, deadline=1.0)
        try:
            with pytest.raises(errors.RequestTimeout) as info:
                await client.list_keys()
            return str(info.value)
        finally:
            await client.aclose()

    started = time.monotonic()
    message = asyncio.run(go())
    assert time.monotonic() - started < 15
    assert "GET /keys" in message and MGMT_KEY not in message


BY_COLUMNS = (
    "started_at, provider, model, status, http_status, input_tokens, output_tokens, "
    "cost_usd, cost_source, session_id, platform, task"
)


@pytest.mark.parametrize("by", ["source", "session", "platform", "task"])
def test_cost_by_source_adds_up_with_impossible_rows(tmp_path: Path, by: str) -> None:
    """Rows another writer left with a blob or a number in a text column crashed
    ``summary --by`` with a traceback; an inf, a negative or a text cost made the parts
    differ from the window's totals (the group holding them lost its good rows too)."""
    import sqlite3

    from hermes_dash.calllog.store import CallStore

    db = tmp_path / "calls.db"
    CallStore(db).close()
    now = time.time()
    good = ("openrouter", "m/a", "ok", 200, 10, 5, 0.25, "openrouter")
    rows = [
        (now - 60, *good, "cron_nightly_20261127_010203", "cron", "main"),
        (now - 61, *good, b"\xff\x00", 5, 3.5),
        (now - 62, *good, 12, b"telegram", None),
        (now - 63, *good, "12", "telegram", "compression"),
        (now - 64, *good, None, None, None),
        (now - 65, "openrouter", "m/a", "ok", 200, 10, 5, float("inf"), "x", None, None, None),
        (now - 67, "openrouter", "m/a", "ok", 200, -7, 5, -0.5, "x", None, None, None),
        (now - 68, "openrouter", "m/a", "error", 429, 10, 5, "free", "x", b"\x01", None, None),
    ]
    conn = sqlite3.connect(db)
    conn.executemany(f"INSERT INTO calls ({BY_COLUMNS}) VALUES ({','.join('?' * 12)})", rows)
    conn.commit()
    conn.close()
    env = {**os.environ, "HERMES_HOME": str(tmp_path)}
    p = subprocess.run(
        [sys.executable, "-m", "hermes_dash", "summary", "--offline", "--json", "--db", str(db),
         "--by", by],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr
    out = json.loads(p.stdout)
    calls, parts = out["calls"], out["breakdown"]
    assert calls["cost_usd"] == pytest.approx(1.25)
    for field, total in (
        ("calls", "total"),
        ("attempts", "attempts"),
        ("rate_limited", "rate_limited"),
        ("cost_usd", "cost_usd"),
        ("input_tokens", "input_tokens"),
        ("output_tokens", "output_tokens"),
    ):
        assert sum(x[field] for x in parts) == pytest.approx(calls[total]), field
    assert sum(x["share"] for x in parts) == pytest.approx(1.0)
    assert all(isinstance(x["key"], str) for x in parts)
