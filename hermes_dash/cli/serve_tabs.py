"""The browser tabs of ``hermes-dash serve``: one dashboard process per websocket, as
textual-serve runs them, but bounded in number and in screen size, reading only the
messages textual-serve's page sends, and ended with the server.

textual-serve's own websocket handler trusts the page: a ``resize`` to 3,000 x 3,000 cells
makes the tab's process grow past 500 MB, a size that is not a number crashes it, and a
process that does not answer ``quit`` outlives the server. Here a size is clamped, a
message that is not one the page sends closes that tab with one log line, and a process
still running a few seconds after ``quit`` is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiohttp import web
    from textual_serve.app_service import AppService
    from textual_serve.download_manager import DownloadManager

log = logging.getLogger("hermes-dash.serve")

#: A 4K screen with a small font is about 480 x 135 cells; more is no screen.
MAX_COLUMNS = 500
MAX_ROWS = 250
#: How long a tab's process has to end after ``quit`` before it is killed.
STOP_GRACE_S = 5.0
#: textual-serve's page sends keys and sizes; 64 KiB holds any paste a phone makes.
MAX_MESSAGE = 64 * 1024


class TabMessageError(ValueError):
    """A websocket message textual-serve's page does not send."""


def cells(value: Any, top: int, default: int | None = None) -> int:
    """A column or row count from the page, clamped to 1..top."""
    if isinstance(value, str) and default is not None:  # the websocket's query
        try:
            value = int(value)
        except ValueError:
            return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise TabMessageError("a size that is not a whole number")
    return max(1, min(value, top))


class Tabs:
    """The open tabs: at most ``limit`` at once, each a dashboard process."""

    def __init__(self, command: str, limit: int, downloads: DownloadManager) -> None:
        self.command = command
        self.limit = limit
        self.downloads = downloads
        self.open: set[AppService] = set()

    async def serve(self, request: web.Request) -> web.WebSocketResponse:
        """Run one tab for the websocket ``request`` until either side ends it."""
        from aiohttp import web
        from textual_serve.app_service import AppService

        if len(self.open) >= self.limit:
            raise web.HTTPServiceUnavailable(
                text=f"hermes-dash: {self.limit} tabs are open already (--max-tabs); close one\n"
            )
        width = cells(request.query.get("width", "80"), MAX_COLUMNS, 80)
        height = cells(request.query.get("height", "24"), MAX_ROWS, 24)
        websocket = web.WebSocketResponse(heartbeat=15, max_msg_size=MAX_MESSAGE)

        async def close() -> None:
            await websocket.close()

        tab = AppService(
            self.command,
            write_bytes=websocket.send_bytes,
            write_str=websocket.send_str,
            close=close,
            download_manager=self.downloads,
        )
        # Counted before the first await: tabs opened at the same moment all see it.
        self.open.add(tab)
        try:
            await websocket.prepare(request)
            await tab.start(width, height)
            await self._relay(websocket, tab)
        except TabMessageError as exc:
            log.warning("a tab sent %s: closed", exc)
        finally:
            await end(tab)
            self.open.discard(tab)
            if websocket.prepared:
                await websocket.close()
        return websocket

    async def close_all(self) -> None:
        """End every tab's process (the server is stopping)."""
        await asyncio.gather(*(end(tab) for tab in list(self.open)))

    @staticmethod
    async def _relay(websocket: web.WebSocketResponse, tab: AppService) -> None:
        from aiohttp import WSMsgType

        async for message in websocket:
            if message.type != WSMsgType.TEXT:
                continue
            kind, data = _envelope(message.data)
            if kind == "stdin":
                if not isinstance(data, str):
                    raise TabMessageError("keys that are not text")
                await tab.send_bytes(data.encode("utf-8"))
            elif kind == "resize":
                if not isinstance(data, dict):
                    raise TabMessageError("a size that is not an object")
                width = cells(data.get("width"), MAX_COLUMNS)
                height = cells(data.get("height"), MAX_ROWS)
                await tab.set_terminal_size(width, height)
            elif kind == "ping":
                await websocket.send_json(["pong", data])
            elif kind == "blur":
                await tab.blur()
            elif kind == "focus":
                await tab.focus()


def _envelope(text: str) -> tuple[str, Any]:
    try:
        envelope = json.loads(text)
    except ValueError:
        raise TabMessageError("a message that is not JSON") from None
    if not isinstance(envelope, list) or not envelope or not isinstance(envelope[0], str):
        raise TabMessageError("a message that is not [type, data]")
    return envelope[0], envelope[1] if len(envelope) > 1 else None


async def end(tab: AppService) -> None:
    """Ask the tab's process to quit; kill it when it has not within STOP_GRACE_S."""
    try:
        await asyncio.wait_for(asyncio.shield(tab.stop()), STOP_GRACE_S)
    except (TimeoutError, OSError):
        process = tab._process  # textual-serve keeps no public handle on it
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
