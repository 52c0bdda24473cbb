"""One async client for the OpenRouter endpoints hermes-dash reads.

Every call has a timeout, reads at most ``max_body`` bytes, and turns every failure into
an :mod:`hermes_dash.openrouter.errors` exception. The key travels only in the
Authorization header; it never appears in a message, a log line or a repr.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Union
from urllib.parse import quote

from hermes_dash.openrouter import errors

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

#: A transport, or a function that builds one when the first request is made.
Transport = Union["httpx.AsyncBaseTransport", Callable[[], "httpx.AsyncBaseTransport"]]

DEFAULT_BASE_URL = "https://openrouter.ai/api/v1"
DEFAULT_TIMEOUT_S = 10.0
#: ``/models`` is a few MB; anything far larger is not a real answer.
DEFAULT_MAX_BODY = 16 * 1024 * 1024


def mask_key(key: str | None) -> str:
    """``sk-or-v1-…abcd``: enough to tell keys apart, never enough to use one."""
    if not key:
        return "(none)"
    prefix = "sk-or-v1-" if key.startswith("sk-or-v1-") else ""
    tail = key[-4:] if len(key) >= 12 else ""
    return f"{prefix}…{tail}"


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


_KEY_LIKE = re.compile(r"sk-or-[A-Za-z0-9_-]{6,}")


def redact(text: str, *keys: str | None) -> str:
    """Mask our keys, and anything shaped like an OpenRouter key, in text we show."""
    for key in keys:
        if key:
            text = text.replace(key, mask_key(key))
    return _KEY_LIKE.sub(lambda m: mask_key(m.group(0)), text)


def _server_message(body: bytes) -> str:
    """OpenRouter's own error message, shortened, when the body has one."""
    try:
        parsed = json.loads(body)
        message = parsed["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return ""
    if not isinstance(message, str):
        return ""
    # A server may echo what it was sent; never let a key through.
    message = redact(" ".join(message.split()))
    return f": {message[:160]}" if message else ""


def error_for_status(
    status: int, body: bytes, response: httpx.Response | None = None
) -> errors.OpenRouterError:
    """Map an HTTP error status to the taxonomy."""
    detail = _server_message(body)
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
        after = _retry_after(response) if response is not None else None
        hint = f", retry after {after:g} s" if after is not None else ""
        return errors.RateLimited(
            f"OpenRouter is rate limiting hermes-dash (429){hint}{detail}", retry_after=after
        )
    if status == 408 or status >= 500:
        return errors.ServerError(f"OpenRouter server error ({status}){detail}", status=status)
    return errors.OpenRouterError(f"OpenRouter answered HTTP {status}{detail}", status=status)


class OpenRouterClient:
    """Async client for ``/key``, ``/credits``, ``/generation``, ``/models``, ``/providers``."""

    def __init__(
        self,
        api_key: str | None,
        *,
        base_url: str = DEFAULT_BASE_URL,
        management_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        max_body: int = DEFAULT_MAX_BODY,
        transport: Transport | None = None,
    ):
        self._api_key = api_key
        self._management_key = management_key
        self.base_url = base_url.rstrip("/")
        self.max_body = max_body
        self._timeout = timeout
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
        return f"OpenRouterClient({self.base_url!r}, key={mask_key(self._api_key)})"

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
        self, path: str, *, params: dict[str, str] | None = None, key: str | None = None
    ) -> Any:
        import httpx

        token = key or self._api_key
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
                body = b"".join(chunks)
        except httpx.TimeoutException:
            raise errors.RequestTimeout(f"OpenRouter did not answer {path} in time") from None
        except httpx.ConnectError:
            raise errors.ConnectionFailed(
                f"cannot connect to OpenRouter at {self.base_url}"
            ) from None
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            raise errors.MalformedResponse(
                f"OpenRouter's answer to {path} was cut off ({type(exc).__name__})"
            ) from None
        except httpx.HTTPError as exc:
            raise errors.ConnectionFailed(
                f"request to OpenRouter failed ({type(exc).__name__})"
            ) from None
        if response.status_code >= 400:
            failure = error_for_status(response.status_code, body, response)
            failure.args = (redact(str(failure), self._api_key, self._management_key),)
            raise failure
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise errors.MalformedResponse(f"OpenRouter's answer to {path} is not JSON") from None

    async def key_info(self) -> KeyInfo:
        """``GET /key``."""
        from hermes_dash.openrouter.records import KeyInfo

        if not self._api_key:
            raise errors.Unauthorized("no OpenRouter API key configured")
        return KeyInfo.parse(await self._get("/key"))

    async def credits(self) -> Credits | None:
        """``GET /credits``; None when unknown (403 without a management key, or {0,0})."""
        from hermes_dash.openrouter.records import Credits

        try:
            body = await self._get("/credits", key=self._management_key)
        except errors.Forbidden:
            return None
        return Credits.parse(body)

    @property
    def has_management_key(self) -> bool:
        """Whether a management key (for ``/credits`` and ``/activity``) is configured."""
        return bool(self._management_key)

    async def activity(self) -> list[ActivityRow]:
        """``GET /activity`` (management key): the last 30 completed UTC days per model."""
        from hermes_dash.openrouter.records import ActivityRow

        if not self._management_key:
            raise errors.Forbidden("GET /activity needs OPENROUTER_MANAGEMENT_KEY")
        return ActivityRow.parse_list(await self._get("/activity", key=self._management_key))

    async def generation(self, generation_id: str) -> Generation:
        """``GET /generation?id=...``; NotFound right after a call is normal."""
        from hermes_dash.openrouter.records import Generation

        return Generation.parse(await self._get("/generation", params={"id": generation_id}))

    async def models(self) -> list[ModelInfo]:
        """``GET /models``."""
        from hermes_dash.openrouter.records import ModelInfo

        return ModelInfo.parse_list(await self._get("/models"))

    async def endpoints(self, model_id: str) -> list[Endpoint]:
        """``GET /models/{author}/{slug}/endpoints``."""
        from hermes_dash.openrouter.records import Endpoint

        if "/" not in model_id:
            raise errors.NotFound(f"model id {model_id!r} is not of the form author/slug")
        author, slug = model_id.split("/", 1)
        path = f"/models/{quote(author, safe='')}/{quote(slug, safe=':')}/endpoints"
        return Endpoint.parse_list(await self._get(path))

    async def providers(self) -> list[Provider]:
        """``GET /providers``."""
        from hermes_dash.openrouter.records import Provider

        return Provider.parse_list(await self._get("/providers"))
