"""OpenRouter's ``/key`` and ``/credits`` polled on a thread of their own, for readers
that are not async (the metrics exporter answers scrapes from server threads)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable

from hermes_dash.openrouter.client import OpenRouterClient
from hermes_dash.openrouter.errors import OpenRouterError
from hermes_dash.services.account import fetch_snapshot
from hermes_dash.services.metrics import AccountReading

#: OpenRouter documents no limit on ``/key`` but asks for polls every 30-60 s at most.
DEFAULT_POLL_S = 60.0


class AccountPoller:
    """Polls the account every ``interval_s`` and keeps the last good numbers. ``report``
    hears a failed poll's reason when it changes, and when the polls work again."""

    def __init__(
        self,
        client: OpenRouterClient,
        interval_s: float = DEFAULT_POLL_S,
        report: Callable[[str], None] = lambda _line: None,
    ) -> None:
        self._client = client
        self._interval = interval_s
        self._report = report
        self._failure: str | None = None  # the reason last reported
        self._lock = threading.Lock()
        self._reading: AccountReading | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="hermes-dash-account", daemon=True)

    def start(self) -> None:
        """Start polling (the first poll at once)."""
        self._thread.start()
        self._ready.wait()

    def reading(self) -> AccountReading | None:
        """The newest reading; None before the first poll ended."""
        with self._lock:
            return self._reading

    def stop(self, timeout: float = 5.0) -> None:
        """Stop polling and close the client."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)

    def _main(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._ready.set()
        try:
            while not self._stop.is_set():
                await self._poll()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), self._interval)
        finally:
            await self._client.aclose()

    async def _poll(self) -> None:
        try:
            snap = await fetch_snapshot(self._client)
        except OpenRouterError as exc:
            with self._lock:
                last = self._reading.snapshot if self._reading else None
                self._reading = AccountReading(last, ok=False)
            reason = f"OpenRouter's /key did not answer as it should: {exc}"
            if reason != self._failure:
                self._failure = reason
                self._report(reason + " (the last good figures are kept)")
            return
        with self._lock:
            self._reading = AccountReading(snap, ok=True)
        if self._failure is not None:
            self._failure = None
            self._report("OpenRouter's /key answers again")
