"""How the program ends: a closed pipe, a crashed dashboard, the demo's temp folder."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from hermes_dash.calllog.store import CallStore
from hermes_dash.cli import BROKEN_PIPE_EXIT, main
from hermes_dash.cli import demo as cli_demo
from hermes_dash.demo.session import OWNER_FILE, TEMP_PREFIX, demo_session, sweep_leftovers
from hermes_dash.tui.app import HermesDashApp
from hermes_dash.tui.screens.dashboard import DashboardScreen

from .conftest import call

AutoPilot = Callable[[Pilot[Any]], Awaitable[None]]


def _log(tmp_path: Path, n: int = 50) -> Path:
    import time

    path = tmp_path / "calls.db"
    store = CallStore(path)
    now = time.time()
    store.insert([call(now - i, model=f"m/{i}") for i in range(n)])
    store.close()
    return path


@pytest.mark.parametrize(
    "argv",
    [["summary", "--offline"], ["summary", "--offline", "--json"], ["export", "--format", "csv"]],
)
def test_a_closed_pipe_ends_quietly(tmp_path: Path, argv: list[str]) -> None:
    db = _log(tmp_path)
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `| head` that has already gone: the first write fails
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "hermes_dash", *argv, "--db", str(db)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert proc.stderr == b""
    assert proc.returncode == BROKEN_PIPE_EXIT


def _headless(monkeypatch: pytest.MonkeyPatch, pilot: AutoPilot | None = None) -> None:
    """Run the real app without a terminal, driven by ``pilot``."""
    original = HermesDashApp.run

    def run(self: HermesDashApp, **_: Any) -> None:
        original(self, headless=True, size=(120, 40), auto_pilot=pilot)

    monkeypatch.setattr(HermesDashApp, "run", run)


async def _quit(pilot: Pilot[Any]) -> None:
    await pilot.pause()
    await pilot.press("q")


def _crash(*_: Any) -> None:
    raise RuntimeError("a widget failed")


def test_the_dashboard_exits_0_on_quit_and_1_on_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = ["--db", str(_log(tmp_path))]
    _headless(monkeypatch, _quit)
    assert main(argv) == 0
    monkeypatch.setattr(DashboardScreen, "show_data", _crash)
    assert main(argv) == 1


@pytest.fixture
def temp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The demo's temp folder, and a demo of 500 calls: what is tested is where its data
    goes, for which the usual 30,000 calls are only time spent generating."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    monkeypatch.setattr(cli_demo, "demo_session", functools.partial(demo_session, calls=500))
    return folder


def test_the_demo_removes_its_data_on_quit(temp_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Path] = []

    async def look_then_quit(pilot: Pilot[Any]) -> None:
        seen.extend(temp_dir.iterdir())
        await _quit(pilot)

    _headless(monkeypatch, look_then_quit)
    assert main(["--demo"]) == 0
    assert len(seen) == 1 and seen[0].name.startswith(TEMP_PREFIX)  # it was there
    assert list(temp_dir.iterdir()) == []


def test_the_demo_removes_its_data_after_a_crash(
    temp_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _headless(monkeypatch)
    monkeypatch.setattr(DashboardScreen, "show_data", _crash)
    assert main(["--demo"]) == 1
    assert list(temp_dir.iterdir()) == []


def test_the_demo_removes_its_data_on_ctrl_c(
    temp_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(self: HermesDashApp, **_: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(HermesDashApp, "run", interrupted)
    assert main(["--demo"]) == 130
    assert list(temp_dir.iterdir()) == []


def test_leftovers_of_killed_demos_are_swept(temp_dir: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    killed = temp_dir / f"{TEMP_PREFIX}killed"
    running = temp_dir / f"{TEMP_PREFIX}running"
    other = temp_dir / "someone-elses"
    for folder, pid in ((killed, dead), (running, str(os.getpid())), (other, dead)):
        (folder / "hermes").mkdir(parents=True)
        (folder / OWNER_FILE).write_text(pid)
    assert sweep_leftovers() == 1
    assert sorted(p.name for p in temp_dir.iterdir()) == sorted([running.name, other.name])


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_the_demo_removes_its_data_when_terminated(tmp_path: Path, sig: signal.Signals) -> None:
    """A real demo process on a real terminal, ended by a signal (systemd, a closed
    window): the temp folder went with the process only on quit or ctrl+c."""
    import pty
    import threading

    master, slave = pty.openpty()
    env = {**os.environ, "TMPDIR": str(tmp_path), "TERM": "xterm-256color"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "hermes_dash", "--demo"],
        stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True,
    )  # fmt: skip
    os.close(slave)
    seen = bytearray()

    def drain() -> None:  # the app blocks when nobody reads its terminal
        with contextlib.suppress(OSError):
            while chunk := os.read(master, 65536):
                seen.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while b"Spend" not in seen and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert b"Spend" in seen, bytes(seen[-500:])
        assert list(tmp_path.glob(f"{TEMP_PREFIX}*"))
        proc.send_signal(sig)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    assert list(tmp_path.glob(f"{TEMP_PREFIX}*")) == []
