"""The OpenRouter error taxonomy: callers never see a raw httpx exception.

Messages never contain the API key: they are built from the status, OpenRouter's own
error message (which does not echo keys) and fixed advice.
"""

from __future__ import annotations


class OpenRouterError(Exception):
    """Any failure talking to OpenRouter; ``str()`` is one line fit for a user."""

    status: int | None = None
    #: Whether trying again later can help (drives the poller's backoff).
    retryable = True

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        if status is not None:
            self.status = status


class Unauthorized(OpenRouterError):
    """401: the key is missing, wrong or revoked."""

    status = 401
    retryable = False


class UnusableKey(Unauthorized):
    """The key holds characters no key has (a space, a line break, a typographic quote
    pasted with it): it is refused before it is sent, since an HTTP header cannot carry
    it, and the message says so instead of blaming the network."""


class PaymentRequired(OpenRouterError):
    """402: out of credits."""

    status = 402
    retryable = False


class Forbidden(OpenRouterError):
    """403: key limit reached, moderation, or a management key is needed."""

    status = 403
    retryable = False


class NotFound(OpenRouterError):
    """404: e.g. a generation not visible yet (normal right after a call)."""

    status = 404


class RateLimited(OpenRouterError):
    """429: slow down; ``retry_after`` is in seconds when the server said."""

    status = 429

    def __init__(self, message: str, *, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class ServerError(OpenRouterError):
    """5xx (and 408): OpenRouter or the upstream had trouble."""


class RequestTimeout(OpenRouterError):
    """No complete answer within the timeout."""


class ConnectionFailed(OpenRouterError):
    """Could not connect (refused, DNS, TLS)."""


class MalformedResponse(OpenRouterError):
    """The body was not JSON, was truncated, too large, or had the wrong shape."""
