"""``hermes-dash watch`` as a real process against a scripted scenario: spend through the
key limit's 80 % and 100 % via a real ``/key``, a burst of 429s and a runaway session in a
real call log, a real receiver for the webhook and ntfy posts that goes down for a while."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hermes_dash.calllog.store import CallStore
from tests.conftest import FAKE_KEY, call
from tests.fake_account import FakeAccount, Receiver, Seen, key_entry

LOOP_SESSION = "cron_nightly-report_20261127"


def wait_for(cond: Callable[[], object], what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def servers() -> Iterator[tuple[FakeAccount, Receiver]]:
    account = FakeAccount(
        [key_entry(1)],
        key_body={
            "label": "sk-or-v1-001...0001",
            "usage": 1.0,
            "usage_daily": 1.0,
            "limit": 10.0,
            "limit_remaining": 9.0,
            "limit_reset": "daily",
            "is_free_tier": False,
        },
    )
    receiver = Receiver()
    account.start()
    receiver.start()
    yield account, receiver
    account.stop()
    receiver.stop()


def hook_keys(receiver: Receiver, kind: str = "alert") -> list[str]:
    return [
        s.body["key"]
        for s in receiver.posts("/hook")
        if isinstance(s.body, dict) and s.body["event"] == kind
    ]


def ntfy_lines(posts: list[Seen]) -> list[str]:
    return [f"{s.headers['title']}: {s.body}" for s in posts]


def test_watch_delivers_each_alert_once_and_survives_an_outage(
    servers: tuple[FakeAccount, Receiver], tmp_path: Path
) -> None:
    account, receiver = servers
    db = tmp_path / "calls.db"
    store = CallStore(db)
    env = dict(os.environ)
    env.update(
        OPENROUTER_API_KEY=FAKE_KEY,
        HERMES_DASH_OPENROUTER_URL=account.url,
        HERMES_HOME=str(tmp_path / "home"),
        HERMES_DASH_DB=str(db),
        HERMES_DASH_WATCH_INTERVAL_S="0.3",
        HERMES_DASH_WATCH_RETRY_S="0.2",
        HERMES_DASH_PROC_DIR=str(tmp_path / "no-proc"),  # Hermes runs elsewhere on this machine
    )
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "hermes_dash", "watch",
            "--webhook", f"{receiver.root}/hook",
            "--ntfy", f"{receiver.root}/ntfy/hermes-alerts",
            "--interval", "5", "--no-desktop",
        ],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip

    def polls() -> int:
        return sum(1 for s in account.seen if s.path == "/api/v1/key")

    def set_key(**kw: float) -> None:
        with account.lock:
            account.key_body.update(kw)

    try:
        wait_for(lambda: polls() >= 3, "three polls of /key")
        assert receiver.posts("/hook") == []  # 10 % of the limit: nothing to say

        set_key(limit_remaining=1.5, usage_daily=8.5)
        wait_for(lambda: "key-limit:80" in hook_keys(receiver), "the 80 % alert")
        set_key(limit_remaining=0.0, usage_daily=10.0)
        wait_for(lambda: "key-limit:100" in hook_keys(receiver), "the 100 % alert")

        now = time.time()
        burst = [
            call(now - 30 + i, session_id=f"chat-{i % 3}", status="error", http_status=429,
                 cost_usd=None, cost_source=None, output_tokens=None)
            for i in range(15)
        ] + [call(now - 20 + i, session_id="chat-0", output_tokens=300 + 97 * i) for i in range(5)]  # fmt: skip
        store.insert(burst)
        wait_for(lambda: "429-storm" in hook_keys(receiver), "the 429 storm alert")

        # The receiver goes down for three webhook posts; a runaway session starts meanwhile.
        # It comes back by itself: were the test to bring it back once it has seen the
        # refusals, a slow test would let the watch's retry delay double past its waits.
        receiver.outage("/hook", 3)
        now = time.time()
        store.insert(
            [
                call(now - 60 + i, session_id=LOOP_SESSION, model="anthropic/claude-sonnet-4",
                     task="main", output_tokens=42, cost_usd=0.05)
                for i in range(25)
            ]
        )  # fmt: skip

        def refused() -> int:
            with receiver.lock:
                return sum(1 for s in receiver.refused if s.path == "/hook")

        wait_for(lambda: refused() >= 3, "three refused webhook posts")
        wait_for(lambda: f"loop:{LOOP_SESSION}" in hook_keys(receiver), "the loop alert")
        wait_for(lambda: "runaway-spend" in hook_keys(receiver), "the runaway alert")

        # Recovery: the limit resets.
        set_key(limit_remaining=10.0, usage_daily=0.0)
        wait_for(lambda: "key-limit:100" in hook_keys(receiver, "recovered"), "the recovery")
        settled = polls()
        wait_for(lambda: polls() >= settled + 5, "five more polls")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and FAKE_KEY not in out + err

    keys = hook_keys(receiver)
    counts = collections.Counter(keys)
    for key in (
        "key-limit:80",
        "key-limit:100",
        "429-storm",
        f"loop:{LOOP_SESSION}",
        "runaway-spend",
    ):
        assert counts[key] == 1, (key, keys)
    assert hook_keys(receiver, "recovered").count("key-limit:100") == 1
    loop_posts = [s for s in receiver.posts("/hook") if s.body["key"] == f"loop:{LOOP_SESSION}"]
    assert len(loop_posts) == 1
    assert LOOP_SESSION in loop_posts[0].body["message"]
    assert loop_posts[0].body["text"] == loop_posts[0].body["content"]  # Slack and Discord
    runaway = next(s for s in receiver.posts("/hook") if s.body["key"] == "runaway-spend")
    assert LOOP_SESSION in runaway.body["message"]

    # ntfy got the same events, in ntfy's format, the same number of times.
    ntfy = receiver.posts("/ntfy/hermes-alerts")
    assert sorted(ntfy_lines(ntfy)) == sorted(s.body["text"] for s in receiver.posts("/hook"))
    assert all(
        s.method == "POST" and s.headers["content-type"].startswith("text/plain") for s in ntfy
    )
    limit_100 = next(s for s in ntfy if "Key limit reached" in s.body)
    assert limit_100.headers["priority"] == "high" and limit_100.headers["tags"]
    # Standard output has one line per event too.
    assert out.count("ERROR   Key limit reached") == 1
    assert out.count("Recovered: Key limit reached") == 1


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--interval", "4.9"], "--interval"),
        (["--interval", "nan"], "--interval"),
        (["--interval", "inf"], "--interval"),
        (["--webhook", "ftp://x"], "--webhook"),
        (["--ntfy", "not a url"], "--ntfy"),
    ],
)
def test_watch_refuses_bad_flags(tmp_path: Path, flags: list[str], needle: str) -> None:
    p = subprocess.run(
        [sys.executable, "-m", "hermes_dash", "watch", *flags],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "HERMES_HOME": str(tmp_path)},
    )  # fmt: skip
    assert p.returncode == 2 and needle in p.stderr
    assert "Traceback" not in p.stderr


def test_watch_exits_cleanly_on_sigterm_while_idle(tmp_path: Path) -> None:
    """No key, no call log: it still runs (stdout only) and stops with 0 on SIGTERM."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "hermes_dash", "watch", "--interval", "60", "--no-desktop"],
        env={**os.environ, "HERMES_HOME": str(tmp_path)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    line = proc.stderr.readline()  # the start line: the signal handlers are in place
    assert "every 60 s" in line
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "stopped" in err


def test_a_restarted_watch_does_not_repeat_alerts(
    servers: tuple[FakeAccount, Receiver], tmp_path: Path
) -> None:
    """systemd or cron may restart it: what was sent stays sent; what cleared meanwhile
    still gets its recovery message."""
    account, receiver = servers
    db = tmp_path / "calls.db"
    CallStore(db).close()
    account.key_body.update(limit_remaining=1.0, usage_daily=9.0)
    env = {
        **os.environ,
        "OPENROUTER_API_KEY": FAKE_KEY,
        "HERMES_DASH_OPENROUTER_URL": account.url,
        "HERMES_HOME": str(tmp_path / "home"),
        "HERMES_DASH_DB": str(db),
        "HERMES_DASH_WATCH_INTERVAL_S": "0.3",
        "HERMES_DASH_PROC_DIR": str(tmp_path / "no-proc"),
    }
    argv = [
        sys.executable,
        "-m",
        "hermes_dash",
        "watch",
        "--webhook",
        f"{receiver.root}/hook",
        "--no-desktop",
    ]

    def polls() -> int:
        return sum(1 for s in account.seen if s.path == "/api/v1/key")

    def run_until(cond: Callable[[], object], what: str) -> None:
        proc = subprocess.Popen(
            argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            wait_for(cond, what)
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err

    run_until(lambda: "key-limit:80" in hook_keys(receiver), "the 80 % alert")
    start = polls()
    run_until(lambda: polls() >= start + 4, "four polls of the second run")
    assert hook_keys(receiver) == ["key-limit:80"]
    with account.lock:
        account.key_body.update(limit_remaining=9.0, usage_daily=1.0)
    run_until(lambda: hook_keys(receiver, "recovered") == ["key-limit:80"], "the recovery")
    assert hook_keys(receiver) == ["key-limit:80"]


def test_alert_lines_and_bodies_carry_no_terminal_control(
    servers: tuple[FakeAccount, Receiver], tmp_path: Path
) -> None:
    """A session and model named by whatever wrote the call log reach the terminal, the
    webhook and ntfy only as plain text."""
    from tests.hostile import EVIL, RAW_CONTROL, SHOWN

    account, receiver = servers
    db = tmp_path / "calls.db"
    now = time.time()
    CallStore(db).insert(
        [
            call(now - 60 + i, session_id=f"s{EVIL}", model=f"m/{EVIL}", task="main",
                 output_tokens=42, cost_usd=0.05)
            for i in range(25)
        ]
    )  # fmt: skip
    env = dict(os.environ)
    env.update(
        OPENROUTER_API_KEY=FAKE_KEY,
        HERMES_DASH_OPENROUTER_URL=account.url,
        HERMES_HOME=str(tmp_path / "home"),
        HERMES_DASH_DB=str(db),
        HERMES_DASH_WATCH_INTERVAL_S="0.3",
        HERMES_DASH_PROC_DIR=str(tmp_path / "no-proc"),
    )
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "hermes_dash", "watch",
            "--webhook", f"{receiver.root}/hook",
            "--ntfy", f"{receiver.root}/ntfy/t",
            "--interval", "5", "--no-desktop",
        ],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:

        def loop_alert_posted() -> bool:
            # Runaway spend may come first: wait for the alert that quotes the session,
            # on both channels.
            hooks = receiver.posts("/hook")
            keys = [str(s.body.get("key")) for s in hooks if isinstance(s.body, dict)]
            loop = any(k.startswith("loop:") for k in keys)
            return loop and len(receiver.posts("/ntfy")) >= len(hooks)

        wait_for(loop_alert_posted, "the loop alert on both channels")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    hooks = [s.body for s in receiver.posts("/hook")]
    texts = [out, err, *ntfy_lines(receiver.posts("/ntfy"))]
    texts += [str(v) for body in hooks for v in body.values()]
    for text in texts:
        assert not RAW_CONTROL.search(text.replace("\n", "")), repr(text)
    assert any(SHOWN in str(body["message"]) for body in hooks)


async def test_a_stop_waits_for_the_read_of_the_tick_it_cancels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM cancels the tick under way, but its call-log read goes on in a thread, and
    the log is closed once ``run`` returns: ``run`` waits for that read (a watch closed
    the log under it and died of SIGSEGV after "stopped", once in five clean-clone runs)."""
    import asyncio
    import threading

    from hermes_dash.cli import watch
    from hermes_dash.hermes.paths import HermesPaths
    from hermes_dash.openrouter.client import OpenRouterClient
    from hermes_dash.services import notify
    from hermes_dash.services.alerts import AlertRules
    from hermes_dash.services.settings import DashSettings, UserSettings

    store = CallStore(tmp_path / "calls.db")
    inside, release = threading.Event(), threading.Event()
    finished: list[bool] = []
    real = watch.Watcher.inputs

    def held(self: watch.Watcher, now: float) -> object:
        inside.set()
        release.wait(30)
        out = real(self, now)
        finished.append(True)
        return out

    monkeypatch.setattr(watch.Watcher, "inputs", held)
    settings = DashSettings(paths=HermesPaths(tmp_path / "home"), db_path=store.path)
    notifier = notify.Notifier([notify.StdoutChannel()])
    rules = AlertRules.from_settings(UserSettings())
    watcher = watch.Watcher(settings, OpenRouterClient(None), store, notifier, rules, 0.05)
    stop = asyncio.Event()
    run = asyncio.ensure_future(watcher.run(stop))
    assert await asyncio.to_thread(inside.wait, 30)
    stop.set()
    done, _ = await asyncio.wait({run}, timeout=0.3)
    assert not done  # still waiting for the read, whose thread holds the log
    release.set()
    await asyncio.wait_for(run, 30)
    assert finished == [True]
    store.close()
