"""``hermes-dash serve`` against careless and hostile clients, as a real process on
127.0.0.1: malformed Host and Origin headers, tokens that are not the token, tokens with
characters a URL or a cookie cannot carry as they are, a taken port, IPv6 literals, more
tabs than allowed, and SIGTERM with tabs open."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import httpx
import pytest

from hermes_dash.calllog.store import CallStore
from hermes_dash.cli.serve import COOKIE, TOKEN_ENV
from hermes_dash.cli.serve_tabs import MAX_COLUMNS, TabMessageError, cells

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


def _children(pid: int) -> set[int]:
    """Every live descendant of ``pid`` (from /proc, no psutil)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z":  # a zombie has ended
            parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _wait(condition: object, what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_tabs_are_bounded_and_sigterm_ends_every_tab(tmp_path: Path) -> None:
    port = _free_port()
    served = _start(tmp_path, "--port", str(port), "--token", TOKEN, "--max-tabs", "1")
    url = f"http://127.0.0.1:{port}"
    pid = served.process.pid
    outcome: dict[str, object] = {}
    opened = threading.Event()
    release = threading.Event()

    async def tabs() -> None:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.get(url + "/", params={"token": TOKEN}) as first:
                assert first.status == 200  # redirected to the page, the cookie set
            first_tab = await http.ws_connect(url + "/ws?width=80&height=24")
            opened.set()
            try:
                second = await http.ws_connect(url + "/ws?width=80&height=24")
                outcome["second"] = "accepted"
                await second.close()
            except aiohttp.WSServerHandshakeError as exc:
                outcome["second"] = exc.status
            await asyncio.to_thread(release.wait, 120)
            await first_tab.close()

    runner = threading.Thread(target=asyncio.run, args=(tabs(),), daemon=True)
    runner.start()
    try:
        assert opened.wait(120)
        _wait(lambda: "second" in outcome, "the second tab's answer")
        assert outcome["second"] == 503
        _wait(lambda: _children(pid), "the first tab's dashboard process")
        kids = _children(pid)
        for kid in kids:  # a dashboard that cannot answer "quit" any more
            os.kill(kid, signal.SIGSTOP)
        served.process.send_signal(signal.SIGTERM)
        assert served.process.wait(timeout=60) == 0
        # No tab's dashboard outlives the server (an ended one may linger as a zombie).
        _wait(lambda: all(_state(k) in ("Z", "X") for k in kids), "the tab processes to end")
    finally:
        release.set()
        runner.join(timeout=60)
        _stop(served)


def _state(pid: int) -> str:
    """The process's state letter; "X" once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "X"


def test_a_message_the_page_never_sends_closes_only_that_tab(tmp_path: Path) -> None:
    port = _free_port()
    served = _start(tmp_path, "--port", str(port))
    url = f"http://127.0.0.1:{port}"
    answers: list[object] = []

    async def tab(message: str) -> None:
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(url + "/ws?width=99999&height=abc")
            await ws.send_str(json.dumps(["ping", "before"]))
            answers.append((await ws.receive_json(timeout=120))[1])
            await ws.send_str(message)
            while not ws.closed:  # the tab's screen, then the close
                if (await ws.receive(timeout=120)).type == aiohttp.WSMsgType.CLOSED:
                    break
            answers.append("closed")

    try:
        for bad in ("not json", '{"stdin": 1}', '["resize", {"width": "x", "height": -5}]'):
            asyncio.run(tab(bad))
        assert answers == ["before", "closed"] * 3
        _wait(lambda: not _children(served.process.pid), "the tabs' processes to end")
    finally:
        _stop(served)
    out = served.output()
    assert "Traceback" not in out and out.count("a tab sent") == 3


@pytest.mark.parametrize(
    ("value", "expected"), [(80, 80), (0, 1), (-5, 1), (10**9, MAX_COLUMNS), ("7", 7), ("x", 80)]
)
def test_sizes_from_the_page_are_clamped(value: object, expected: int) -> None:
    assert cells(value, MAX_COLUMNS, 80 if isinstance(value, str) else None) == expected


@pytest.mark.parametrize("value", ["12", 1.5, None, True, [3]])
def test_a_size_in_a_message_must_be_a_whole_number(value: object) -> None:
    with pytest.raises(TabMessageError):
        cells(value, MAX_COLUMNS)


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def test_a_read_only_tab_cannot_write_a_file_nor_see_the_token(tmp_path: Path) -> None:
    """Keys from the page run the command palette's screenshot: it goes to the browser,
    never into a file on the server; and no tab's process holds the token."""
    home = tmp_path / "user"
    home.mkdir()
    CallStore(tmp_path / "calls.db").close()  # a read-only tab makes one when missing
    env = dict(_env(tmp_path), HOME=str(home), **{TOKEN_ENV: TOKEN})
    port = _free_port()
    served = _start(tmp_path, "--port", str(port), env=env)
    url = f"http://127.0.0.1:{port}"
    before = _files(tmp_path)
    delivered: list[object] = []

    async def tab() -> None:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            await http.get(url + "/", params={"token": TOKEN})
            ws = await http.ws_connect(url + "/ws?width=120&height=40")
            await ws.send_str(json.dumps(["ping", "up"]))
            while True:  # the first screen has been drawn once the pong is behind it
                message = await ws.receive(timeout=120)
                if message.type == aiohttp.WSMsgType.TEXT and "pong" in message.data:
                    break
            kids = _children(served.process.pid)
            for kid in kids:
                environ = Path(f"/proc/{kid}/environ").read_bytes()
                delivered.append(TOKEN.encode() in environ)
            for keys in ("\x10", "screenshot", "\r"):
                await asyncio.sleep(1.0)  # the palette opens, then filters as typed
                await ws.send_str(json.dumps(["stdin", keys]))
            while True:
                message = await ws.receive(timeout=120)
                if message.type == aiohttp.WSMsgType.TEXT and "deliver_file_start" in message.data:
                    delivered.append(json.loads(message.data)[0])
                    break
            await ws.close()

    try:
        asyncio.run(tab())
    finally:
        _stop(served)
    assert delivered and not any(d is True for d in delivered)
    assert delivered[-1] == "deliver_file_start"  # the screenshot went to the page
    # SQLite's shared-memory files beside the log come and go with any reader.
    assert {p.name for p in _files(tmp_path) - before} <= {"calls.db-wal", "calls.db-shm"}


def test_tabs_opened_at_the_same_moment_are_bounded_too(tmp_path: Path) -> None:
    port = _free_port()
    served = _start(tmp_path, "--port", str(port), "--max-tabs", "2")
    url = f"http://127.0.0.1:{port}/ws?width=80&height=24"
    outcomes: list[object] = []

    async def tabs() -> None:
        async with aiohttp.ClientSession() as http:

            async def one() -> aiohttp.ClientWebSocketResponse | None:
                try:
                    return await http.ws_connect(url)
                except aiohttp.WSServerHandshakeError as exc:
                    outcomes.append(exc.status)
                    return None

            opened = await asyncio.gather(*(one() for _ in range(6)))
            outcomes.extend("open" for ws in opened if ws is not None)
            kids = _children(served.process.pid)
            outcomes.append(len(kids))
            for ws in opened:
                if ws is not None:
                    await ws.close()

    try:
        asyncio.run(tabs())
    finally:
        _stop(served)
    assert sorted(map(str, outcomes[:-1])) == ["503"] * 4 + ["open"] * 2
    assert outcomes[-1] <= 2  # never more dashboard processes than --max-tabs
