"""The browser tabs of ``hermes-dash serve`` as real processes: bounded in number (also
when opened at the same moment), ended with the server even when one cannot answer,
closed alone on a message the page never sends, sizes clamped, and a read-only tab that
neither writes a file nor holds the token."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time
from pathlib import Path

import aiohttp
import pytest

from hermes_dash.calllog.store import CallStore
from hermes_dash.cli.serve import TOKEN_ENV
from hermes_dash.cli.serve_tabs import MAX_COLUMNS, TabMessageError, cells

from .test_serve_hostile import TOKEN, _env, _free_port, _start, _stop


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
