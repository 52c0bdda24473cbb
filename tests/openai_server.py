"""A tiny OpenAI-compatible server on 127.0.0.1 for the end-to-end test.

The first chat completion gets a 429 with ``Retry-After: 1``; later ones get a short
completion with ``usage`` (streamed as server-sent events when the client asks).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "e2e-test-model"
USAGE = {"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49}
REPLY = "Hello from the e2e server."


class OpenAIServer:
    """``with OpenAIServer() as srv: srv.base_url``; ``srv.requests`` counts completions."""

    def __init__(self, rate_limit_first: int = 1):
        self.completions = 0
        self.rate_limit_first = rate_limit_first
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._json(200, {"object": "list", "data": [{"id": MODEL, "object": "model"}]})
                else:
                    self._json(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b"{}"
                try:
                    req = json.loads(raw or b"{}")
                except ValueError:
                    req = {}
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._json(404, {"error": {"message": "not found"}})
                    return
                with outer.lock:
                    outer.completions += 1
                    n = outer.completions
                if n <= outer.rate_limit_first:
                    self._json(
                        429,
                        {
                            "error": {
                                "message": "Rate limit exceeded",
                                "type": "rate_limit_error",
                                "code": 429,
                            }
                        },
                        {"Retry-After": "1"},
                    )
                    return
                created = int(time.time())
                if req.get("stream"):
                    self._stream(created)
                else:
                    self._json(
                        200,
                        {
                            "id": f"chatcmpl-{n}",
                            "object": "chat.completion",
                            "created": created,
                            "model": MODEL,
                            "choices": [
                                {
                                    "index": 0,
                                    "finish_reason": "stop",
                                    "message": {"role": "assistant", "content": REPLY},
                                }
                            ],
                            "usage": USAGE,
                        },
                    )

            def _stream(self, created: int) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                base = {
                    "id": "chatcmpl-s",
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": MODEL,
                }
                chunks = [
                    {
                        **base,
                        "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}],
                    },
                    {**base, "choices": [{"index": 0, "delta": {"content": REPLY}}]},
                    {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
                    {**base, "choices": [], "usage": USAGE},
                ]
                for c in chunks:
                    self.wfile.write(f"data: {json.dumps(c)}\n\n".encode())
                    self.wfile.flush()
                    time.sleep(0.05)
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> OpenAIServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


if __name__ == "__main__":
    with OpenAIServer() as srv:
        print(srv.base_url, flush=True)
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
