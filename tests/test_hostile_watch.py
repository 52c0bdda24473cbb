"""``hermes-dash watch`` against careless or hostile surroundings, as a real process:
receivers that hang, a call log with terminal sequences in its session ids, a state file
that is corrupt, a FIFO or a planted symlink, and a second watch on the same call log."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from hermes_dash.calllog.store import CallStore
from hermes_dash.services import notify
from hermes_dash.services.alerts import Alert
from tests.conftest import call

EVIL_SESSION = "s\x1b]52;c;ZXZpbA==\x07\x1b[2J\x9b31m\nnext"


def wait_for(cond: Callable[[], object], what: str, timeout: float = 45.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Receiver:
    """Takes posts (``/ok``) or answers with a header and then a byte now and then, for
    ever (``/drip``)."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, Any]] = []
        self.dripping = threading.Event()
        self.closing = threading.Event()
        self.down = False
        self.refused = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    if self.path == "/drip":
                        outer.dripping.set()
                        self.send_response(200)
                        self.end_headers()
                        while not outer.closing.wait(0.2):
                            self.wfile.write(b".")
                            self.wfile.flush()
                        return
                    if outer.down:
                        outer.refused += 1
                        self.send_response(503)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    outer.posts.append((self.path, json.loads(raw)))
                    self.send_response(200)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}{path}"

    def alert_keys(self) -> list[str]:
        return [body["key"] for path, body in list(self.posts) if path == "/ok"]

    def close(self) -> None:
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def loop_rows(session: str, now: float) -> list[dict[str, object]]:
    """25 near-identical calls of one session in the last minute: a request loop."""
    return [
        call(now - 60 + i, session_id=session, task="main", output_tokens=42, cost_usd=0.001)
        for i in range(25)
    ]


def start_watch(tmp_path: Path, *flags: str) -> subprocess.Popen[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OPENROUTER_API_KEY", "OPENROUTER_MANAGEMENT_KEY")
    }
    (tmp_path / "home").mkdir(exist_ok=True)
    env.update(
        HERMES_HOME=str(tmp_path / "home"),
        HERMES_DASH_DB=str(tmp_path / "calls.db"),
        HERMES_DASH_SETTINGS=str(tmp_path / "settings.json"),
        HERMES_DASH_WATCH_INTERVAL_S="0.3",
        HERMES_DASH_WATCH_RETRY_S="0.2",
        HERMES_DASH_PROC_DIR=str(tmp_path / "no-proc"),
        HERMES_DASH_OPENROUTER_URL="http://127.0.0.1:9/api/v1",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "hermes_dash", "watch", "--interval", "5", "--no-desktop",
         *flags],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def stop(proc: subprocess.Popen[str], within: float = 20.0) -> tuple[str, str]:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=within)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    return out, err


def test_session_ids_with_terminal_sequences_reach_no_terminal_or_receiver(
    tmp_path: Path, receiver: Receiver
) -> None:
    CallStore(tmp_path / "calls.db").insert(loop_rows(EVIL_SESSION, time.time()))
    proc = start_watch(tmp_path, "--webhook", receiver.url("/ok"))
    try:
        wait_for(lambda: receiver.alert_keys(), "the loop alert")
    finally:
        out, _err = stop(proc)
    for ch in ("\x1b", "\x07", "\x9b"):
        assert ch not in out
    assert "Request loop: session s" in out and out.count("\n") == 1  # one line per event
    body = receiver.posts[0][1]
    for field in ("text", "content", "message"):
        assert "\x1b" not in body[field] and "\n" not in body[field], body[field]


def test_a_hanging_receiver_holds_back_neither_the_others_nor_sigterm(
    tmp_path: Path, receiver: Receiver
) -> None:
    """A webhook that answers a byte at a time used to hold the poll for ever: later
    alerts reached no channel at all."""
    store = CallStore(tmp_path / "calls.db")
    store.insert(loop_rows("first", time.time()))
    proc = start_watch(
        tmp_path, "--webhook", receiver.url("/drip"), "--webhook", receiver.url("/ok")
    )
    try:
        wait_for(lambda: "loop:first" in receiver.alert_keys(), "the first alert")
        wait_for(receiver.dripping.is_set, "the hanging receiver to be called")
        store.insert(loop_rows("second", time.time()))
        wait_for(lambda: "loop:second" in receiver.alert_keys(), "the second alert", timeout=20)
    finally:
        started = time.monotonic()
        stop(proc)
    assert time.monotonic() - started < 10
    assert receiver.alert_keys().count("loop:first") == 1


def test_corrupt_state_files_are_ignored(tmp_path: Path, receiver: Receiver) -> None:
    CallStore(tmp_path / "calls.db").insert(loop_rows("s1", time.time()))
    (tmp_path / "watch-state.json").write_text("[" * 100_000 + "]" * 100_000)
    proc = start_watch(tmp_path, "--webhook", receiver.url("/ok"))
    try:
        wait_for(lambda: receiver.alert_keys(), "the alert")
    finally:
        stop(proc)


def test_a_fifo_as_state_file_does_not_block_the_start(tmp_path: Path) -> None:
    CallStore(tmp_path / "calls.db").close()
    os.mkfifo(tmp_path / "watch-state.json")
    proc = start_watch(tmp_path)
    assert proc.stderr is not None
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(proc.stderr.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout=30)
    try:
        assert line and "every 0.3 s" in line[0]
    finally:
        if not line:
            proc.kill()
            proc.communicate()
        else:
            stop(proc)


def test_state_is_not_written_through_a_planted_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    state = tmp_path / "watch-state.json"
    for name in (f"{state.name}.tmp", f"{state.name}.{os.getpid()}.tmp"):
        (tmp_path / name).symlink_to(victim)
    alert = Alert("loop:x", "error", "Request loop", "loop:x")
    notify.save_active(state, {"loop:x": ({"loop:x"}, alert)}, print)
    assert victim.read_text() == "precious\n"
    assert "loop:x" in notify.load_active(state)


def test_a_second_watch_on_the_same_log_refuses(tmp_path: Path) -> None:
    CallStore(tmp_path / "calls.db").close()
    first = start_watch(tmp_path)
    assert first.stderr is not None
    try:
        assert "every 0.3 s" in first.stderr.readline()
        second = start_watch(tmp_path)
        _out, err = second.communicate(timeout=60)
        assert second.returncode == 1
        assert err.count("\n") == 1 and "another hermes-dash watch" in err
        assert "Traceback" not in err
        assert first.poll() is None
    finally:
        stop(first)


def test_an_alert_refused_before_a_restart_still_arrives_once(
    tmp_path: Path, receiver: Receiver
) -> None:
    """The state file marks an alert sent when it is raised: stopped while the receiver
    was down, a watch used to forget the message, and the next run never sent it."""
    CallStore(tmp_path / "calls.db").insert(loop_rows("s1", time.time()))
    receiver.down = True
    proc = start_watch(tmp_path, "--webhook", receiver.url("/ok"))
    try:
        wait_for(lambda: receiver.refused >= 2, "two refused posts")
    finally:
        out, _ = stop(proc)
    assert out.count("Request loop") == 1
    receiver.down = False
    proc = start_watch(tmp_path, "--webhook", receiver.url("/ok"))
    try:
        wait_for(lambda: receiver.alert_keys(), "the owed alert")
    finally:
        out, _ = stop(proc)
    assert "Request loop" not in out  # standard output had it the first time
    # Nothing is owed any more: a third run would send nothing.
    assert notify.load_pending(tmp_path / "watch-state.json") == []
    assert receiver.alert_keys() == ["loop:s1"]
