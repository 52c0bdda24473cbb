"""Launching a TUI in a real pseudo-terminal and timing what the user sees.

The clock starts just before the process is spawned and stops when the terminal output
holds every marker (escape sequences removed), so interpreter start-up, imports, the
first query and writing the frame to the terminal all count.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

_ESCAPE = re.compile(rb"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])")


def time_to_markers(
    cmd: Sequence[str],
    stages: Sequence[Sequence[str]],
    *,
    env: dict[str, str] | None = None,
    size: tuple[int, int] = (160, 48),
    timeout: float = 60.0,
) -> list[float]:
    """Seconds from spawning ``cmd`` in a pty until each stage's markers are all on screen."""
    master, slave = os.openpty()
    cols, rows = size
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    full_env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "", "LINES": ""}
    full_env.pop("COLUMNS")
    full_env.pop("LINES")
    full_env.update(env or {})
    started = time.perf_counter()
    proc = subprocess.Popen(
        list(cmd),
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=full_env,
        start_new_session=True,
        close_fds=True,
    )
    os.close(slave)
    seen = b""
    times: list[float] = []
    try:
        while len(times) < len(stages):
            left = started + timeout - time.perf_counter()
            if left <= 0:
                raise TimeoutError(f"markers {stages[len(times)]} never appeared: {cmd}")
            ready, _, _ = select.select([master], [], [], left)
            if not ready:
                continue
            try:
                chunk = os.read(master, 1 << 16)
            except OSError:  # the child closed the terminal
                raise RuntimeError(f"{cmd} exited before drawing: {_text(seen)[-400:]}") from None
            now = time.perf_counter()
            seen += chunk
            text = _text(seen)
            while len(times) < len(stages) and all(m in text for m in stages[len(times)]):
                times.append(now - started)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        os.close(master)
    return times


def _text(raw: bytes) -> str:
    return _ESCAPE.sub(b"", raw).decode("utf-8", "replace")


@contextmanager
def demo_openrouter_server(db: Path, now: float) -> Iterator[str]:
    """The demo's fake OpenRouter behind a real HTTP server on 127.0.0.1; yields the URL."""
    import httpx

    from hermes_dash.demo.fake_openrouter import DemoOpenRouter

    fake = DemoOpenRouter(db, clock=lambda: now)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            reply = fake.handle(httpx.Request("GET", f"http://127.0.0.1{self.path}"))
            body = reply.read()
            self.send_response(reply.status_code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/v1"
    finally:
        server.shutdown()
        server.server_close()
