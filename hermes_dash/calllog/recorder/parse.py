"""Reading what a model endpoint answered, without keeping what it said.

Standard library only. ``BodyReader`` takes the response body chunk by chunk: a server-sent
event stream is parsed as it passes, keeping only the last ``id``, ``provider``, ``model``,
``usage``, finish reason and error (never the text); a JSON body is buffered (bounded) and
decoded later, on the writer thread. Chat Completions, Responses and Anthropic Messages
shapes are understood.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
import zlib
from collections.abc import Mapping
from typing import Any

#: A JSON body larger than this is not decoded (nothing to learn from a huge body).
MAX_JSON_BODY = 8 * 1024 * 1024
#: How much of the request body's start and end is searched for the model asked.
REQUEST_WINDOW = 16 * 1024

# Only events that can carry what we keep are decoded: the first, and those with a usage,
# a non-null finish reason, a stop reason, an error or a final status.
_INTERESTING = re.compile(
    rb'"usage"\s*:\s*\{|"finish_reason"\s*:\s*"|"stop_reason"\s*:\s*"|"error"\s*:\s*\{'
    rb'|"type"\s*:\s*"(?:response\.(?:completed|failed|incomplete)|error)"'
)
# A stream's own end: a line (never text inside a JSON string, where a newline is escaped)
# that is ``data: [DONE]``, or the event of Anthropic's ``message_stop`` or the Responses
# API's ``response.completed``. ``(?<![^\n])`` anchors it at a line start.
_END_EVENT = re.compile(
    rb"(?<![^\n])(?:data: ?\[DONE\]|event: ?(?:message_stop|response\.completed)\r?\n"
    rb'|data: ?\{\s*"type"\s*:\s*"(?:message_stop|response\.completed)")'
)
# The blank line that closes an event: only then has the end event's data all arrived.
_EVENT_CLOSE = re.compile(rb"\n\r?\n")
_MODEL = re.compile(rb'"model"\s*:\s*"((?:[^"\\]|\\.){1,300})"')
_STREAM = re.compile(rb'"stream"\s*:\s*true')


def sniff_request(body: bytes | None) -> tuple[str | None, bool]:
    """(model asked, stream asked) from a JSON request body, reading at most two windows.

    SDKs serialise the model either before or after the (possibly huge) messages, so the
    first and last ``REQUEST_WINDOW`` bytes are enough; escaped quotes inside message text
    never match the pattern.
    """
    if not body:
        return None, False
    head = body[:REQUEST_WINDOW]
    tail = body[-REQUEST_WINDOW:] if len(body) > REQUEST_WINDOW else b""
    model = None
    m = _MODEL.search(head)
    if m is None and tail:
        found = list(_MODEL.finditer(tail))
        m = found[-1] if found else None
    if m is not None:
        try:
            model = json.loads(b'"' + m.group(1) + b'"')
        except ValueError:
            model = None
    stream = bool(_STREAM.search(head) or (tail and _STREAM.search(tail)))
    return (model if isinstance(model, str) else None), stream


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: a number, or an HTTP date turned into seconds from now."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    # An HTTP date is rare (servers send seconds): the email package loads only for one,
    # not with every importer of the call log's schema.
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def ratelimit_reset(value: str | None, now: float | None = None) -> float | None:
    """``X-RateLimit-Reset`` as unix seconds (OpenRouter sends milliseconds; small numbers
    are seconds from now)."""
    try:
        x = float(value) if value else None
    except ValueError:
        return None
    if x is None or x != x:
        return None
    now = time.time() if now is None else now
    if x > 1e11:
        return x / 1000.0
    if x < 1e9:
        return now + x
    return x


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value) if value == value and abs(value) < 1e15 else None


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


class BodyFacts:
    """What one response said about itself (no text)."""

    __slots__ = (
        "done",
        "error",
        "finish_reason",
        "generation_id",
        "model",
        "upstream",
        "usage",
    )

    def __init__(self) -> None:
        self.generation_id: str | None = None
        self.upstream: str | None = None
        self.model: str | None = None
        self.usage: dict[str, Any] = {}
        self.finish_reason: str | None = None
        self.error: Mapping[str, Any] | None = None
        self.done = False  # the stream's own end marker was seen

    def absorb(self, obj: Any) -> None:
        """Take what matters from one decoded JSON object (a body or one SSE event)."""
        if not isinstance(obj, Mapping):
            return
        kind = obj.get("type")
        sub = obj
        if isinstance(obj.get("response"), Mapping):  # Responses API events
            sub = obj["response"]
        elif kind == "message_start" and isinstance(obj.get("message"), Mapping):
            sub = obj["message"]  # Anthropic Messages
        for key, attr in (("id", "generation_id"), ("provider", "upstream"), ("model", "model")):
            value = sub.get(key)
            if isinstance(value, str) and value:
                setattr(self, attr, value)
        usage = sub.get("usage")
        if isinstance(usage, Mapping):
            # Anthropic spreads usage over events: later keys complete earlier ones.
            self.usage.update(usage)
        choices = sub.get("choices")
        if isinstance(choices, list):
            for choice in choices[:8]:
                choice = _dict(choice)
                reason = choice.get("finish_reason")
                if isinstance(reason, str) and reason:
                    self.finish_reason = reason
                if isinstance(choice.get("error"), Mapping):
                    self.error = choice["error"]
                elif reason == "error" and self.error is None:
                    self.error = {"code": "stream_error"}
        reason = _dict(obj.get("delta")).get("stop_reason") or sub.get("stop_reason")
        if isinstance(reason, str) and reason:
            self.finish_reason = reason
        status = sub.get("status") if sub is not obj else None
        if isinstance(status, str) and status in ("completed", "failed", "incomplete"):
            self.finish_reason = status
            if status == "failed" and self.error is None:
                self.error = _dict(sub.get("error")) or {"code": "failed"}
        if isinstance(obj.get("error"), Mapping):
            self.error = obj["error"]
        elif kind == "error" and self.error is None:
            self.error = {"code": "stream_error"}


class BodyReader:
    """Fed the raw body chunks as they pass to the caller; keeps only what it needs.

    On the caller's thread a chunk costs an append: an SSE stream keeps its first
    ``HEAD`` bytes (the first event: id, upstream, model) and its last ``TAIL`` bytes
    (the usage chunk, the finish reason, an error chunk: all at the end of a stream), a
    JSON body is buffered up to ``MAX_JSON_BODY``. ``decode`` runs later, on the writer
    thread, and drops the bytes once ``BodyFacts`` is filled.
    """

    HEAD = 64 * 1024
    TAIL = 256 * 1024

    def __init__(self, content_type: str, content_encoding: str) -> None:
        self.sse = "text/event-stream" in content_type
        # Every model API answers JSON when it does not stream: a body typed otherwise
        # (none, text/plain, a proxy's HTML) is still read, to learn whether it was JSON.
        self.json = not self.sse
        self.undecodable = False  # a whole body that was not JSON: Hermes got no answer
        encoding = content_encoding.strip().lower()
        self._inflate: Any = None
        self.readable = encoding in ("", "identity", "gzip", "deflate")
        if encoding == "gzip":
            self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._inflate = zlib.decompressobj()
        self.facts = BodyFacts()
        self.first_event_at: float | None = None
        self._head = bytearray()
        self._body = bytearray()  # the tail of a stream, or a whole JSON body
        self._trimmed = False
        self._too_big = False
        self.end_seen = False  # the end event has begun (its line start passed)
        self.stream_done = False  # ... and its closing blank line too: nothing more to come

    def feed(self, chunk: bytes) -> None:
        """One raw chunk as it came off the wire."""
        if not self.readable or not (self.sse or self.json):
            return
        if self._inflate is not None:
            chunk = self._inflate.decompress(chunk, MAX_JSON_BODY)
        if self.sse:
            if self.first_event_at is None and b"data:" in chunk:
                self.first_event_at = time.time()  # time to the first event, not a comment
            if len(self._head) < self.HEAD:
                self._head += chunk[: self.HEAD - len(self._head)]
            self._body += chunk
            if not self.stream_done:
                self._check_end(len(chunk))
            if len(self._body) > 2 * self.TAIL:  # trimmed now and then: amortised O(1)
                del self._body[: -self.TAIL]
                self._trimmed = True
        elif not self._too_big:
            if len(self._body) + len(chunk) > MAX_JSON_BODY:
                self._too_big = True
                self._body = bytearray()
            else:
                self._body += chunk

    def _check_end(self, new: int) -> None:
        """Look for the stream's end event in the ``new`` bytes just kept (and a few
        before them, for a marker or a line start split across chunks)."""
        body = self._body
        if self.end_seen:
            # Only bytes after the end event's start: a blank line before it is not its close.
            if _EVENT_CLOSE.search(bytes(body[-(new + 2) :])):
                self.stream_done = True
            return
        start = max(0, len(body) - new - 128)
        view = bytes(body[start:])
        if start:
            # Start at a line start: a marker is only one at the beginning of a line.
            nl = view.find(b"\n")
            view = view[nl:] if nl >= 0 else b""
        m = _END_EVENT.search(view)
        if m is None:
            return
        self.end_seen = True
        self.stream_done = _EVENT_CLOSE.search(view, m.end() - 1) is not None

    def saw_end(self) -> bool:
        """Whether the stream's own end event has passed (a close after it loses nothing)."""
        return self.sse and self.end_seen

    def decode(self) -> None:
        """Fill ``facts`` from what was kept (called on the writer thread)."""
        if self.sse:
            if self._trimmed:
                self._events(bytes(self._head), first_only=True)
                tail = bytes(self._body)
                self._events(tail[tail.find(b"\n") + 1 :])  # from the first whole line
            else:
                self._events(bytes(self._body))
        elif self.json and self.readable and not self._too_big:
            try:
                self.facts.absorb(json.loads(bytes(self._body)))
            except RecursionError:
                pass  # JSON too deeply nested for us, not necessarily for the caller
            except ValueError:
                self.undecodable = True
        self._head = bytearray()
        self._body = bytearray()

    def _events(self, data: bytes, first_only: bool = False) -> None:
        """Decode the first event, then only the lines an interesting pattern occurs in
        (one regex pass in C rather than a Python loop over every token's event)."""
        lines: list[bytes] = []
        first = data.find(b"data:")
        if first >= 0:
            lines.append(_line_at(data, first))
        if not first_only:
            if _END_EVENT.search(data):
                self.facts.done = True
            last = -1
            for match in _INTERESTING.finditer(data):
                if match.start() <= last:
                    continue
                line_end = data.find(b"\n", match.end())
                last = len(data) if line_end < 0 else line_end
                lines.append(_line_at(data, match.start()))
        for line in lines:
            if line.startswith(b"data:"):
                payload = line[5:].strip()
                if payload and payload != b"[DONE]":
                    with contextlib.suppress(ValueError, RecursionError):
                        self.facts.absorb(json.loads(payload))


