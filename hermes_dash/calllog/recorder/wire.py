"""Observing model requests on the wire: ``httpx.Client.send`` and ``AsyncClient.send``.

Uses only the httpx Hermes already loaded. Each POST to a path ending in
``/chat/completions``, ``/completions``, ``/responses`` or ``/messages`` becomes one
``Attempt``: timed from the send to the end of the body, its headers read for status,
``Retry-After`` and ``X-RateLimit-*``, its body teed through ``parse.BodyReader`` while the
caller reads it (the caller gets exactly the bytes it would have got). One row per attempt
is handed to the background writer when the body ends, is closed early or fails. A
request whose connection never opened is recorded as an error with no HTTP status.
Every step of the observation is guarded: nothing is ever raised into Hermes.
"""

from __future__ import annotations

import atexit
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from . import context, parse, values, writer

#: Paths (by their end) of the model APIs recorded, and the ``api`` column they give.
MODEL_PATHS = (
    ("/chat/completions", "chat"),
    ("/responses", "responses"),
    ("/messages", "messages"),
    ("/completions", "completions"),
)

_install_lock = threading.Lock()
_originals: dict[str, Any] = {}
#: Attempts still in flight, so that the process's exit can still record them.
_open: dict[int, Attempt] = {}
_open_lock = threading.Lock()
_exit_hook: list[bool] = []
#: Where rows go (set by the plugin: a callable so a later ``configure`` is followed).
db_path: Callable[[], str] | None = None


def model_api(request: Any) -> str | None:
    """The ``api`` of a request to a model endpoint, or None for anything else."""
    if request.method != "POST":
        return None
    path = request.url.path.rstrip("/")
    for suffix, api in MODEL_PATHS:
        if path.endswith(suffix):
            return api
    return None


class Attempt:
    """One HTTP attempt to a model endpoint, from the send to the end of its body."""

    def __init__(self, request: Any, api: str) -> None:
        self.started = time.time()
        self._t0 = time.perf_counter()
        url = request.url
        self.host: str | None = url.host or None
        self.endpoint = values.endpoint(url.host, url.port)
        self.api = api
        body = getattr(request, "_content", None)
        self.model, self.stream_asked = parse.sniff_request(
            body if isinstance(body, bytes) else None
        )
        retry_header = request.headers.get("x-stainless-retry-count") or "0"
        self.ctx = context.infer(self.host, self.model)
        self.call_key, self.attempt, self.wait_s = context.link(
            self.ctx, self.started, retry_header.strip() not in ("", "0")
        )
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.reader: parse.BodyReader | None = None
        self.first_byte: float | None = None
        self.ended: float | None = None
        self.outcome: str | None = None  # None while in flight, then complete/cut/failed
        self.error_reason: str | None = None
        self._path = db_path() if db_path is not None else None
        self._expected: int | None = None  # Content-Length, when the server sent one
        self._received = 0
        with _open_lock:
            _open[id(self)] = self

    def _elapsed(self) -> float:
        return time.perf_counter() - self._t0

    def on_response(self, response: Any) -> None:
        """Headers arrived (the body has not been read yet)."""
        self.status = response.status_code
        h = response.headers
        for name in (
            "retry-after",
            "x-ratelimit-limit",
            "x-ratelimit-remaining",
            "x-ratelimit-reset",
        ):
            value = h.get(name)
            if value is not None:
                self.headers[name] = value[:64]
        self.reader = parse.BodyReader(
            h.get("content-type", "").lower(), h.get("content-encoding", "")
        )
        length = h.get("content-length")
        if length is not None and length.isdigit():
            self._expected = int(length)

    def feed(self, chunk: bytes) -> None:
        """A raw body chunk passing to the caller."""
        try:
            if self.first_byte is None and chunk:
                self.first_byte = self._elapsed()
            self._received += len(chunk)
            reader = self.reader
            if reader is not None:
                reader.feed(chunk)
                # The body's own end ends the attempt, even if the caller never closes
                # the response (its row would otherwise wait for the garbage collector).
                if reader.sse and reader.stream_done:
                    self.end("complete")
            if self._expected is not None and self._received >= self._expected:
                self.end("complete")
        except Exception:
            self.reader = None  # a body we cannot follow: keep timing, drop the facts

    def end(self, outcome: str, reason: str | None = None) -> None:
        """The attempt is over: hand it to the writer once."""
        # Taking the attempt out of the in-flight registry is the once-only guard: the
        # body's end, a close, the garbage collector and the exit may race for it.
        with _open_lock:
            if _open.pop(id(self), None) is None:
                return
        if outcome == "cut" and self.reader is not None and self.reader.saw_end():
            # Closed after the stream's own end marker: nothing was lost.
            outcome, reason = "complete", None
        self.outcome = outcome
        self.error_reason = reason
        try:
            self.ended = self.started + self._elapsed()
            # An error chunk inside a 200 is known only once decoded on the writer thread;
            # a retry after it is linked by Hermes' request id, not by this flag.
            failed = outcome != "complete" or not (200 <= (self.status or 0) < 300)
            context.finished(self.ctx, self.call_key, self.ended, failed)
            if self._path is not None:
                writer.submit(self._path, self.row)
        except Exception:
            pass

    def row(self) -> dict[str, Any]:
        """The calls row (built on the writer thread: JSON bodies are decoded here)."""
        from .rows import attempt_row

        return attempt_row(self)


