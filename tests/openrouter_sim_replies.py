"""Replies of the OpenRouter simulator: prices, refusals, account bodies, HTTP framing."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

MODEL = "sim/e2e-model"
#: Per-upstream prices in USD per token, as OpenRouter's endpoints list them.
UPSTREAMS: dict[str, dict[str, float]] = {
    "DeepInfra": {"prompt": 3e-6, "completion": 15e-6, "input_cache_read": 0.3e-6},
    "Together": {"prompt": 2e-6, "completion": 10e-6, "input_cache_read": 0.5e-6},
}


@dataclass
class Request:
    """One request as the server saw it (ground truth)."""

    n: int
    path: str
    started: float
    ended: float = 0.0
    model: str = ""
    stream: bool = False
    has_tools: bool = False
    kind: str = ""  # main (offers tools), summary (no tools, after tool results), aux
    conversation: str = ""  # the first user message: which conversation sent it
    fault: str = ""
    status: int = 0
    generation_id: str | None = None
    upstream: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    cost: float = 0.0  # what this request adds to the bill
    provider: Any = None  # the request body's ``provider`` preferences, as sent


def route(prefs: Any, n: int) -> str:
    """The upstream of request ``n`` under a body's ``provider`` preferences, the way
    OpenRouter applies them: ``only`` and ``ignore`` filter (slugs are the lowercased
    names), the first of ``order`` left serves; otherwise requests take turns."""
    names = list(UPSTREAMS)
    if isinstance(prefs, dict):
        only = [str(s) for s in prefs.get("only") or []]
        ignore = [str(s) for s in prefs.get("ignore") or []]
        left = [u for u in names if (not only or u.lower() in only) and u.lower() not in ignore]
        names = left or names
        for slug in prefs.get("order") or []:
            match = [u for u in names if u.lower() == str(slug)]
            if match:
                return match[0]
    return names[n % len(names)]


def error_reply(f: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Status, body and headers of a scripted refusal, as OpenRouter sends them."""
    headers: dict[str, str] = {}
    body: dict[str, Any]
    if f == "429":
        status = 429
        body = {"error": {"code": 429, "message": "Rate limit exceeded: too many requests"}}
        headers = {
            "Retry-After": "1",
            "X-RateLimit-Limit": "20",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(int((time.time() + 1) * 1000)),
        }
    elif f == "429up":
        status = 429
        body = {
            "error": {
                "code": 429,
                "message": "Provider returned error",
                "metadata": {"provider_name": "DeepInfra", "provider_code": 429, "raw": "busy"},
            }
        }
    elif f == "402":
        status = 402
        body = {
            "error": {
                "code": 402,
                "message": "Key limit exceeded",
                "metadata": {"limit_source": "openrouter_key_limit"},
            }
        }
    else:
        status = int(f)
        msg = {"400": "Invalid request", "500": "Internal error", "502": "Bad gateway"}[f]
        body = {"error": {"code": status, "message": msg}}
    return status, body, headers


def price_strings(p: dict[str, float]) -> dict[str, str]:
    """Prices as OpenRouter publishes them: decimal strings, USD per token."""
    return {k: f"{v:.10f}".rstrip("0") for k, v in p.items()}


def model_body() -> dict[str, Any]:
    """The one model of ``GET /models``."""
    # The list price OpenRouter shows is the cheapest upstream's.
    cheapest = min(UPSTREAMS.values(), key=lambda p: p["prompt"])
    return {
        "id": MODEL,
        "name": "Simulated e2e model",
        "context_length": 262144,
        "pricing": price_strings(cheapest),
    }


def endpoints() -> list[dict[str, Any]]:
    """``GET /models/{author}/{slug}/endpoints``: one endpoint per upstream, own prices."""
    return [
        {
            "provider_name": name,
            "tag": name.lower(),
            "pricing": price_strings(p),
            "context_length": 262144,
            "status": 0,
        }
        for name, p in UPSTREAMS.items()
    ]


def generation_body(r: Request) -> dict[str, Any]:
    """``GET /generation``: what the bill says about one request."""
    return {
        "id": r.generation_id,
        "model": r.model,
        "provider_name": r.upstream,
        "total_cost": r.cost,
        "usage": r.cost,
        "tokens_prompt": r.prompt_tokens,
        "tokens_completion": r.completion_tokens,
        "native_tokens_prompt": r.prompt_tokens,
        "native_tokens_completion": r.completion_tokens,
        "native_tokens_cached": r.cached_tokens,
        "native_tokens_reasoning": r.reasoning_tokens,
        "finish_reason": r.finish_reason,
        "cancelled": r.fault == "cut",
        "latency": 50,
        "generation_time": 50,
        "streamed": r.stream,
        "provider_responses": [{"provider_name": r.upstream, "status": 200, "latency": 50}],
    }


def key_body(total: float) -> dict[str, Any]:
    """``GET /key``: usage is everything billed so far (one UTC day, one key)."""
    return {
        "label": "sk-or-v1-sim...e2e",
        "limit": None,
        "limit_remaining": None,
        "limit_reset": None,
        "usage": total,
        "usage_daily": total,
        "usage_weekly": total,
        "usage_monthly": total,
        "is_free_tier": False,
        "is_management_key": False,
    }


def chunk(h: BaseHTTPRequestHandler, data: bytes) -> None:
    """One HTTP/1.1 chunk; an empty one ends the body."""
    h.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
    h.wfile.flush()


def send_json(
    h: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str] | None = None
) -> None:
    """A JSON reply; a client that hung up is not an error of ours."""
    data = json.dumps(body).encode()
    try:
        h.send_response(status)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)
    except (BrokenPipeError, ConnectionResetError):
        pass
