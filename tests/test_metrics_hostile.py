"""``hermes-dash metrics`` against hostile inputs: a call log other writers spoiled, a log
replaced in place, signals at any moment. A real exporter process, scraped over HTTP."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from hermes_dash.calllog.store import CallStore

from .conftest import FAKE_KEY, call
from .fakeserver import KEY_BODY, FakeOpenRouter, Reply, prefixed
from .metrics_helpers import exporter, scrape, total


def _spoil_with_bytes(db: Path, t: float) -> None:
    """Rows whose text is not UTF-8, as only another writer (or a bad disk) leaves them."""
    conn = sqlite3.connect(db)
    try:
        conn.execute(
            "INSERT INTO calls (started_at, status, http_status, provider, model, upstream, "
            "platform) VALUES (?, 'ok', 200, CAST(x'6f72ff' AS TEXT), CAST(x'6dc3' AS TEXT), "
            "CAST(x'80' AS TEXT), CAST(x'636c69fe' AS TEXT))",
            (t,),
        )
        conn.commit()
    finally:
        conn.close()


def test_text_that_is_not_utf8_is_read_not_a_blind_exporter(tmp_path: Path) -> None:
    db = tmp_path / "calls.db"
    store = CallStore(db)
    now = time.time()
    store.insert([call(now - 30, platform="cli"), call(now - 20, platform="cli")])
    store.close()
    _spoil_with_bytes(db, now - 10)
    with exporter(db) as (_, url):
        text, samples = scrape(url)
    assert samples[("hermes_dash_calllog_up", ())] == 1.0
    assert total(samples, "hermes_dash_requests_total") == 3
    assert total(samples, "hermes_dash_requests_by_status_total") == 3
    models = {
        dict(labels)["model"] for (name, labels) in samples if name == "hermes_dash_requests_total"
    }
    # The bytes that are not UTF-8 read as U+FFFD; the rest of the name stays.
    assert models == {"openai/gpt-4o-mini", "m\ufffd"}
    assert "\x80" not in text and "\xff" not in text
    # The same log read by summary: its figures, not an error about decoding.
    r = subprocess.run(
        [sys.executable, "-m", "hermes_dash", "summary", "--json", "--offline", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["calls"]["attempts"] == 3


def test_a_log_restored_in_place_starts_the_status_counts_over(tmp_path: Path) -> None:
    """``.restore`` (SQLite's backup API) writes another log into the same file: the
    breakdown by status must count the new rows, not the old ones plus a few."""
    db, other = tmp_path / "calls.db", tmp_path / "backup.db"
    now = time.time()
    for path, platform, n, start in ((db, "cli", 3, now - 60), (other, "telegram", 5, now - 30)):
        store = CallStore(path)
        store.insert([call(start + i, platform=platform) for i in range(n)])
        store.close()
    inode = db.stat().st_ino
    with exporter(db) as (_, url):
        _, before = scrape(url)
        assert total(before, "hermes_dash_requests_by_status_total", platform="cli") == 3
        with sqlite3.connect(other) as src, sqlite3.connect(db) as dst:
            src.backup(dst)
        src.close()
        dst.close()
        assert db.stat().st_ino == inode  # the same file, other rows
        _, after = scrape(url)
    assert total(after, "hermes_dash_requests_total") == 5
    assert total(after, "hermes_dash_requests_by_status_total", platform="telegram") == 5
    assert total(after, "hermes_dash_requests_by_status_total") == 5


def test_sigterm_to_any_thread_while_scraped_exits_0(tmp_path: Path) -> None:
    """The kernel may hand a process's signal to any of its threads: the server's, the
    scrape handlers'. Whichever gets it, the exporter stops, cleanly."""
    db = tmp_path / "calls.db"
    store = CallStore(db)
    store.insert([call(time.time() - 60)])
    store.close()
    with exporter(db) as (proc, url):
        scrape(url)
        threads = [int(t) for t in os.listdir(f"/proc/{proc.pid}/task") if int(t) != proc.pid]
        assert threads, "the server runs in a thread of its own"
        # kill(2) on a thread id delivers to that thread when it does not block the signal.
        os.kill(threads[0], signal.SIGTERM)
        assert proc.wait(60) == 0
    assert proc.stderr is not None and "stopped" in proc.stderr.read()


def _stderr_until(proc: subprocess.Popen[str], wanted: str) -> str:
    """stderr's lines up to the first holding ``wanted`` (at most a minute)."""
    assert proc.stderr is not None
    seen = ""
    deadline = time.monotonic() + 60
    while wanted not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stderr], [], [], 0.5)
        if ready:
            seen += proc.stderr.readline()
    return seen