class _SyncTee:
    """Wraps a response's byte stream: yields every chunk unchanged, observing it."""

    def __init__(self, inner: Any, attempt: Attempt) -> None:
        self._inner = inner
        self._attempt = attempt

    def __iter__(self) -> Iterator[bytes]:
        attempt = self._attempt
        try:
            for chunk in self._inner:
                attempt.feed(chunk)
                yield chunk
        except GeneratorExit:
            attempt.end("cut", "stream_closed_early")
            raise
        except BaseException as exc:
            attempt.end("failed", _reason(exc, started=True))
            raise
        attempt.end("complete")

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            self._attempt.end("cut", "stream_closed_early")

    def __del__(self) -> None:
        # A response dropped without being read to the end or closed is still an attempt.
        self._attempt.end("cut", "stream_abandoned")


class _AsyncTee:
    """The async twin of ``_SyncTee``."""

    def __init__(self, inner: Any, attempt: Attempt) -> None:
        self._inner = inner
        self._attempt = attempt

    async def __aiter__(self) -> AsyncIterator[bytes]:
        attempt = self._attempt
        try:
            async for chunk in self._inner:
                attempt.feed(chunk)
                yield chunk
        except GeneratorExit:
            attempt.end("cut", "stream_closed_early")
            raise
        except BaseException as exc:
            attempt.end("failed", _reason(exc, started=True))
            raise
        attempt.end("complete")

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            self._attempt.end("cut", "stream_closed_early")

    def __del__(self) -> None:
        self._attempt.end("cut", "stream_abandoned")


def _reason(exc: BaseException, started: bool = False) -> str:
    """A short reason for an exception (its class, never its message)."""
    name = type(exc).__name__
    lowered = name.lower()
    if "timeout" in lowered:
        return "timeout"
    if isinstance(exc, (KeyboardInterrupt, SystemExit)) or "cancel" in lowered:
        return "cancelled"
    if started:
        return "stream_cut"  # the body stopped before its end
    if "connect" in lowered:
        return "connect_error"
    return f"error:{name}"


def _begin(request: Any) -> Attempt | None:
    try:
        api = model_api(request)
        return Attempt(request, api) if api else None
    except Exception:
        return None


def _wrap(response: Any, attempt: Attempt, tee: type[Any], base: type[Any]) -> None:
    try:
        attempt.on_response(response)
        content = getattr(response, "_content", None)
        if isinstance(content, bytes):
            # A response built with its body (a mock transport): nothing left to tee.
            attempt.feed(content)
            attempt.end("complete")
            return
        # Subclass the stream base httpx checks with isinstance, at first use.
        response.stream = _typed(tee, base)(response.stream, attempt)
    except Exception:
        attempt.reader = None


_typed_cache: dict[tuple[type[Any], type[Any]], type[Any]] = {}


def _typed(tee: type[Any], base: type[Any]) -> type[Any]:
    cls = _typed_cache.get((tee, base))
    if cls is None:
        cls = type(tee.__name__, (tee, base), {})
        _typed_cache[(tee, base)] = cls
    return cls


def install() -> bool:
    """Wrap httpx's sync and async send once per process (idempotent, thread-safe)."""
    with _install_lock:
        if _originals:
            return True
        try:
            import httpx
        except ImportError:
            return False
        if getattr(httpx.Client.send, "_hermes_dash_wire", False):
            return True  # another copy of the recorder in this process observes already
        sync_send = httpx.Client.send
        async_send = httpx.AsyncClient.send

        def send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
            attempt = _begin(request) if not args else None
            if attempt is None:
                return sync_send(self, request, *args, **kwargs)
            stream = kwargs.get("stream", False)
            try:
                response = sync_send(self, request, **{**kwargs, "stream": True})
            except BaseException as exc:
                attempt.end("failed", _reason(exc))
                raise
            _wrap(response, attempt, _SyncTee, httpx.SyncByteStream)
            if not stream:
                # What httpx.Client.send does for stream=False, after our wrap.
                try:
                    response.read()
                except BaseException:
                    response.close()
                    raise
            return response

        async def asend(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
            attempt = _begin(request) if not args else None
            if attempt is None:
                return await async_send(self, request, *args, **kwargs)
            stream = kwargs.get("stream", False)
            try:
                response = await async_send(self, request, **{**kwargs, "stream": True})
            except BaseException as exc:
                attempt.end("failed", _reason(exc))
                raise
            _wrap(response, attempt, _AsyncTee, httpx.AsyncByteStream)
            if not stream:
                try:
                    await response.aread()
                except BaseException:
                    await response.aclose()
                    raise
            return response

        send.__wrapped__ = sync_send  # type: ignore[attr-defined]
        asend.__wrapped__ = async_send  # type: ignore[attr-defined]
        send._hermes_dash_wire = True  # type: ignore[attr-defined]
        asend._hermes_dash_wire = True  # type: ignore[attr-defined]
        _originals["sync"] = sync_send
        _originals["async"] = async_send
        httpx.Client.send = send  # type: ignore[method-assign]
        httpx.AsyncClient.send = asend  # type: ignore[method-assign]
        if not _exit_hook:
            # Registered after the writer's own flush at exit, so it runs before it.
            atexit.register(end_open_attempts)
            _exit_hook.append(True)
        return True


def end_open_attempts() -> None:
    """At exit: record every attempt still in flight (a body nobody finished reading)."""
    with _open_lock:
        pending = list(_open.values())
    for attempt in pending:
        attempt.end("cut", "unfinished_at_exit")


def installed() -> bool:
    """Whether this process's httpx is observed."""
    return bool(_originals)


def uninstall() -> None:
    """Put httpx's own send back (tests)."""
    with _install_lock:
        if not _originals:
            return
        import httpx

        httpx.Client.send = _originals.pop("sync")  # type: ignore[method-assign]
        httpx.AsyncClient.send = _originals.pop("async")  # type: ignore[method-assign]
