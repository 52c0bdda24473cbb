"""One async client for the OpenRouter endpoints hermes-dash reads.

Every call has a total deadline (connection, headers and body together, so a server that
drips a byte at a time still fails in time), reads at most ``max_body`` bytes, and turns
every failure into an :mod:`hermes_dash.openrouter.errors` exception: a body nested too
deeply, numbers no float can hold or fields of the wrong type included. Large bodies are
parsed on a worker thread so that a dashboard keeps drawing meanwhile. The key travels
only in the Authorization header; it never appears in a message, a log line or a repr.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, Union
from urllib.parse import quote

from hermes_dash.openrouter import errors
from hermes_dash.openrouter.wire import (
    decode_json,
    mask_key,
    redact,
    retry_after_seconds,
    server_message,
    unusable_key,
)
from hermes_dash.text import shown_url

if TYPE_CHECKING:
    import httpx

    from hermes_dash.openrouter.records import (
        ActivityRow,
        Credits,
        Endpoint,
        Generation,
        KeyInfo,
        ModelInfo,
        Provider,
    )

__all__ = ["OpenRouterClient", "error_for_status", "mask_key", "redact"]

#: A transport, or a function that builds one when the first request is made.
Transport = Union["httpx.AsyncBaseTransport", Callable[[], "httpx.AsyncBaseTransport"]]
T = TypeVar("T")

DEFAULT_BASE_URL = "https://openrouter.ai/api/v1"
#: Longest wait for any one read or connect.
DEFAULT_TIMEOUT_S = 10.0
#: Longest a whole request may take, body included. Two of them (``/key`` and
#: ``/credits`` run side by side) fit well inside ``summary``'s 60 s bound.
DEFAULT_DEADLINE_S = 20.0
#: ``/models`` is a few MB; anything far larger is not a real answer.
DEFAULT_MAX_BODY = 16 * 1024 * 1024
#: Bodies up to this size are parsed in place: a thread hop costs more than they take.
INLINE_PARSE_BYTES = 64 * 1024


def error_for_status(
    status: int,
    body: bytes,
    response: httpx.Response | None = None,
    keys: tuple[str | None, ...] = (),
) -> errors.OpenRouterError:
    """Map an HTTP error status to the taxonomy; ``keys`` are scrubbed from the server's
    message before it is shortened."""
    message = server_message(body, keys)
    detail = f": {message}" if message else ""
    if status == 401:
        return errors.Unauthorized(
            f"OpenRouter rejected the API key (401 unauthorized){detail}; "
            "check OPENROUTER_API_KEY or $HERMES_HOME/.env"
        )
    if status == 402:
        return errors.PaymentRequired(
            f"OpenRouter says the account is out of credits (402 payment required){detail}"
        )
    if status == 403:
        return errors.Forbidden(f"OpenRouter refused the request (403 forbidden){detail}")
    if status == 404:
        return errors.NotFound(f"OpenRouter has no such resource (404){detail}")
    if status == 429:
        header = response.headers.get("retry-after") if response is not None else None
        after = retry_after_seconds(header, time.time())
        hint = f", retry after {after:g} s" if after is not None else ""
        return errors.RateLimited(
            f"OpenRouter is rate limiting hermes-dash (429){hint}{detail}", retry_after=after
        )
    if status == 408 or status >= 500:
        return errors.ServerError(f"OpenRouter server error ({status}){detail}", status=status)
    return errors.OpenRouterError(f"OpenRouter answered HTTP {status}{detail}", status=status)


def _parse(body: bytes, path: str, parse: Callable[[Any], T]) -> T:
    """JSON, then records; whatever goes wrong is a MalformedResponse."""
    data = decode_json(body, path)
    try:
        return parse(data)
    except errors.MalformedResponse:
        raise
    except (RecursionError, ValueError, TypeError, OverflowError, AttributeError, KeyError):
        # The record parsers check every field; this is the net under them.
        raise errors.MalformedResponse(
            f"OpenRouter's answer to {path} has an unexpected shape"
        ) from None


class OpenRouterClient:
    """Async client for ``/key``, ``/credits``, ``/generation``, ``/models``, ``/providers``."""

    def __init__(
        self,
        api_key: str | None,
        *,
        base_url: str = DEFAULT_BASE_URL,
        management_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        deadline: float = DEFAULT_DEADLINE_S,
        max_body: int = DEFAULT_MAX_BODY,
        transport: Transport | None = None,
    ):
        self._api_key = api_key
        self._management_key = management_key
        self.base_url = base_url.rstrip("/")
        self.max_body = max_body
        self._timeout = timeout
        self.deadline = deadline
        self._transport = transport
        # httpx takes tens of milliseconds to import: the pool is built on the first
        # request, so a dashboard draws its first frame without waiting for it.
        self._pool: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._pool is None:
            import httpx

            transport = self._transport
            if callable(transport):
                transport = transport()
            self._pool = httpx.AsyncClient(
                timeout=httpx.Timeout(self._timeout),
                transport=transport,
                headers={"User-Agent": "hermes-dash", "X-Title": "hermes-dash"},
            )
        return self._pool

    def __repr__(self) -> str:
        return f"OpenRouterClient({shown_url(self.base_url)!r}, key={mask_key(self._api_key)})"

    @property
    def has_key(self) -> bool:
        """Whether an API key is configured."""
        return bool(self._api_key)

    @property
    def masked_key(self) -> str:
        """The key, masked for display."""
        return mask_key(self._api_key)

    async def aclose(self) -> None:
        """Close the shared connection pool."""
        if self._pool is not None:
            await self._pool.aclose()

    async def _get(
        self,
        path: str,
        parse: Callable[[Any], T],
        *,
        params: dict[str, str] | None = None,
        key: str | None = None,
    ) -> T:
        """GET ``path`` and build records from the answer with ``parse``."""
        try:
            async with asyncio.timeout(self.deadline):
                status, body, response = await self._fetch(path, params, key)
        except TimeoutError:
            raise errors.RequestTimeout(
                f"OpenRouter did not answer {path} in time (within {self.deadline:g} s)"
            ) from None
        if 300 <= status < 400:
            # Never followed (the key would go along to wherever it points), and an empty
            # body is no reason to call the answer "not JSON".
            raise errors.MalformedResponse(
                f"OpenRouter answered {path} with a redirect ({status}), which is not "
                "followed: check the OpenRouter URL (--openrouter-url)"
            )
        if status >= 400:
            keys = (self._api_key, self._management_key)
            failure = error_for_status(status, body, response, keys)
            failure.args = (redact(str(failure), *keys),)
            raise failure
        if len(body) <= INLINE_PARSE_BYTES:
            return _parse(body, path, parse)
        # Megabytes of JSON take seconds to turn into records: not on the event loop.
        return await asyncio.to_thread(_parse, body, path, parse)

    async def _fetch(
        self, path: str, params: dict[str, str] | None, key: str | None
    ) -> tuple[int, bytes, httpx.Response]:
        """Status and whole body, or an OpenRouterError (the deadline is the caller's)."""
        import httpx

        token = key or self._api_key
        name = "OPENROUTER_API_KEY" if token == self._api_key else "OPENROUTER_MANAGEMENT_KEY"
        if token and (why := unusable_key(token, name)):
            raise errors.UnusableKey(why)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        url = f"{self.base_url}{path}"
        try:
            async with self._http().stream("GET", url, params=params, headers=headers) as response:
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > self.max_body:
                        limit_mb = self.max_body / 1_048_576
                        raise errors.MalformedResponse(
                            f"OpenRouter response to {path} is larger than {limit_mb:g} MB"
                        )
                    chunks.append(chunk)
                return response.status_code, b"".join(chunks), response
        except httpx.TimeoutException:
            raise errors.RequestTimeout(f"OpenRouter did not answer {path} in time") from None
        except httpx.ConnectError:
            raise errors.ConnectionFailed(
                f"cannot connect to OpenRouter at {shown_url(self.base_url)}"
            ) from None
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            raise errors.MalformedResponse(
                f"OpenRouter's answer to {path} was cut off ({type(exc).__name__})"
            ) from None
        except httpx.HTTPError as exc:
            raise errors.ConnectionFailed(
                f"request to OpenRouter failed ({type(exc).__name__})"
            ) from None

    async def key_info(self) -> KeyInfo:
        """``GET /key``."""
        from hermes_dash.openrouter.records import KeyInfo

        if not self._api_key:
            raise errors.Unauthorized("no OpenRouter API key configured")
        return await self._get("/key", KeyInfo.parse)

    async def credits(self) -> Credits | None:
        """``GET /credits``; None when unknown (403 without a management key, or {0,0})."""
        from hermes_dash.openrouter.records import Credits

        try:
            return await self._get("/credits", Credits.parse, key=self._management_key)
        except errors.Forbidden:
            return None

    @property
    def has_management_key(self) -> bool:
        """Whether a management key (for ``/credits`` and ``/activity``) is configured."""
        return bool(self._management_key)

    async def activity(self) -> list[ActivityRow]:
        """``GET /activity`` (management key): the last 30 completed UTC days per model."""
        from hermes_dash.openrouter.records import ActivityRow

        if not self._management_key:
            raise errors.Forbidden("GET /activity needs OPENROUTER_MANAGEMENT_KEY")
        return await self._get("/activity", ActivityRow.parse_list, key=self._management_key)

    async def generation(self, generation_id: str) -> Generation:
        """``GET /generation?id=...``; NotFound right after a call is normal."""
        from hermes_dash.openrouter.records import Generation

        return await self._get("/generation", Generation.parse, params={"id": generation_id})

    async def models(self) -> list[ModelInfo]:
        """``GET /models``."""
        from hermes_dash.openrouter.records import ModelInfo

        return await self._get("/models", ModelInfo.parse_list)

    async def endpoints(self, model_id: str) -> list[Endpoint]:
        """``GET /models/{author}/{slug}/endpoints``."""
        from hermes_dash.openrouter.records import Endpoint

        if "/" not in model_id:
            raise errors.NotFound(f"model id {model_id!r} is not of the form author/slug")
        author, slug = model_id.split("/", 1)
        path = f"/models/{quote(author, safe='')}/{quote(slug, safe=':')}/endpoints"
        return await self._get(path, Endpoint.parse_list)

    async def providers(self) -> list[Provider]:
        """``GET /providers``."""
        from hermes_dash.openrouter.records import Provider

        return await self._get("/providers", Provider.parse_list)