def test_a_log_that_cannot_be_read_says_why_once_on_stderr(tmp_path: Path) -> None:
    db = tmp_path / "calls.db"
    store = CallStore(db)
    store.insert([call(time.time() - 60)])
    store.close()
    good = tmp_path / "good.db"
    shutil.copy(db, good)
    with exporter(db) as (proc, url):
        garbage = tmp_path / "garbage"
        garbage.write_bytes(b"this is not a database" * 100)
        garbage.replace(db)
        for _ in range(3):
            _, samples = scrape(url)
            assert samples[("hermes_dash_calllog_up", ())] == 0.0
        said = _stderr_until(proc, "not a valid SQLite database")
        assert "hermes-dash metrics: cannot read the call log" in said
        good.replace(db)
        _, samples = scrape(url)
        assert samples[("hermes_dash_calllog_up", ())] == 1.0
        said = _stderr_until(proc, "can be read again")
        # Three failed scrapes, one line: the reason is said when it changes.
        assert "cannot read the call log" not in said and "can be read again" in said


def test_a_latency_bucket_that_is_not_a_number_is_no_observation(tmp_path: Path) -> None:
    """Another writer's text in ``latency_bucket`` is no latency: counting it under +Inf
    only would read as a call slower than every bound (p95 = the top bucket)."""
    db = tmp_path / "calls.db"
    store = CallStore(db)
    now = time.time()
    store.insert([call(now - 30, latency_s=1.0)])
    store.close()
    conn = sqlite3.connect(db)
    try:
        for bucket in ("zz", 3.5, b"\x01"):
            conn.execute(
                "INSERT INTO calls (started_at, status, http_status, provider, model, "
                "latency_bucket) VALUES (?, 'ok', 200, 'openrouter', 'm', ?)",
                (now - 20, bucket),
            )
        conn.commit()
    finally:
        conn.close()
    with exporter(db) as (_, url):
        _, samples = scrape(url)
    assert total(samples, "hermes_dash_requests_total") == 4
    assert total(samples, "hermes_dash_latency_seconds_count") == 1
    assert total(samples, "hermes_dash_latency_seconds_bucket", le="+Inf") == 1


def test_a_password_in_the_openrouter_url_is_not_on_stderr(tmp_path: Path) -> None:
    """A proxy's basic auth in ``--openrouter-url`` is sent, never printed."""
    db = tmp_path / "calls.db"
    CallStore(db).close()
    url = "http://proxyuser:pr0xy-s3cret@127.0.0.1:9/api/v1"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hermes_dash",
            "metrics",
            "--db",
            str(db),
            "--listen",
            "127.0.0.1:0",
            "--openrouter-url",
            url,
        ],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OPENROUTER_API_KEY": FAKE_KEY},
    )
    try:
        said = _stderr_until(proc, "serving")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, rest = proc.communicate(timeout=60)
    assert "serving" in said and "proxyuser@127.0.0.1:9" in said
    assert "pr0xy-s3cret" not in said + rest and FAKE_KEY not in said + rest


def test_failed_account_polls_are_said_once_and_so_is_the_recovery(tmp_path: Path) -> None:
    """A failing /key is one stderr line (not one a poll), and its end another; the
    scrape keeps showing the poll's state meanwhile."""
    db = tmp_path / "calls.db"
    CallStore(db).close()
    failing = prefixed({"/key": Reply(500, {"error": {"code": 500, "message": "down"}})})
    with FakeOpenRouter(failing) as srv:
        args = ["--refresh", "5", "metrics", "--db", str(db), "--listen", "127.0.0.1:0"]
        proc = subprocess.Popen(
            [sys.executable, "-m", "hermes_dash", *args, "--openrouter-url", srv.url],
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "OPENROUTER_API_KEY": FAKE_KEY},
        )
        try:
            said = _stderr_until(proc, "did not answer as it should")
            assert "500" in said and "last good figures are kept" in said
            # The second failed poll (5 s later) says nothing new.
            deadline = time.monotonic() + 60
            while sum(1 for r in srv.requests if r[0].endswith("/key")) < 2:
                assert time.monotonic() < deadline, "no second poll"
                time.sleep(0.1)
            srv.routes.update(prefixed({"/key": Reply(200, KEY_BODY), "/credits": Reply(200, {})}))
            said = _stderr_until(proc, "answers again")
            assert "answers again" in said and "did not answer" not in said
        finally:
            proc.send_signal(signal.SIGTERM)
            _, rest = proc.communicate(timeout=60)
    assert "did not answer" not in rest and FAKE_KEY not in said + rest
