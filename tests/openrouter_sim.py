"""A local server on 127.0.0.1 that answers and bills like OpenRouter: the e2e ground truth.

Chat completions (plain JSON or server-sent events) carry a ``gen-…`` id, the upstream in
``provider`` and ``usage`` with ``cost``, cached and reasoning tokens, priced at the
upstream's own rates. The server keeps its own request log and its own bill, and serves
``/key``, ``/generation``, ``/models``, ``/models/{a}/{b}/endpoints``, ``/providers`` and
``/credits`` consistent with that bill, so hermes-dash can be pointed at it too.

What a chat request gets is scripted by markers in its first user message (a retry sends
the same messages, so it sees the same markers):

- ``[faults:429,ok,500]``: the requests carrying this exact marker get these answers in
  order, then normal ones. Faults: ``429`` (OpenRouter's own, with ``Retry-After`` and
  ``X-RateLimit-*``), ``429up`` (an upstream's, ``error.metadata.provider_name``), ``500``,
  ``502``, ``400``, ``402`` (``limit_source``), ``length`` (``finish_reason: "length"``),
  ``cut`` (a stream closed mid-way) and ``errchunk`` (a 200 stream ending in an error
  chunk). ``cut`` and ``errchunk`` are billed for what was generated, as OpenRouter does.
- ``[tools:N]``: while the request offers tools and fewer than N tool results came back,
  answer with a tool call (the tool named by ``[tool:NAME]``, else ``todo``).
- ``[meet:any]``: with a shared Meeting, the first request of this conversation waits
  until the meeting's other conversations have sent theirs.
- ``[prompt_tokens:N]``: report N prompt tokens once, on the first main-loop request with
  three tool results (to push Hermes into compressing a context it can shorten).

A request's ``provider`` preferences (``only``, ``ignore``, ``order``) choose its upstream
as OpenRouter would, and are kept in the request log as sent: the e2e ground truth for
provider_routing reaching the wire.

With ``openrouter=False`` it is a plain local OpenAI-compatible backend: ``chatcmpl-`` ids,
no ``provider``, no cost, nothing billed.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .openrouter_sim_replies import (
    MODEL,
    UPSTREAMS,
    Request,
    chunk,
    endpoints,
    error_reply,
    generation_body,
    key_body,
    model_body,
    route,
    send_json,
)

REPLY = "Done: the simulated model answers."
_MARKER = re.compile(r"\[(faults|tools|tool|prompt_tokens|meet):([^\]]*)\]")


class Meeting:
    """Holds the first request of each of N conversations until all N are in flight.

    Shared by several servers, so that turns of one process going to different backends
    are provably concurrent, without relying on timing.
    """

    def __init__(self, size: int, timeout_s: float = 60.0):
        self.size = size
        self.timeout_s = timeout_s
        self.arrived: set[str] = set()
        self.met = False
        self._cond = threading.Condition()

    def join(self, conversation: str) -> None:
        with self._cond:
            if conversation in self.arrived:
                return
            self.arrived.add(conversation)
            self._cond.notify_all()
            self.met = self._cond.wait_for(
                lambda: len(self.arrived) >= self.size, timeout=self.timeout_s
            )


def _first_user_text(messages: list[Any]) -> str:
    for m in messages:
        if isinstance(m, dict) and m.get("role") == "user":
            c = m.get("content")
            if isinstance(c, list):
                return " ".join(str(p.get("text", "")) for p in c if isinstance(p, dict))
            return str(c or "")
    return ""


class OpenRouterSim:
    """``with OpenRouterSim() as sim: sim.base_url``; ``sim.log`` and ``sim.billed()``."""

    def __init__(
        self,
        openrouter: bool = True,
        chunk_delay_s: float = 0.01,
        meeting: Meeting | None = None,
    ):
        self.openrouter = openrouter
        self.meeting = meeting
        self.chunk_delay_s = chunk_delay_s
        self.log: list[Request] = []
        self.lock = threading.Lock()
        self._counter = itertools.count(1)
        self._used: dict[str, int] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                outer._get(self)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b"{}"
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {}
                req = outer._begin(self.path)
                try:
                    outer._post(self, req, body if isinstance(body, dict) else {})
                finally:
                    req.ended = time.time()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # -- ground truth ---------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """host:port, as the call log's ``endpoint`` column names it."""
        return f"127.0.0.1:{self.server.server_port}"

    @property
    def base_url(self) -> str:
        return f"http://{self.endpoint}/api/v1"

    def chat_requests(self) -> list[Request]:
        """Every chat completion request received, in arrival order."""
        with self.lock:
            return [r for r in self.log if r.path.endswith("/chat/completions")]

    def billed(self) -> float:
        """The bill: what OpenRouter would have charged this key."""
        with self.lock:
            return sum(r.cost for r in self.log)

    def __enter__(self) -> OpenRouterSim:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- chat completions -----------------------------------------------------------------

    def _next_fault(self, marker: str | None, faults: list[str]) -> str:
        if marker is None:
            return "ok"
        with self.lock:
            i = self._used.get(marker, 0)
            self._used[marker] = i + 1
        return faults[i] if i < len(faults) else "ok"

    def _begin(self, raw_path: str) -> Request:
        with self.lock:
            req = Request(n=next(self._counter), path=urlsplit(raw_path).path, started=time.time())
            self.log.append(req)
        return req

    def _post(self, h: BaseHTTPRequestHandler, req: Request, body: dict[str, Any]) -> None:
        if not req.path.rstrip("/").endswith("/chat/completions"):
            req.status = 404
            send_json(h, 404, {"error": {"code": 404, "message": "not found"}})
            return
        raw_messages = body.get("messages")
        messages: list[Any] = raw_messages if isinstance(raw_messages, list) else []
        text = _first_user_text(messages)
        req.conversation = text[:200]
        marks = {k: v for k, v in _MARKER.findall(text)}
        fault_marker = next((m.group(0) for m in _MARKER.finditer(text) if m[1] == "faults"), None)
        faults = [f.strip() for f in marks.get("faults", "").split(",") if f.strip()]
        req.model = str(body.get("model") or "")
        req.provider = body.get("provider")
        req.stream = bool(body.get("stream"))
        req.has_tools = bool(body.get("tools"))
        tool_results = sum(1 for m in messages if isinstance(m, dict) and m.get("role") == "tool")
        req.kind = "main" if req.has_tools else ("summary" if tool_results else "aux")
        # Only main-loop requests consume faults: an auxiliary prompt may quote the marker.
        req.fault = self._next_fault(fault_marker if req.has_tools else None, faults)
        if req.fault in ("429", "429up", "500", "502", "400", "402"):
            self._error(h, req)
            return
        if self.meeting and "meet" in marks and req.kind == "main":
            self.meeting.join(text)
        want_tools = int(marks.get("tools", "0") or 0)
        tool_call = None
        if req.has_tools and tool_results < want_tools and req.fault != "length":
            tool_call = self._tool_call(body, marks.get("tool") or "todo", tool_results)
        req.prompt_tokens = max(1, len(json.dumps(messages)) // 4)
        if "prompt_tokens" in marks and req.has_tools and tool_results >= 3:
            # Once only: after Hermes compresses, its next prompt is small again.
            big = f"[prompt_tokens:{marks['prompt_tokens']}]"
            if self._next_fault(big, ["big"]) == "big":
                req.prompt_tokens = int(marks["prompt_tokens"])
        # Hermes resends the same prefix every turn: report half of it as a cache hit.
        req.cached_tokens = (req.prompt_tokens // 2) if len(messages) > 2 else 0
        content = "" if tool_call else REPLY
        req.finish_reason = "tool_calls" if tool_call else "stop"
        if req.fault == "length":
            req.finish_reason = "length"
        req.completion_tokens = 7 + len(content) // 4 + (20 if tool_call else 0)
        req.reasoning_tokens = 3 if req.n % 2 else 0
        req.completion_tokens += req.reasoning_tokens
        if self.openrouter:
            req.upstream = route(req.provider, req.n)
            req.generation_id = f"gen-{req.n}-{uuid.uuid4().hex[:12]}"
        else:
            req.generation_id = f"chatcmpl-{req.n}"
        if req.fault in ("cut", "errchunk"):
            # Only the part generated before the failure is billed.
            req.completion_tokens = 3
            req.reasoning_tokens = 0
            req.finish_reason = "error" if req.fault == "errchunk" else None
        usage = self._usage(req)
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if tool_call:
            message["tool_calls"] = [tool_call]
        if req.stream or req.fault in ("cut", "errchunk"):
            self._stream(h, req, message, usage)
        else:
            req.status = 200
            send_json(h, 200, self._completion(req, message, usage))

    def _tool_call(self, body: dict[str, Any], name: str, i: int) -> dict[str, Any]:
        offered = [
            t.get("function", {}).get("name")
            for t in body.get("tools") or []
            if isinstance(t, dict)
        ]
        if name not in offered and offered:
            name = str(offered[0])
        args: dict[str, Any] = {
            "todos": [{"id": f"t{i}", "content": f"step {i}", "status": "pending"}]
        }
        return {
            "id": f"call_{uuid.uuid4().hex[:10]}",
            "type": "function",
            "function": {"name": name, "arguments": json.dumps(args)},
        }

    def _usage(self, req: Request) -> dict[str, Any]:
        usage: dict[str, Any] = {
            "prompt_tokens": req.prompt_tokens,
            "completion_tokens": req.completion_tokens,
            "total_tokens": req.prompt_tokens + req.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": req.cached_tokens, "cache_write_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": req.reasoning_tokens},
        }
        if self.openrouter and req.upstream:
            p = UPSTREAMS[req.upstream]
            req.cost = round(
                (req.prompt_tokens - req.cached_tokens) * p["prompt"]
                + req.cached_tokens * p["input_cache_read"]
                + req.completion_tokens * p["completion"],
                10,
            )
            usage.update(
                cost=req.cost,
                is_byok=False,
                cost_details={"upstream_inference_cost": None},
            )
        return usage

    def _base(self, req: Request, obj: str) -> dict[str, Any]:
        base: dict[str, Any] = {
            "id": req.generation_id,
            "object": obj,
            "created": int(req.started),
            "model": req.model or MODEL,
        }
        if self.openrouter:
            base["provider"] = req.upstream
        return base

    def _completion(
        self, req: Request, message: dict[str, Any], usage: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            **self._base(req, "chat.completion"),
            "choices": [{"index": 0, "finish_reason": req.finish_reason, "message": message}],
            "usage": usage,
        }

    def _stream(
        self,
        h: BaseHTTPRequestHandler,
        req: Request,
        message: dict[str, Any],
        usage: dict[str, Any],
    ) -> None:
        req.status = 200
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Cache-Control", "no-cache")
        h.send_header("Connection", "close")
        # Chunked, so that a cut stream is a real protocol error for the client, as when a
        # connection drops mid-way, not a clean end of body.
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        base = self._base(req, "chat.completion.chunk")
        delta: dict[str, Any] = {"role": "assistant", "content": ""}
        chunks: list[dict[str, Any]] = [{**base, "choices": [{"index": 0, "delta": delta}]}]
        if message.get("tool_calls"):
            call = dict(message["tool_calls"][0], index=0)
            chunks.append({**base, "choices": [{"index": 0, "delta": {"tool_calls": [call]}}]})
        else:
            words = (message.get("content") or "Partial").split(" ")
            for w in words:
                chunks.append({**base, "choices": [{"index": 0, "delta": {"content": w + " "}}]})
        if req.fault == "cut":
            chunks = chunks[:2]
        elif req.fault == "errchunk":
            err = {"code": "server_error", "message": "Upstream disconnected"}
            fin = {"index": 0, "delta": {"content": ""}, "finish_reason": "error"}
            chunks = [*chunks[:2], {**base, "error": err, "choices": [fin]}]
        else:
            fin = {"index": 0, "delta": {}, "finish_reason": req.finish_reason}
            chunks += [{**base, "choices": [fin]}, {**base, "choices": [], "usage": usage}]
        try:
            for c in chunks:
                chunk(h, f"data: {json.dumps(c)}\n\n".encode())
                time.sleep(self.chunk_delay_s)
            if req.fault != "cut":
                if req.fault != "errchunk":
                    chunk(h, b"data: [DONE]\n\n")
                chunk(h, b"")
        except (BrokenPipeError, ConnectionResetError):
            pass
        h.close_connection = True

    def _error(self, h: BaseHTTPRequestHandler, req: Request) -> None:
        req.status, body, headers = error_reply(req.fault)
        send_json(h, req.status, body, headers)

    # -- the account side, consistent with the bill ----------------------------------------

    def _get(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        path = parts.path.rstrip("/")
        if path.endswith("/key"):
            total = round(self.billed(), 10)
            send_json(h, 200, {"data": key_body(total)})
        elif path.endswith("/credits"):
            send_json(h, 403, {"error": {"code": 403, "message": "management key required"}})
        elif path.endswith("/generation"):
            gid = (parse_qs(parts.query).get("id") or [""])[0]
            with self.lock:
                match = [r for r in self.log if r.generation_id == gid and r.cost > 0]
            if not match:
                send_json(h, 404, {"error": {"code": 404, "message": "Generation not found"}})
            else:
                send_json(h, 200, {"data": generation_body(match[0])})
        elif path.endswith("/endpoints"):
            send_json(h, 200, {"data": {"id": MODEL, "endpoints": endpoints()}})
        elif path.endswith("/models"):
            send_json(h, 200, {"data": [model_body()]})
        elif path.endswith("/providers"):
            data = [{"name": n, "slug": n.lower()} for n in UPSTREAMS]
            send_json(h, 200, {"data": data})
        else:
            send_json(h, 404, {"error": {"code": 404, "message": "not found"}})


if __name__ == "__main__":
    with OpenRouterSim() as sim:
        print(sim.base_url, flush=True)
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
