"""A real HTTP server on 127.0.0.1 that speaks the parts of OpenRouter's API under test.

Routes map a path to a Reply (or a callable returning one). Replies can stall past a
client's timeout, cut the body short, send a huge body, or drip the whole response (status
line included) one byte at a time, to exercise every failure.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One canned answer."""

    status: int = 200
    body: Any = None  # dict/list -> JSON, str/bytes -> raw
    headers: dict[str, str] = field(default_factory=dict)
    stall_s: float = 0.0
    truncate: bool = False  # promise more bytes than sent, then close
    repeat_bytes: int = 0  # send this many bytes of filler (a huge body)
    drip_s: float = 0.0  # send the raw response one byte per this many seconds

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


Route = Reply | Callable[[str, dict[str, str]], Reply]


class FakeOpenRouter:
    """Start with ``with FakeOpenRouter(routes) as srv: srv.url``."""

    def __init__(self, routes: dict[str, Route] | None = None):
        self.routes: dict[str, Route] = dict(routes or {})
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.stopping = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                headers = {k.lower(): v for k, v in self.headers.items()}
                outer.requests.append((self.path, headers))
                route = outer.routes.get(path) or outer.routes.get("*")
                if route is None:
                    reply = Reply(404, {"error": {"code": 404, "message": "no route"}})
                elif callable(route):
                    reply = route(self.path, headers)
                else:
                    reply = route
                if reply.stall_s:
                    time.sleep(reply.stall_s)
                body = reply.payload()
                if reply.drip_s:
                    self._drip(reply, body)
                    return
                try:
                    self.send_response(reply.status)
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Type", "application/json")
                    if reply.repeat_bytes:
                        self.send_header("Content-Length", str(reply.repeat_bytes))
                        self.end_headers()
                        chunk = b" " * 65536
                        sent = 0
                        while sent < reply.repeat_bytes:
                            self.wfile.write(chunk)
                            sent += len(chunk)
                        return
                    length = len(body) * 2 if reply.truncate else len(body)
                    self.send_header("Content-Length", str(length))
                    self.end_headers()
                    self.wfile.write(body)
                    if reply.truncate:
                        self.wfile.flush()
                        self.close_connection = True
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _drip(self, reply: Reply, body: bytes) -> None:
                head = f"HTTP/1.1 {reply.status} OK\r\nContent-Type: application/json\r\n"
                head += "".join(f"{k}: {v}\r\n" for k, v in reply.headers.items())
                raw = f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body
                self.close_connection = True
                try:
                    for i in range(len(raw)):
                        self.wfile.write(raw[i : i + 1])
                        self.wfile.flush()
                        if outer.stopping.wait(reply.drip_s):
                            return
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up: what a deadline is for

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/api/v1"

    def __enter__(self) -> FakeOpenRouter:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()


def prefixed(routes: dict[str, Route]) -> dict[str, Route]:
    """Routes given without the /api/v1 prefix."""
    return {("/api/v1" + k if k != "*" else k): v for k, v in routes.items()}


KEY_BODY = {
    "data": {
        "label": "sk-or-v1-abc...xyz",
        "limit": 100.0,
        "limit_remaining": 62.5,
        "limit_reset": "monthly",
        "usage": 37.5,
        "usage_daily": 1.25,
        "usage_weekly": 8.0,
        "usage_monthly": 30.0,
        "is_free_tier": False,
        "is_management_key": False,
    }
}
CREDITS_BODY = {"data": {"total_credits": 120.0, "total_usage": 45.25}}
