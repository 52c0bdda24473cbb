"""OpenRouter's management API: list the account's keys, set a key's limit, and read the
account's activity (the last 30 completed UTC days per model and upstream).

The management key is powerful (it can create, disable and re-limit every key of the
account), so it is sent only here, only in the Authorization header, and only to
``{base_url}/keys`` and ``{base_url}/activity`` on the configured OpenRouter URL;
redirects are never followed.
Failures use the same taxonomy and one-line messages as
:mod:`hermes_dash.openrouter.client`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from hermes_dash.openrouter import errors
from hermes_dash.openrouter.client import (
    DEFAULT_BASE_URL,
    DEFAULT_DEADLINE_S,
    DEFAULT_TIMEOUT_S,
    error_for_status,
    mask_key,
    redact,
)
from hermes_dash.openrouter.records import ActivityRow, _bool, _num, _spend, _str
from hermes_dash.openrouter.wire import decode_json, unusable_key
from hermes_dash.text import clean, shown_url

if TYPE_CHECKING:
    import httpx

#: ``GET /keys`` answers in pages of this many keys.
PAGE_SIZE = 100
#: A server that never stops paging is broken: 100 pages are 10,000 keys.
MAX_PAGES = 100
MAX_KEYS = MAX_PAGES * PAGE_SIZE
MAX_BODY = 8 * 1024 * 1024
#: Listing every page, whatever the server does (a drip-fed or never-ending answer).
LIST_DEADLINE_S = 60.0
LIMIT_RESETS = ("daily", "weekly", "monthly")
#: The endpoints the management key is sent to, and to nothing else.
MANAGEMENT_PATHS = ("/keys", "/activity")


@dataclass(frozen=True)
class KeyRecord:
    """One API key of the account, as ``GET /keys`` lists it (USD)."""

    hash: str
    name: str | None
    label: str | None
    disabled: bool
    limit: float | None
    limit_remaining: float | None
    limit_reset: str | None
    usage: float | None
    usage_daily: float | None
    usage_weekly: float | None
    usage_monthly: float | None
    byok_usage: float | None
    include_byok_in_limit: bool | None

    @property
    def display_name(self) -> str:
        """The name, else the label, else the start of the hash: cleaned of terminal
        control, since every caller shows it (matching uses the raw fields)."""
        return clean(self.name or self.label or self.hash[:12], 80)

    @classmethod
    def parse(cls, item: Any) -> KeyRecord:
        """Parse one key object."""
        if not isinstance(item, Mapping):
            raise errors.MalformedResponse("key entry is not an object")
        key_hash = _str(item, "hash")
        if not key_hash:
            raise errors.MalformedResponse("key entry lacks a hash")
        return cls(
            hash=key_hash,
            name=_str(item, "name"),
            label=_str(item, "label"),
            disabled=bool(_bool(item, "disabled")),
            limit=_num(item, "limit"),
            limit_remaining=_num(item, "limit_remaining"),
            limit_reset=_str(item, "limit_reset"),
            usage=_spend(item, "usage"),
            usage_daily=_spend(item, "usage_daily"),
            usage_weekly=_spend(item, "usage_weekly"),
            usage_monthly=_spend(item, "usage_monthly"),
            byok_usage=_spend(item, "byok_usage"),
            include_byok_in_limit=_bool(item, "include_byok_in_limit"),
        )


def _management_message(exc: errors.OpenRouterError) -> errors.OpenRouterError:
    """The client's messages speak of the API key; here it is the management key."""
    if isinstance(exc, errors.Unauthorized):
        return errors.Unauthorized(
            "OpenRouter rejected the management key (401 unauthorized); "
            "check OPENROUTER_MANAGEMENT_KEY"
        )
    if isinstance(exc, errors.Forbidden):
        return errors.Forbidden(
            f"{exc}; is OPENROUTER_MANAGEMENT_KEY a management key "
            "(openrouter.ai/settings/management-keys)?"
        )
    return exc


