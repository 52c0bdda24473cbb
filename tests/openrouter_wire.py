"""A real HTTP server on 127.0.0.1 that answers model requests as OpenRouter does.

The model asked picks the behaviour (``scenario/<name>``): ``ok`` bills like OpenRouter
(``gen-…`` id, ``provider``, ``usage.cost`` and cost details, cached and reasoning
tokens; streamed as SSE with the usage chunk last when asked), ``upstream429`` (an
upstream's 429 with ``Retry-After`` and ``error.metadata.provider_name``), ``or429``
(OpenRouter's own 429 with ``X-RateLimit-*``), ``credits`` (402 with ``limit_source``),
``5xx``, ``streamerror`` (a 200 stream ending with an error chunk), ``cut`` (a stream
cut mid-way), ``flaky`` (429 for the first ``flaky_failures`` requests, then ok) and
``slow`` (``ok`` after ``delay_s``). ``/messages`` answers in Anthropic's shape and
``/responses`` in the Responses API's. Every request is logged (model and path only).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

USAGE = {
    "prompt_tokens": 1200,
    "completion_tokens": 40,
    "total_tokens": 1240,
    "prompt_tokens_details": {"cached_tokens": 1000, "cache_write_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 12},
    "cost": 0.00123,
    "cost_details": {"upstream_inference_cost": 0.0011},
}
SECRET_TEXT = "THE ANSWER TEXT THAT MUST NEVER BE STORED"


class WireServer:
    """``with WireServer() as srv: srv.base_url``; ``srv.requests`` lists (path, model)."""

    def __init__(self, delay_s: float = 0.0, flaky_failures: int = 2) -> None:
        self.delay_s = delay_s
        self.flaky_failures = flaky_failures
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self._gen = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _chunk(self, data: bytes) -> None:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            def _sse(self, events: list[Any], done: bool = True, cut: bool = False) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                self._chunk(b": OPENROUTER PROCESSING\n\n")
                for i, event in enumerate(events):
                    self._chunk(b"data: " + json.dumps(event).encode() + b"\n\n")
                    if cut and i == 1:
                        self.close_connection = True
                        self.wfile.flush()
                        self.connection.shutdown(2)
                        return
                if done:
                    self._chunk(b"data: [DONE]\n\n")
                self.wfile.write(b"0\r\n\r\n")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b"{}"
                try:
                    req = json.loads(raw or b"{}")
                except ValueError:
                    req = {}
                model = str(req.get("model") or "")
                with outer.lock:
                    outer.requests.append((self.path, model))
                    outer._gen += 1
                    n = outer._gen
                    flaky_seen = sum(1 for _, m in outer.requests if m == model)
                outer.answer(self, req, model, n, flaky_seen)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/v1"

    def __enter__(self) -> WireServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, h: Any, req: dict[str, Any], model: str, n: int, seen: int) -> None:
        """Reply to one request as the scenario in the model name says."""
        scenario = model.rsplit("/", 1)[-1]
        gen = f"gen-{n:06d}"
        if scenario == "slow":
            time.sleep(self.delay_s)
            scenario = "ok"
        if scenario == "flaky":
            scenario = "upstream429" if seen <= self.flaky_failures else "ok"
        if scenario == "upstream429":
            h._send(
                429,
                {
                    "error": {
                        "code": 429,
                        "message": "Provider returned error",
                        "metadata": {"provider_name": "DeepInfra", "raw": "busy"},
                    }
                },
                {"Retry-After": "2"},
            )
        elif scenario == "or429":
            reset_ms = int((time.time() + 30) * 1000)
            h._send(
                429,
                {"error": {"code": 429, "message": "Rate limit exceeded: free-models-per-min"}},
                {
                    "X-RateLimit-Limit": "20",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": str(reset_ms),
                },
            )
        elif scenario == "credits":
            h._send(
                402,
                {
                    "error": {
                        "code": 402,
                        "message": "Insufficient credits",
                        "metadata": {"limit_source": "openrouter_credits"},
                    }
                },
            )
        elif scenario == "hostile":
            h._send(
                200,
                {
                    "id": "gen-" + "x" * 5000,
                    "provider": "Deep\x1b]52;c;aGk=\x07Infra\u202e",
                    "model": "m\x1b[2J",
                    "choices": [{"finish_reason": "stop\r\n", "message": {"content": "x"}}],
                    "usage": {
                        "prompt_tokens": -5,
                        "completion_tokens": 1e300,
                        "cost": -1.0,
                        "cost_details": {"upstream_inference_cost": 1e308},
                    },
                },
                {"Retry-After": "inf", "X-RateLimit-Remaining": "nan"},
            )
        elif scenario == "5xx":
            h._send(502, {"error": {"code": 502, "message": "upstream error"}})
        elif h.path.endswith("/messages"):
            self._anthropic(h, req, model, gen)
        elif h.path.endswith("/responses"):
            h._send(
                200,
                {
                    "id": gen,
                    "object": "response",
                    "model": model,
                    "status": "completed",
                    "output": [{"type": "message", "content": [{"text": SECRET_TEXT}]}],
                    "usage": {
                        "input_tokens": 300,
                        "output_tokens": 20,
                        "input_tokens_details": {"cached_tokens": 100},
                        "output_tokens_details": {"reasoning_tokens": 5},
                        "cost": 0.0004,
                    },
                },
            )
        elif req.get("stream"):
            self._stream(h, model, gen, scenario)
        else:
            h._send(
                200,
                {
                    "id": gen,
                    "provider": "DeepInfra",
                    "model": model,
                    "object": "chat.completion",
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": SECRET_TEXT},
                        }
                    ],
                    "usage": USAGE,
                },
            )

    def _stream(self, h: Any, model: str, gen: str, scenario: str) -> None:
        def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
            return {
                "id": gen,
                "provider": "Fireworks",
                "model": model,
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish, **extra}],
            }

        events: list[Any] = [chunk({"role": "assistant", "content": ""})]
        events += [chunk({"content": word + " "}) for word in SECRET_TEXT.split()]
        if scenario == "streamerror":
            events.append(
                chunk(
                    {"content": ""},
                    "error",
                    error={"code": 502, "message": "Upstream died", "metadata": {}},
                )
            )
            h._sse(events)
        elif scenario == "cut":
            h._sse(events, cut=True)
        else:
            events.append(chunk({}, "stop"))
            events.append({**chunk({}), "choices": [], "usage": USAGE})
            h._sse(events)

    def _anthropic(self, h: Any, req: dict[str, Any], model: str, gen: str) -> None:
        usage = {
            "input_tokens": 50,
            "cache_read_input_tokens": 400,
            "cache_creation_input_tokens": 10,
            "output_tokens": 0,
        }
        if not req.get("stream"):
            h._send(
                200,
                {
                    "id": "msg_" + gen,
                    "type": "message",
                    "model": model,
                    "content": [{"type": "text", "text": SECRET_TEXT}],
                    "stop_reason": "end_turn",
                    "usage": {**usage, "output_tokens": 30},
                },
            )
            return
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        events = [
            (
                "message_start",
                {
                    "type": "message_start",
                    "message": {"id": "msg_" + gen, "model": model, "usage": usage},
                },
            ),
            (
                "content_block_delta",
                {"type": "content_block_delta", "delta": {"text": SECRET_TEXT}},
            ),
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn"},
                    "usage": {"output_tokens": 30},
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
        for name, data in events:
            h._chunk(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
        h.wfile.write(b"0\r\n\r\n")
