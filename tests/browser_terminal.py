"""Reading what textual-serve's page shows, in a real headless Chromium driven by Playwright.

The page draws the terminal on a canvas (xterm.js with its WebGL/canvas renderer), so there
is no text in the DOM to read. Instead an init script tees every byte the page's terminal
receives from its websocket (and the size it asked for), and a terminal emulator (pyte)
replays them into the same grid of cells: the text the page shows.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyte

from .conftest import NO_CHROMIUM

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

TEE_SCRIPT = """
(() => {
  const tee = { chunks: [], sizes: [] };
  window.__terminalTee = tee;
  const Native = window.WebSocket;
  function Teed(url, protocols) {
    const ws = protocols === undefined ? new Native(url) : new Native(url, protocols);
    const m = /width=(\\d+)&height=(\\d+)/.exec(String(url));
    if (m) tee.sizes.push([Number(m[1]), Number(m[2])]);
    ws.addEventListener("message", (event) => {
      if (typeof event.data === "string") return;
      const bytes = new Uint8Array(event.data);
      let text = "";
      for (let i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]);
      tee.chunks.push(text);
    });
    const send = ws.send.bind(ws);
    ws.send = (data) => {
      try {
        const msg = JSON.parse(data);
        if (msg[0] === "resize") tee.sizes.push([msg[1].width, msg[1].height]);
      } catch (e) {}
      return send(data);
    };
    return ws;
  }
  Teed.prototype = Native.prototype;
  Object.assign(Teed, Native);
  window.WebSocket = Teed;
})();
"""


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        return f"{NO_CHROMIUM}: {CHROMIUM} is missing (apt-get install -y chromium)"
    return None


class PageTerminal:
    """The text on a textual-serve page's terminal, rebuilt from the teed bytes."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.seen = 0
        self.size: tuple[int, int] | None = None
        self.screen: pyte.Screen | None = None
        self.stream: pyte.ByteStream | None = None
        self.data = b""

    def _pull(self) -> None:
        chunks, sizes = self.page.evaluate(
            "n => [window.__terminalTee.chunks.slice(n), window.__terminalTee.sizes]", self.seen
        )
        self.seen += len(chunks)
        self.data += b"".join(c.encode("latin-1") for c in chunks)
        if sizes and tuple(sizes[-1]) != self.size:
            # The app repaints everything at a new size: replay into a grid of that size.
            self.size = (int(sizes[-1][0]), int(sizes[-1][1]))
            self.screen = pyte.Screen(*self.size)
            self.stream = pyte.ByteStream(self.screen)
            self.stream.feed(self.data)
        elif chunks and self.stream is not None:
            self.stream.feed(b"".join(c.encode("latin-1") for c in chunks))

    def text(self) -> str:
        """Every row of the terminal as the page shows it now."""
        self._pull()
        return "" if self.screen is None else "\n".join(self.screen.display)

    def wait_for(self, condition: Callable[[str], bool], what: str, timeout: float = 60.0) -> str:
        """The screen text once ``condition`` holds; fails after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.text()
            if condition(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; the page shows:\n{text}")
            self.page.wait_for_timeout(100)