class ManagementClient:
    """``GET /keys`` (all pages) and ``PATCH /keys/{hash}`` with the management key."""

    def __init__(
        self,
        management_key: str | None,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = DEFAULT_TIMEOUT_S,
        deadline: float = DEFAULT_DEADLINE_S,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self._key = management_key
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._deadline = deadline
        self._transport = transport
        self._pool: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        return f"ManagementClient({shown_url(self.base_url)!r}, key={mask_key(self._key)})"

    @property
    def has_key(self) -> bool:
        """Whether a management key is configured."""
        return bool(self._key)

    @property
    def masked_key(self) -> str:
        """The management key, masked for display."""
        return mask_key(self._key)

    async def aclose(self) -> None:
        """Close the connection pool."""
        if self._pool is not None:
            await self._pool.aclose()

    def _http(self) -> httpx.AsyncClient:
        if self._pool is None:
            import httpx

            self._pool = httpx.AsyncClient(
                timeout=httpx.Timeout(self._timeout),
                transport=self._transport,
                follow_redirects=False,  # the key must not travel to another address
                headers={"User-Agent": "hermes-dash", "X-Title": "hermes-dash"},
            )
        return self._pool

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> Any:
        import httpx

        if not self._key:
            raise errors.Unauthorized("no OPENROUTER_MANAGEMENT_KEY configured")
        if not path.startswith(MANAGEMENT_PATHS):  # the endpoints this key is for
            raise ValueError(f"management key requested for {path}")
        if why := unusable_key(self._key, "OPENROUTER_MANAGEMENT_KEY"):
            raise errors.UnusableKey(why)
        headers = {"Authorization": f"Bearer {self._key}"}
        url = f"{self.base_url}{path}"
        what = f"{method} {path if path in MANAGEMENT_PATHS else '/keys/…'}"
        try:
            # A total deadline: the per-read timeout alone lets a server that drips a
            # byte at a time hold the command for ever.
            async with asyncio.timeout(self._deadline):
                status, content, response = await self._send(method, url, params, body, headers)
        except (TimeoutError, httpx.TimeoutException):
            raise errors.RequestTimeout(f"OpenRouter did not answer {what} in time") from None
        except httpx.ConnectError:
            raise errors.ConnectionFailed(
                f"cannot connect to OpenRouter at {shown_url(self.base_url)}"
            ) from None
        except httpx.HTTPError as exc:
            raise errors.ConnectionFailed(
                f"{what} to OpenRouter failed ({type(exc).__name__})"
            ) from None
        if content is None:
            raise errors.MalformedResponse(f"OpenRouter's answer to {what} is too large")
        if 300 <= status < 400:
            raise errors.ConnectionFailed(
                f"OpenRouter answered {what} with a redirect (HTTP {status}), not followed: "
                "the management key goes to the configured URL only (check --openrouter-url)"
            )
        if status >= 300:
            failure = _management_message(error_for_status(status, content, response, (self._key,)))
            failure.args = (redact(str(failure), self._key),)
            raise failure
        # Deep nesting, NaN or a 5,000-digit number: one MalformedResponse, never a crash.
        return decode_json(content, what)

    async def _send(
        self,
        method: str,
        url: str,
        params: dict[str, str] | None,
        body: dict[str, Any] | None,
        headers: dict[str, str],
    ) -> tuple[int, bytes | None, httpx.Response]:
        """Status and body (None when larger than MAX_BODY: reading stops there)."""
        http = self._http()
        async with http.stream(method, url, params=params, json=body, headers=headers) as response:
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_BODY:
                    return response.status_code, None, response
                chunks.append(chunk)
            return response.status_code, b"".join(chunks), response

    async def list_keys(self) -> list[KeyRecord]:
        """Every key of the account, following ``offset`` pages (within LIST_DEADLINE_S)."""
        try:
            async with asyncio.timeout(LIST_DEADLINE_S):
                return await self._list_pages()
        except TimeoutError:
            raise errors.RequestTimeout(
                f"OpenRouter did not list the keys within {LIST_DEADLINE_S:g} s"
            ) from None

    async def _list_pages(self) -> list[KeyRecord]:
        keys: list[KeyRecord] = []
        seen: set[str] = set()
        for page in range(MAX_PAGES + 1):  # the one after a 10,000th key says if it was the last
            body = await self._request("GET", "/keys", params={"offset": str(page * PAGE_SIZE)})
            if not isinstance(body, Mapping) or not isinstance(body.get("data"), list):
                raise errors.MalformedResponse("unexpected /keys answer: no 'data' list")
            try:
                items = [KeyRecord.parse(item) for item in body["data"]]
            except errors.MalformedResponse as exc:
                raise errors.MalformedResponse(f"unexpected /keys answer: {exc}") from None
            fresh = [k for k in items if k.hash not in seen]
            seen.update(k.hash for k in fresh)
            keys.extend(fresh)
            if len(keys) > MAX_KEYS:
                break
            # A short page is the last; a page of nothing new means the server ignores
            # offset, and asking again would loop.
            if len(items) < PAGE_SIZE or not fresh:
                return keys
        # Part of the account shown as all of it would understate every total.
        raise errors.MalformedResponse(
            f"OpenRouter listed more than {MAX_KEYS:,} keys without a last page; "
            "hermes-dash does not show part of an account as the whole"
        )

    async def set_limit(self, key_hash: str, limit: float | None, reset: str | None) -> KeyRecord:
        """``PATCH /keys/{hash}`` with ``limit`` and ``limit_reset``; the updated key."""
        if reset is not None and reset not in LIMIT_RESETS:
            raise ValueError(f"limit_reset must be one of {', '.join(LIMIT_RESETS)}")
        body = await self._request(
            "PATCH",
            f"/keys/{quote(key_hash, safe='')}",
            body={"limit": limit, "limit_reset": reset},
        )
        if not isinstance(body, Mapping):
            raise errors.MalformedResponse("unexpected PATCH /keys answer")
        updated = KeyRecord.parse(body.get("data", body))
        if updated.hash != key_hash:
            # Reporting another key's limit as this one's would tell the user a cap is in
            # place when it may not be.
            raise errors.MalformedResponse(
                "OpenRouter's answer to PATCH /keys/… is about another key; the limit may "
                "not be set: check it with `hermes-dash budget show`"
            )
        return updated

    async def activity(self, date: str | None = None) -> list[ActivityRow]:
        """``GET /activity``: per UTC day, model and upstream, the last 30 completed days
        (today is never in it); ``date`` (``YYYY-MM-DD``) asks for that one day."""
        if date is not None and not _is_iso_date(date):
            raise ValueError("the activity date must be YYYY-MM-DD")
        body = await self._request("GET", "/activity", params={"date": date} if date else None)
        try:
            return ActivityRow.parse_list(body)
        except errors.MalformedResponse as exc:
            raise errors.MalformedResponse(f"unexpected /activity answer: {exc}") from None


def _is_iso_date(text: str) -> bool:
    try:
        return dt.date.fromisoformat(text).isoformat() == text
    except ValueError:
        return False
