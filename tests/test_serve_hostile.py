"""``hermes-dash serve`` against careless and hostile clients, as a real process on
127.0.0.1: malformed Host and Origin headers, tokens that are not the token, tokens with
characters a URL or a cookie cannot carry as they are, weak tokens, a taken port and IPv6
literals (the tabs themselves: ``test_serve_tabs.py``)."""

from __future__ import annotations

import os
import queue
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from hermes_dash.cli.serve import COOKIE, TOKEN_ENV

TOKEN = "Tok3n-for-hostile-tests"


@dataclass
class Serve:
    """A running ``hermes-dash serve``, its start line and everything it printed."""

    process: subprocess.Popen[str]
    start: str
    lines: list[str] = field(default_factory=list)

    def output(self) -> str:
        return "".join(self.lines)


def _free_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ, HERMES_HOME=str(tmp_path))
    for name in ("OPENROUTER_API_KEY", "OPENROUTER_MANAGEMENT_KEY", TOKEN_ENV):
        env.pop(name, None)
    return env


def _start(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Serve:
    proc = subprocess.Popen(
        [sys.executable, "-m", "hermes_dash", "serve", "--db", str(tmp_path / "calls.db"), *args],
        env=env or _env(tmp_path),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    ready: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in proc.stdout or ():
            lines.append(line)
            ready.put(line)

    threading.Thread(target=read, daemon=True).start()
    line = ready.get(timeout=60)
    while "hermes-dash serve: open" not in line:  # a warning may come first
        line = ready.get(timeout=60)
    return Serve(proc, line, lines)


def _stop(served: Serve) -> None:
    if served.process.poll() is None:
        served.process.terminate()
    served.process.wait(timeout=60)


@pytest.fixture
def tokened(tmp_path: Path) -> Iterator[tuple[Serve, str]]:
    port = _free_port()
    served = _start(tmp_path, "--port", str(port), "--token", TOKEN)
    yield served, f"http://127.0.0.1:{port}"
    _stop(served)


def test_unreadable_host_or_origin_is_refused_without_a_traceback(
    tokened: tuple[Serve, str],
) -> None:
    served, url = tokened
    with httpx.Client(timeout=30) as http:
        # Nothing a browser sends, but anyone on the network can: each one is a refusal,
        # never a server error whose traceback lists the token among its variables.
        bad_host = http.get(url + "/", headers={"Host": "[::1"})
        bad_origin = http.get(url + "/ws", headers={"Origin": "http://[x"})
        assert (bad_host.status_code, bad_origin.status_code) == (403, 403)
        # The server still answers after them.
        assert http.get(f"{url}/?token={TOKEN}").status_code == 302
        # No other site may put the page in a frame (and steer clicks into it).
        page = http.get(url + "/")
        assert page.status_code == 200
        assert page.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    _stop(served)
    assert "Traceback" not in served.output()
    assert served.output().count(TOKEN) == 1  # the start line only


def test_only_the_exact_token_opens_the_page(tokened: tuple[Serve, str]) -> None:
    _served, url = tokened
    near = [TOKEN.lower(), TOKEN.upper(), TOKEN[:-1], TOKEN + "x", TOKEN[:8], " " + TOKEN]
    with httpx.Client(timeout=30) as http:
        for wrong in near:
            assert http.get(url + "/", params={"token": wrong}).status_code == 401, wrong
            # Nor as the cookie, nor as a header the guard does not read.
            jar = {"Cookie": f"{COOKIE}={wrong}", "Authorization": f"Bearer {TOKEN}"}
            assert http.get(url + "/", headers=jar).status_code == 401, wrong
        first = http.get(url + "/", params={"token": TOKEN})
        assert first.status_code == 302
        cookie = first.cookies[COOKIE]
        # The browser keeps a digest, not the token; the token itself is no cookie.
        assert TOKEN not in cookie
        assert http.get(url + "/", headers={"Cookie": f"{COOKIE}={TOKEN}"}).status_code == 401
        opened = http.get(url + "/static/js/textual.js", headers={"Cookie": f"{COOKIE}={cookie}"})
        assert opened.status_code == 200


def test_a_token_with_url_and_cookie_characters_works_from_the_printed_address(
    tmp_path: Path,
) -> None:
    port = _free_port()
    token = 'a b;c#d&e="é%'
    served = _start(tmp_path, "--port", str(port), "--token", token)
    try:
        address = served.start.split("open ", 1)[1].split()[0]
        assert address.startswith(f"http://127.0.0.1:{port}/?token=")
        with httpx.Client(timeout=30) as http:
            first = http.get(address)
            assert first.status_code == 302, first.text
            page = http.get(f"http://127.0.0.1:{port}/")  # the client keeps the cookie
            assert page.status_code == 200 and "textual-terminal" in page.text
    finally:
        _stop(served)


def test_a_taken_port_is_one_line_and_nothing_on_stdout(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        p = subprocess.run(
            [sys.executable, "-m", "hermes_dash", "serve", "--port", str(port)],
            env=_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert p.returncode == 1 and p.stdout == ""
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and str(port) in lines[0] and "Traceback" not in p.stderr


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_bracketed_ipv6_loopback_is_served_without_a_token(tmp_path: Path) -> None:
    port = _free_port("::1")
    served = _start(tmp_path, "--host", "[::1]", "--port", str(port))
    try:
        assert f"open http://[::1]:{port}/  (read-only" in served.start
        with httpx.Client(timeout=30) as http:
            assert http.get(f"http://[::1]:{port}/").status_code == 200
    finally:
        _stop(served)


@pytest.mark.parametrize("token", [" " * 12, "  short  ", "tab\tin-it-12"])
def test_a_token_of_spaces_or_control_characters_is_refused(tmp_path: Path, token: str) -> None:
    p = subprocess.run(
        [sys.executable, "-m", "hermes_dash", "serve", "--host", "0.0.0.0", "--token", token],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 2 and p.stdout == "" and "--token" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("host", ["::", "[fd00::2]", "[::]"])
def test_ipv6_non_loopback_needs_a_token(tmp_path: Path, host: str) -> None:
    p = subprocess.run(
        [sys.executable, "-m", "hermes_dash", "serve", "--host", host],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 2 and p.stdout == "" and "--token" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
