"""What the client does with bytes and headers from a server it cannot trust.

Decoding JSON that may be nested thousands deep or carry numbers no float can hold,
reading ``Retry-After`` in any of its forms, and scrubbing keys out of the text a server
echoes back. Nothing here raises anything but :class:`MalformedResponse`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Iterable
from typing import Any

from hermes_dash.openrouter.errors import MalformedResponse

#: The longest wait a ``Retry-After`` can ask for (the poller's own backoff ceiling):
#: ``inf`` or a date next year must not mean "never ask again".
RETRY_AFTER_MAX_S = 600.0
#: How much of a server's error message is shown.
MESSAGE_CHARS = 160
#: OpenRouter's error objects are a few hundred bytes; a larger error body is not read
#: for a message (it would be parsed on the event loop for nothing).
_ERROR_BODY_MAX = 64 * 1024
#: How much of a message is looked at before redaction; anything beyond can never be
#: shown, and scanning a 16 MB message for key fragments would be slow.
_MESSAGE_SCAN_CHARS = 4096
#: Python refuses to turn longer digit strings into an int (a ValueError that would reject
#: the whole answer); such a number is as unusable as ``1e400`` and becomes infinity,
#: which the record parsers treat as unknown.
_INT_DIGITS_MAX = 4300
#: A run this long of a key's secret part, found anywhere, counts as the key.
_FRAGMENT_CHARS = 8
_KEY_LIKE = re.compile(r"sk-or-[A-Za-z0-9_-]{6,}")
_KEY_PREFIXES = ("sk-or-v1-", "sk-or-")


def _int(text: str) -> int | float:
    return int(text) if len(text.lstrip("-")) <= _INT_DIGITS_MAX else math.inf


def _constant(_name: str) -> float:
    # NaN, Infinity and -Infinity are not JSON; json.loads accepts them unless told not to.
    # They become NaN, which every number parser turns into "unknown".
    return math.nan


def _object(obj: dict[str, Any]) -> dict[str, Any]:
    # A call back into Python per object: the C scanner otherwise holds the GIL for a
    # whole body (a second for 30 MB), and the event loop could not run meanwhile.
    return obj


def decode_json(body: bytes, what: str) -> Any:
    """Parse a body; anything but a readable JSON document is a MalformedResponse."""
    try:
        return json.loads(body, parse_int=_int, parse_constant=_constant, object_hook=_object)
    except RecursionError:
        raise MalformedResponse(f"OpenRouter's answer to {what} is nested too deeply") from None
    except (ValueError, TypeError):
        raise MalformedResponse(f"OpenRouter's answer to {what} is not JSON") from None


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date),
    between 0 and :data:`RETRY_AFTER_MAX_S`; None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        # The date form is rare and email.utils costs ~10 ms to import (sockets and all):
        # only when a server sends one.
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:  # RFC 9110 dates are GMT; a naive one is read as such
            when = when.replace(tzinfo=dt.UTC)
        seconds = when.timestamp() - now
    if math.isnan(seconds):
        return None
    return min(RETRY_AFTER_MAX_S, max(0.0, seconds))


def unusable_key(key: str, name: str = "OPENROUTER_API_KEY") -> str | None:
    """Why ``key`` cannot be a key (it holds a space, a control character or a non-ASCII
    one: an HTTP header cannot carry it), or None when it can."""
    if key.isascii() and key.isprintable() and " " not in key:
        return None
    return (
        f"{name} holds a character no key has (a space, a line break, a control or "
        "non-ASCII character such as a typographic quote): copy the key again"
    )


def mask_key(key: str | None) -> str:
    """``sk-or-v1-…abcd``: enough to tell keys apart, never enough to use one. The tail is
    left out when it is not plain text: a key is shown, never a terminal control."""
    if not key:
        return "(none)"
    prefix = "sk-or-v1-" if key.startswith("sk-or-v1-") else ""
    tail = key[-4:] if len(key) >= 12 else ""
    if unusable_key(tail):
        tail = ""
    return f"{prefix}…{tail}"


def _secret_part(key: str) -> str:
    for prefix in _KEY_PREFIXES:
        if key.startswith(prefix):
            return key[len(prefix) :]
    return key


def _mask_fragments(text: str, key: str) -> str:
    """Replace every run of ``_FRAGMENT_CHARS`` or more characters of the key's secret
    part: a server that shortens what it echoes (or a cut) must not show a usable part."""
    secret = _secret_part(key)
    if len(secret) < 2 * _FRAGMENT_CHARS:
        return text  # too short to tell a fragment from ordinary text
    hits = [False] * len(text)
    for i in range(len(secret) - _FRAGMENT_CHARS + 1):
        window = secret[i : i + _FRAGMENT_CHARS]
        start = text.find(window)
        while start != -1:
            for j in range(start, start + _FRAGMENT_CHARS):
                hits[j] = True
            start = text.find(window, start + 1)
    if not any(hits):
        return text
    out: list[str] = []
    for ch, hit in zip(text, hits, strict=True):
        if not hit:
            out.append(ch)
        elif not out or out[-1] != "…":
            out.append("…")
    return "".join(out)


def redact(text: str, *keys: str | None) -> str:
    """Mask our keys (whole or in part), and anything shaped like an OpenRouter key."""
    for key in keys:
        if key:
            text = text.replace(key, mask_key(key))
    for key in keys:
        if key:
            text = _mask_fragments(text, key)
    return _KEY_LIKE.sub(lambda m: mask_key(m.group(0)), text)


def server_message(body: bytes, keys: Iterable[str | None] = ()) -> str:
    """OpenRouter's own error message (``error.message``), redacted and then shortened;
    "" when the body has none."""
    if len(body) > _ERROR_BODY_MAX:
        return ""
    try:
        parsed = decode_json(body, "the request")
        message = parsed["error"]["message"]
    except (MalformedResponse, KeyError, TypeError, IndexError):
        return ""
    if not isinstance(message, str):
        return ""
    # Redact before cutting: a key straddling the cut would otherwise survive in part.
    message = redact(" ".join(message[:_MESSAGE_SCAN_CHARS].split()), *keys)
    return message[:MESSAGE_CHARS]