def _line_at(data: bytes, pos: int) -> bytes:
    start = data.rfind(b"\n", 0, pos) + 1
    end = data.find(b"\n", pos)
    return data[start : len(data) if end < 0 else end].rstrip(b"\r")


def usage_columns(usage: Mapping[str, Any]) -> dict[str, Any]:
    """Usage as the wire reports it, in calls columns (``input_tokens`` counts the whole
    prompt, cache reads included; ``cache_read_tokens`` is the cached part)."""
    prompt_details = _dict(usage.get("prompt_tokens_details")) or _dict(
        usage.get("input_tokens_details")
    )
    completion_details = _dict(usage.get("completion_tokens_details")) or _dict(
        usage.get("output_tokens_details")
    )
    cache_read = _int(prompt_details.get("cached_tokens"))
    cache_write = _int(prompt_details.get("cache_write_tokens"))
    prompt = _int(usage.get("prompt_tokens"))
    output = _int(usage.get("completion_tokens"))
    if "cache_read_input_tokens" in usage or "cache_creation_input_tokens" in usage:
        # Anthropic: input_tokens excludes the cached part; the wire total includes it.
        cache_read = _int(usage.get("cache_read_input_tokens")) or 0
        cache_write = _int(usage.get("cache_creation_input_tokens")) or 0
        base = _int(usage.get("input_tokens"))
        prompt = None if base is None else base + cache_read + cache_write
    elif prompt is None:
        prompt = _int(usage.get("input_tokens"))  # Responses API
    if output is None:
        output = _int(usage.get("output_tokens"))
    cost = usage.get("cost")
    cost_details = _dict(usage.get("cost_details"))
    return {
        "input_tokens": prompt,
        "output_tokens": output,
        "cache_read_tokens": cache_read,
        "cache_write_tokens": cache_write,
        "reasoning_tokens": _int(completion_details.get("reasoning_tokens")),
        "cost_usd": cost if isinstance(cost, (int, float)) and not isinstance(cost, bool) else None,
        "upstream_cost_usd": cost_details.get("upstream_inference_cost"),
    }


def error_columns(error: Mapping[str, Any] | None) -> dict[str, Any]:
    """OpenRouter's error object in calls columns (code and metadata only, no message)."""
    if not error:
        return {}
    meta = _dict(error.get("metadata"))
    code = error.get("code")
    if code is None:
        code = error.get("type")
    return {
        "error_code": code,
        "error_provider": meta.get("provider_name"),
        "limit_source": meta.get("limit_source"),
    }
