"""Hostile streams on the wire: text that looks like an end marker, an end event split
across network chunks. The row must carry the usage that arrives after them."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from hermes_dash.calllog import recorder
from hermes_dash.calllog.recorder import schema
from hermes_dash.calllog.records import CallRow
from hermes_dash.openrouter.records import Pricing
from hermes_dash.services.enrich import estimate_cost

from .wire_helpers import HEADERS, log, rows

__all__ = ["log"]

USAGE = {"prompt_tokens": 100, "completion_tokens": 7, "cost": 0.0042}


class _Gated:
    """A 127.0.0.1 server streaming ``first`` then, once ``go`` is set, ``rest``."""

    def __init__(self) -> None:
        self.first = b""
        self.rest = b""
        self.go = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def _chunk(self, data: bytes) -> None:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                self._chunk(outer.first)
                outer.go.wait(20)
                self._chunk(outer.rest)
                self._chunk(b"")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"


@pytest.fixture
def gated() -> Iterator[_Gated]:
    srv = _Gated()
    srv.thread.start()
    try:
        yield srv
    finally:
        srv.go.set()
        srv.httpd.shutdown()
        srv.httpd.server_close()


def _event(obj: dict[str, Any], name: str | None = None) -> bytes:
    head = f"event: {name}\n".encode() if name else b""
    return head + b"data: " + json.dumps(obj).encode() + b"\n\n"


def _stream_through(gated: _Gated, path: str) -> bytes:
    """Read the first part, let the recorder write what it has, then read the rest."""
    got = b""
    with (
        httpx.Client(base_url=gated.base_url, headers=HEADERS, timeout=20) as client,
        client.stream("POST", path, json={"model": "m/x", "stream": True}) as response,
    ):
        raw = response.iter_raw()
        while len(got) < len(gated.first):
            got += next(raw)
        # Whatever the recorder decided so far reaches the log now.
        assert recorder.flush(20)
        gated.go.set()
        for chunk in raw:
            got += chunk
    return got


@pytest.mark.parametrize(
    "marker",
    ["[DONE]", "data: [DONE]", "message_stop", "response.completed", "event: message_stop"],
)
def test_end_marker_in_the_answer_text_does_not_end_the_attempt(
    log: Path, gated: _Gated, marker: str
) -> None:
    gen = {"id": "gen-1", "provider": "Up", "model": "m/x"}
    gated.first = _event({**gen, "choices": [{"delta": {"content": f"say {marker} now"}}]})
    gated.rest = (
        _event({**gen, "choices": [{"delta": {}, "finish_reason": "stop"}]})
        + _event({**gen, "choices": [], "usage": USAGE})
        + b"data: [DONE]\n\n"
    )
    body = _stream_through(gated, "/chat/completions")
    assert body == gated.first + gated.rest
    [row] = rows(log)
    assert row["status"] == "ok"
    assert row["cost_usd"] == pytest.approx(0.0042)
    assert row["input_tokens"] == 100
    assert row["finish_reason"] == "stop"


def test_end_event_split_across_chunks_keeps_its_usage(log: Path, gated: _Gated) -> None:
    """A Responses stream whose ``response.completed`` name and data arrive apart."""
    done = {
        "type": "response.completed",
        "response": {"id": "gen-2", "model": "m/x", "status": "completed", "usage": USAGE},
    }
    whole = _event(done, "response.completed")
    cut = whole.index(b"data:")
    gated.first = _event({"type": "response.created", "response": {"id": "gen-2"}}) + whole[:cut]
    gated.rest = whole[cut:]
    _stream_through(gated, "/responses")
    [row] = rows(log)
    assert row["status"] == "ok"
    assert row["cost_usd"] == pytest.approx(0.0042)
    assert row["finish_reason"] == "completed"


class _Json:
    """A 127.0.0.1 server answering every POST with one JSON body (bytes as given)."""

    def __init__(self, body: bytes, content_type: str | None = "application/json") -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(200)
                if content_type is not None:
                    self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.parametrize("cost", ["NaN", "-1", "1e300", '"0.5"', "true", "Infinity"])
def test_an_insane_billed_cost_is_unknown_not_zero(log: Path, tmp_path: Path, cost: str) -> None:
    body = (
        b'{"id": "gen-9", "provider": "Up", "model": "m/x", "choices": [{"finish_reason": '
        b'"stop"}], "usage": {"prompt_tokens": 10, "completion_tokens": 2, "cost": '
        + cost.encode()
        + b"}}"
    )
    srv = _Json(body)
    port = srv.httpd.server_address[1]
    # This server stands for a paid endpoint (loopback would be local, a known $0).
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"paid_endpoints": [f"127.0.0.1:{port}"]}))
    try:
        url = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=url, headers=HEADERS) as client:
            client.post("/chat/completions", json={"model": "m/x", "messages": []})
    finally:
        srv.close()
    [row] = rows(log)
    assert row["status"] == "ok"
    assert row["cost_usd"] is None
    # Not "billed by OpenRouter": still to be priced, so it is never counted as $0.
    assert row["cost_source"] is None
    r = subprocess.run(
        [sys.executable, "-m", "hermes_dash", "summary", "--json", "--offline", "--db", str(log)],
        capture_output=True,
        text=True,
        env={**os.environ, "HERMES_HOME": str(tmp_path), "HERMES_DASH_SETTINGS": str(settings)},
        timeout=60,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    calls = json.loads(r.stdout)["calls"]
    assert calls["attempts"] == 1
    assert calls["cost_usd"] is None


def test_a_call_log_deleted_while_hermes_runs_is_made_anew(log: Path, tmp_path: Path) -> None:
    """The user removes calls.db (to start afresh) while an agent keeps running: the
    next rows go to a new file at the same path, not into the removed one."""
    body = b'{"id": "gen-1", "model": "m/x", "usage": {"prompt_tokens": 1, "cost": 0.25}}'
    srv = _Json(body)
    try:
        url = f"http://127.0.0.1:{srv.httpd.server_address[1]}"
        with httpx.Client(base_url=url, headers=HEADERS) as client:
            client.post("/chat/completions", json={"model": "m/first", "messages": []})
            assert [r["model"] for r in rows(log)] == ["m/first"]
            for leftover in tmp_path.glob("calls.db*"):
                leftover.unlink()
            client.post("/chat/completions", json={"model": "m/second", "messages": []})
    finally:
        srv.close()
    assert [r["model"] for r in rows(log)] == ["m/second"]


def test_a_v1_estimate_priced_on_hermes_tokens_is_priced_again(tmp_path: Path) -> None:
    """The hook-only recorder's estimates took cache reads off Hermes' input tokens, which
    already excluded them: after the migration such a cost is unknown (to be priced again
    on the full prompt), not kept about 6x too low. A billed cost is kept."""
    path = tmp_path / "calls.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in schema.MIGRATIONS[1]:
        conn.execute(statement)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    conn.execute("INSERT INTO schema_version VALUES (1)")
    now = time.time()
    insert = (
        "INSERT INTO calls (started_at, provider, base_url_host, model, status, http_status, "
        "input_tokens, cache_read_tokens, output_tokens, cost_usd, cost_source) "
        "VALUES (?, 'openrouter', 'openrouter.ai', 'm/a', 'ok', 200, 200, ?, 10, ?, ?)"
    )
    conn.execute(insert, (now - 60, 1000, 0.0001, "estimate"))  # wrong: cache taken twice
    conn.execute(insert, (now - 50, 0, 0.0002, "estimate"))  # no cache: it was right
    conn.execute(insert, (now - 40, 1000, 0.0005, "openrouter"))  # billed: the truth
    conn.close()
    r = subprocess.run(
        [sys.executable, "-m", "hermes_dash", "summary", "--json", "--offline", "--db", str(path)],
        capture_output=True,
        text=True,
        env={**os.environ, "HERMES_HOME": str(tmp_path)},
        timeout=60,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    conn = sqlite3.connect(path)
    got = conn.execute("SELECT input_tokens, cost_usd, cost_source FROM calls ORDER BY id")
    assert got.fetchall() == [
        (1200, None, None),
        (200, 0.0002, "estimate"),
        (1200, 0.0005, "openrouter"),
    ]
    conn.close()
    assert json.loads(r.stdout)["calls"]["input_tokens"] == 2600


def _summary(db: Path, home: Path, settings: Path, **env: str) -> dict[str, Any]:
    r = subprocess.run(
        [sys.executable, "-m", "hermes_dash", "summary", "--json", "--offline", "--db", str(db)],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "HERMES_HOME": str(home),
            "HERMES_DASH_SETTINGS": str(settings),
            **env,
        },
        timeout=60,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)  # type: ignore[no-any-return]


def test_an_ipv6_endpoint_is_written_as_the_settings_name_it(log: Path, tmp_path: Path) -> None:
    """``[::1]:9`` is stored bracketed, as a user writes it in local/paid_endpoints and as
    a URL names it: unbracketed, ``::1:9`` reads as another address (and port 9 is lost)."""
    with httpx.Client(timeout=5) as client, pytest.raises(httpx.TransportError):
        client.post("http://[::1]:9/v1/chat/completions", json={"model": "m/x"})
    [row] = rows(log)
    assert row["endpoint"] == "[::1]:9"
    assert row["http_status"] is None and row["status"] == "error"
    settings = tmp_path / "settings.json"
    settings.write_text("{}")
    # Loopback: a known $0.
    assert _summary(log, tmp_path, settings)["calls"]["cost_usd"] == 0
    conn = sqlite3.connect(log)
    conn.execute("UPDATE calls SET cost_usd = NULL, cost_source = NULL")
    conn.commit()
    conn.close()
    # The user says this endpoint is paid: its cost is unknown, not $0.
    settings.write_text(json.dumps({"paid_endpoints": ["[::1]:9"]}))
    assert _summary(log, tmp_path, settings)["calls"]["cost_usd"] is None


def _post_one(log: Path, srv: _Json) -> dict[str, Any]:
    try:
        url = f"http://127.0.0.1:{srv.httpd.server_address[1]}"
        with httpx.Client(base_url=url, headers=HEADERS) as client:
            client.post("/chat/completions", json={"model": "m/x", "messages": []})
    finally:
        srv.close()
    [row] = rows(log)
    return row


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"<html>captive portal</html>", "text/html"),
        (b"<html>a proxy said 200</html>", "application/json"),
        (b"", "application/json"),
        (b'{"id": "gen-1", "usage": {"cost": 0.', "application/json"),
    ],
)
def test_a_200_that_is_no_json_answer_is_an_error(
    log: Path, body: bytes, content_type: str
) -> None:
    row = _post_one(log, _Json(body, content_type))
    assert (row["status"], row["http_status"], row["error_reason"]) == ("error", 200, "bad_body")


@pytest.mark.parametrize("content_type", [None, "text/plain"])
def test_a_json_answer_not_typed_json_is_still_read(log: Path, content_type: str | None) -> None:
    body = json.dumps({"id": "gen-7", "provider": "Up", "usage": USAGE}).encode()
    row = _post_one(log, _Json(body, content_type))
    assert row["status"] == "ok"
    assert (row["generation_id"], row["upstream"]) == ("gen-7", "Up")
    assert row["cost_usd"] == pytest.approx(0.0042) and row["cost_source"] == "openrouter"


def test_burn_rate_is_unknown_while_every_cost_is(log: Path, tmp_path: Path) -> None:
    """Calls to a paid endpoint not priced yet (offline): cost and burn rate are unknown,
    never $0 and $0/h."""
    srv = _Json(json.dumps({"id": "gen-3", "usage": {"prompt_tokens": 5}}).encode())
    port = srv.httpd.server_address[1]
    _post_one(log, srv)
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"paid_endpoints": [f"127.0.0.1:{port}"]}))
    out = _summary(log, tmp_path, settings)
    assert out["calls"]["cost_usd"] is None and out["calls"]["unpriced"] == 1
    assert out["burn_rate_usd_per_hour"] is None
    r = subprocess.run(
        [sys.executable, "-m", "hermes_dash", "summary", "--offline", "--db", str(log)],
        capture_output=True,
        text=True,
        env={**os.environ, "HERMES_HOME": str(tmp_path), "HERMES_DASH_SETTINGS": str(settings)},
        timeout=60,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert "burn -" in r.stdout and "$0.0000/h" not in r.stdout


def test_the_bill_is_not_called_other_apps_while_the_log_is_unpriced(
    log: Path, tmp_path: Path
) -> None:
    """Two stored /key polls say $0.50 was billed; the log holds one paid call not priced
    yet (offline). The log's side is unknown: no 0 % coverage, no $0.50 "from other apps"."""
    srv = _Json(json.dumps({"id": "gen-4", "usage": {"prompt_tokens": 5}}).encode())
    port = srv.httpd.server_address[1]
    _post_one(log, srv)
    now = time.time()
    conn = sqlite3.connect(log)
    conn.executemany(
        "INSERT INTO account_snapshots (taken_at, usage) VALUES (?, ?)",
        [(now - 3000, 1.0), (now, 1.5)],
    )
    conn.commit()
    conn.close()
    settings = tmp_path / "settings.json"
    settings.write_text("{}")
    # This server stands for OpenRouter (so its calls are the bill's); --offline never dials.
    url = f"http://127.0.0.1:{port}/api/v1"
    rec = _summary(log, tmp_path, settings, HERMES_DASH_OPENROUTER_URL=url)["reconciliation"]
    assert rec["billed_usd"] == pytest.approx(0.5)
    assert rec["logged_unpriced_calls"] == 1
    assert rec["logged_usd"] is None
    assert rec["difference_usd"] is None and rec["coverage_pct"] is None


def test_cache_writes_are_priced_once() -> None:
    """OpenRouter's own example: 194 prompt tokens of which 100 were written to the cache.
    The 100 are priced at the write rate, the 94 others at the prompt rate; not all 194 at
    the prompt rate and the 100 again on top."""
    price = Pricing.parse(
        {"prompt": "0.000001", "completion": "0.000004", "input_cache_write": "0.00000125"}
    )
    row = CallRow(
        **{
            **dict.fromkeys(CallRow.COLUMNS),
            "id": 1,
            "started_at": 0.0,
            "provider": "openrouter",
            "model": "m/x",
            "status": "ok",
            "input_tokens": 194,
            "cache_write_tokens": 100,
            "output_tokens": 2,
        }
    )
    assert estimate_cost(row, price) == pytest.approx(94e-6 + 100 * 1.25e-6 + 2 * 4e-6)
