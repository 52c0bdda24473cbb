"""Real HTTP servers on 127.0.0.1 for spend control: an OpenRouter account that speaks the
management API (``/keys`` with offset paging, ``PATCH /keys/{hash}``, ``/activity`` with its
``date`` filter) beside ``/key`` and ``/credits``, and a receiver that records webhook and ntfy posts (and can be "down")."""

from __future__ import annotations

import copy
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MGMT_KEY = "sk-or-v1-mgmt0123456789abcdef0123456789abcdef0123456789abcdMGMT"
PAGE = 100


def key_entry(i: int, **kw: Any) -> dict[str, Any]:
    """One key as ``GET /keys`` lists it."""
    entry: dict[str, Any] = {
        "hash": f"{i:04d}" + "ab" * 30,
        "name": f"key-{i}",
        "label": f"sk-or-v1-{i:03d}...{i:04d}",
        "disabled": False,
        "limit": None,
        "limit_remaining": None,
        "limit_reset": None,
        "usage": 10.0 + i,
        "usage_daily": 1.0,
        "usage_weekly": 3.0,
        "usage_monthly": 9.0,
        "byok_usage": 0.0,
        "include_byok_in_limit": False,
        "created_at": "2026-01-01T00:00:00Z",
    }
    entry.update(kw)
    return entry


def activity_entry(date: str, model: str, provider: str, **kw: Any) -> dict[str, Any]:
    """One row as ``GET /activity`` lists it."""
    entry: dict[str, Any] = {
        "date": date,
        "model": model,
        "model_permaslug": f"{model}-2026-01-01",
        "endpoint_id": f"{model}@{provider}",
        "provider_name": provider,
        "usage": 0.5,
        "byok_usage_inference": 0.0,
        "requests": 10,
        "prompt_tokens": 1000,
        "completion_tokens": 200,
        "reasoning_tokens": 0,
    }
    entry.update(kw)
    return entry


@dataclass
class Seen:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class PatchFailure:
    """How the next PATCHes fail: a status with a body, or a stall past the timeout."""

    status: int = 500
    message: str = "internal error"
    stall_s: float = 0.0


class _Server:
    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                headers = {k.lower(): v for k, v in self.headers.items()}
                seen = Seen(self.command, self.path, headers, body)
                with outer.lock:
                    outer.seen.append(seen)
                status, payload, content_type, stall = outer.answer(seen)
                if stall:
                    time.sleep(stall)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = _handle
            do_POST = _handle
            do_PATCH = _handle
            do_PUT = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, seen: Seen) -> tuple[int, Any, str, float]:
        raise NotImplementedError

    @property
    def root(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> _Server:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class FakeAccount(_Server):
    """``/api/v1/key``, ``/credits``, ``/keys`` (paged), ``PATCH /keys/{hash}``,
    ``/activity``; ``activity_failure`` makes ``/activity`` fail (a status, a stall, or a
    status 200 with ``message`` as a broken body)."""

    def __init__(
        self,
        keys: list[dict[str, Any]],
        key_body: dict[str, Any] | None = None,
        activity: list[dict[str, Any]] | None = None,
    ):
        super().__init__()
        self.activity = activity or []
        self.activity_failure: PatchFailure | None = None
        self.keys = {k["hash"]: k for k in keys}
        self.order = [k["hash"] for k in keys]
        self.key_body = key_body or {"label": keys[0]["label"] if keys else None, "usage": 0.0}
        self.patch_failure: PatchFailure | None = None

    @property
    def url(self) -> str:
        return f"{self.root}/api/v1"

    def snapshot(self) -> dict[str, dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(self.keys)

    def answer(self, seen: Seen) -> tuple[int, Any, str, float]:
        path, _, query = seen.path.partition("?")
        auth = seen.headers.get("authorization", "")
        if path == "/api/v1/key" and seen.method == "GET":
            with self.lock:
                return 200, {"data": dict(self.key_body)}, "application/json", 0.0
        if path == "/api/v1/credits":
            return (
                403,
                {"error": {"code": 403, "message": "needs a management key"}},
                "application/json",
                0.0,
            )
        if path == "/api/v1/activity" or path.startswith("/api/v1/keys"):
            if auth != f"Bearer {MGMT_KEY}":
                return (
                    401,
                    {"error": {"code": 401, "message": "bad management key"}},
                    "application/json",
                    0.0,
                )
            if path == "/api/v1/activity":
                return self._activity(query)
            if path == "/api/v1/keys" and seen.method == "GET":
                params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
                offset = int(params.get("offset", "0"))
                with self.lock:
                    page = [self.keys[h] for h in self.order[offset : offset + PAGE]]
                return 200, {"data": copy.deepcopy(page)}, "application/json", 0.0
            if seen.method == "PATCH":
                key_hash = path.rsplit("/", 1)[1]
                failure = self.patch_failure
                if failure is not None:
                    body = {"error": {"code": failure.status, "message": failure.message}}
                    return failure.status, body, "application/json", failure.stall_s
                with self.lock:
                    if key_hash not in self.keys:
                        return (
                            404,
                            {"error": {"code": 404, "message": "no such key"}},
                            "application/json",
                            0.0,
                        )
                    entry = self.keys[key_hash]
                    for name in (
                        "limit",
                        "limit_reset",
                        "disabled",
                        "name",
                        "include_byok_in_limit",
                    ):
                        if isinstance(seen.body, dict) and name in seen.body:
                            entry[name] = seen.body[name]
                    if entry["limit"] is not None:
                        entry["limit_remaining"] = max(0.0, entry["limit"] - entry["usage_daily"])
                    return 200, {"data": copy.deepcopy(entry)}, "application/json", 0.0
        return 404, {"error": {"code": 404, "message": "no route"}}, "application/json", 0.0

    def _activity(self, query: str) -> tuple[int, Any, str, float]:
        failure = self.activity_failure
        if failure is not None:
            if failure.status == 200:
                return 200, failure.message.encode(), "application/json", failure.stall_s
            body = {"error": {"code": failure.status, "message": failure.message}}
            return failure.status, body, "application/json", failure.stall_s
        params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        rows = [r for r in self.activity if params.get("date") in (None, r["date"])]
        return 200, {"data": copy.deepcopy(rows)}, "application/json", 0.0


class Receiver(_Server):
    """Takes webhook and ntfy posts; ``down`` makes it answer 503. Every post is in
    ``seen``; the accepted ones also in ``accepted``, the others in ``refused``.
    :meth:`outage` takes it down until it has refused a number of posts to one path."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.accepted: list[Seen] = []
        self.refused: list[Seen] = []
        self._refuse: tuple[str, int] | None = None

    def outage(self, path: str, refusals: int) -> None:
        """Answer 503 to every post until ``refusals`` posts to ``path`` were refused: the
        receiver comes back at once, however late the test gets to look."""
        with self.lock:
            self._refuse = (path, refusals)

    def answer(self, seen: Seen) -> tuple[int, Any, str, float]:
        with self.lock:
            if self._refuse is not None:
                path, left = self._refuse
                if seen.path.startswith(path):
                    left -= 1
                self._refuse = (path, left) if left > 0 else None
            elif not self.down:
                self.accepted.append(seen)
                return 200, b"ok", "text/plain", 0.0
            self.refused.append(seen)
        return 503, b"down", "text/plain", 0.0

    def posts(self, prefix: str) -> list[Seen]:
        with self.lock:
            return [s for s in self.accepted if s.path.startswith(prefix)]
