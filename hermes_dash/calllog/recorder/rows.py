"""One finished wire attempt as a calls row (runs on the writer thread)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import parse

if TYPE_CHECKING:
    from .wire import Attempt


def _http_reason(status: int) -> str:
    if status == 429:
        return "rate_limit"
    if status == 402:
        return "payment_required"
    if status in (401, 403):
        return "auth"
    if status >= 500:
        return "server_error"
    return f"http_{status}"


def attempt_row(a: Attempt) -> dict[str, Any]:
    """The calls row of one attempt: status, timing, usage and billed cost as seen."""
    reader = a.reader
    facts = None
    if reader is not None:
        reader.decode()
        facts = reader.facts
    http_ok = a.status is not None and 200 <= a.status < 300
    body_error = facts.error if facts is not None else None
    # A 200 whose body was no JSON (a proxy's HTML page, an empty body) answered nothing.
    bad_body = reader is not None and reader.undecodable
    ok = a.outcome == "complete" and http_ok and body_error is None and not bad_body
    if ok:
        reason = None
    elif a.status is not None and not http_ok:
        reason = _http_reason(a.status)
    elif body_error is not None:
        reason = "stream_error"  # a failure after streaming began, inside a 200
    elif bad_body and a.outcome == "complete":
        reason = "bad_body"
    else:
        reason = a.error_reason or "error"
    ended = a.ended if a.ended is not None else a.started
    ttft = None
    if reader is not None and reader.sse and reader.first_event_at is not None:
        ttft = reader.first_event_at - a.started
    elif a.first_byte is not None:
        ttft = a.first_byte
    usage = parse.usage_columns(facts.usage) if facts is not None and facts.usage else {}
    cost = usage.pop("cost_usd", None)
    if cost is not None:
        cost_source: str | None = "openrouter"
    elif not http_ok:
        # Refused or never answered: not billed, so the cost is known to be nothing.
        cost, cost_source = 0.0, "none"
    else:
        cost_source = None  # unknown until /generation or an estimate fills it in
    headers = a.headers
    ctx = a.ctx
    row: dict[str, Any] = {
        "started_at": a.started,
        "ended_at": ended,
        "session_id": ctx.session_id,
        "task_id": ctx.task_id,
        "request_id": ctx.request_id,
        "platform": ctx.platform,
        "provider": ctx.provider,
        "base_url_host": a.host,
        "model": a.model or (facts.model if facts is not None else None) or "",
        "response_model": facts.model if facts is not None else None,
        "upstream": facts.upstream if facts is not None else None,
        "generation_id": facts.generation_id if facts is not None else None,
        "status": "ok" if ok else "error",
        "http_status": a.status,
        "error_reason": reason,
        "retry_count": a.attempt - 1,
        "latency_s": max(0.0, ended - a.started),
        "finish_reason": facts.finish_reason if facts is not None else None,
        "cost_usd": cost,
        "cost_source": cost_source,
        "call_key": a.call_key,
        "attempt": a.attempt,
        "source": "wire",
        "task": ctx.task,
        "api": a.api,
        "endpoint": a.endpoint,
        "stream": 1 if (reader is not None and reader.sse) else 0,
        "ttft_s": ttft,
        "wait_s": a.wait_s,
        "retry_after_s": parse.retry_after(headers.get("retry-after"), a.started),
        "ratelimit_limit": _num(headers.get("x-ratelimit-limit")),
        "ratelimit_remaining": _num(headers.get("x-ratelimit-remaining")),
        "ratelimit_reset": parse.ratelimit_reset(headers.get("x-ratelimit-reset"), a.started),
        **usage,
        **parse.error_columns(body_error),
    }
    return row


def _num(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
