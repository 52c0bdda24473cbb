"""Hostile streams on the wire: text that looks like an end marker, an end event split
across network chunks. The row must carry the usage that arrives after them."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from hermes_dash.calllog import recorder

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
