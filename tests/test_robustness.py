"""Faults from a real server, broken files and disks, and secrets that must never leak."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hermes_dash.calllog import recorder
from hermes_dash.calllog.store import CallStore
from hermes_dash.cli.common import TIMEOUT_ENV
from hermes_dash.hermes.paths import HermesPaths, Secrets
from hermes_dash.openrouter.client import OpenRouterClient
from hermes_dash.services.settings import DashSettings, UserSettings
from hermes_dash.tui.app import make_app

from .conftest import FAKE_KEY, call
from .fakeserver import CREDITS_BODY, KEY_BODY, FakeOpenRouter, Reply, prefixed
from .tui_helpers import Notices, wait_for

ROOT = Path(__file__).resolve().parent.parent


def run(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, **kw: Any
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hermes_dash", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
        cwd=cwd,
        **kw,
    )


@pytest.fixture(scope="module")
def small_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("log") / "calls.db"
    CallStore(path).insert([call(1_700_000_000 + i) for i in range(10)])
    return path


FAULTS = [
    ("401", Reply(401, {"error": {"code": 401, "message": "User not found."}}), "401"),
    (
        "402",
        Reply(402, {"error": {"code": 402, "message": "Insufficient credits"}}),
        "out of credits",
    ),
    ("403", Reply(403, {"error": {"code": 403, "message": "Key limit exceeded"}}), "403"),
    (
        "429",
        Reply(
            429,
            {"error": {"code": 429, "message": "Rate limit exceeded"}},
            {"Retry-After": "17", "X-RateLimit-Limit": "20", "X-RateLimit-Remaining": "0"},
        ),
        "retry after 17 s",
    ),
    ("500", Reply(500, {"error": {"code": 500, "message": "Internal"}}), "server error (500)"),
    ("502", Reply(502, "<html>Bad gateway</html>"), "server error (502)"),
    ("503", Reply(503, {"error": {"code": 503, "message": "No providers"}}), "server error (503)"),
    # Past the client's timeout, which the test shortens (see test_summary_fault...).
    ("stall", Reply(200, KEY_BODY, stall_s=15), "did not answer"),
    ("truncated", Reply(200, KEY_BODY, truncate=True), "cut off"),
    ("not-json", Reply(200, "<html>gateway</html>"), "not JSON"),
    ("wrong-shape", Reply(200, {"data": [1, 2, 3]}), "unexpected response shape"),
    ("50MB", Reply(200, repeat_bytes=50 * 1024 * 1024), "larger than"),
]


@pytest.mark.parametrize(("reply", "fragment"), [f[1:] for f in FAULTS], ids=[f[0] for f in FAULTS])
def test_summary_fault_is_one_line_exit_1(small_log: Path, reply: Reply, fragment: str) -> None:
    with FakeOpenRouter(prefixed({"/key": reply, "/credits": Reply(200, CREDITS_BODY)})) as srv:
        r = run(
            "summary",
            "--json",
            "--db",
            str(small_log),
            "--openrouter-url",
            srv.url,
            # A stalled server is given 1 s, not the product's 10 s: the same failure, sooner.
            env={"OPENROUTER_API_KEY": FAKE_KEY, TIMEOUT_ENV: "1"},
        )
    assert r.returncode == 1, r.stdout
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], r.stderr
    assert "Traceback" not in r.stderr and FAKE_KEY not in r.stderr + r.stdout


def test_connection_refused(small_log: Path) -> None:
    r = run(
        "summary",
        "--db",
        str(small_log),
        "--openrouter-url",
        "http://127.0.0.1:9/api/v1",
        env={"OPENROUTER_API_KEY": FAKE_KEY},
    )
    assert r.returncode == 1 and "cannot connect" in r.stderr and len(r.stderr.splitlines()) == 1


def _settings(tmp_path: Path, url: str) -> DashSettings:
    """A dashboard on a call log in tmp_path, talking to the fake server with FAKE_KEY."""
    return DashSettings(
        paths=HermesPaths(tmp_path),
        db_path=tmp_path / "calls.db",
        openrouter_url=url,
        secrets=Secrets(FAKE_KEY, None),
        user_settings_path=tmp_path / "s.json",
    )


async def test_tui_backs_off_as_told_and_recovers(tmp_path: Path) -> None:
    routes = prefixed({"/key": Reply(200, KEY_BODY), "/credits": Reply(200, CREDITS_BODY)})
    with FakeOpenRouter(routes) as srv:
        store = CallStore(tmp_path / "calls.db")
        store.insert([call(1_700_000_000.0)])
        settings = _settings(tmp_path, srv.url)
        api = OpenRouterClient(FAKE_KEY, base_url=srv.url, timeout=1.0)
        app = make_app(settings, api, store, prefs=UserSettings())
        notices = Notices()
        async with app.run_test(size=(120, 40), message_hook=notices) as pilot:

            async def wait(cond) -> None:  # type: ignore[no-untyped-def]
                await wait_for(pilot, cond)

            await wait(lambda: app.account.status == "ok" and app.account.snapshot is not None)
            good = app.account.snapshot
            assert app.next_poll_in == settings.refresh_s
            for name, reply, _ in FAULTS:
                if name in ("stall", "50MB"):
                    continue  # covered by the CLI test; slow here
                srv.routes["/api/v1/key"] = reply
                await pilot.press("r")
                await wait(lambda: app.account.status != "ok")
                assert app.account.snapshot == good and app.account.stale, name
                assert app.is_running
                if name == "429":
                    assert app.next_poll_in >= 17
                else:
                    assert app.next_poll_in > settings.refresh_s
                # heal
                srv.routes["/api/v1/key"] = Reply(200, KEY_BODY)
                await pilot.press("r")
                await wait(lambda: app.account.status == "ok")
                assert not app.account.stale and app.next_poll_in == settings.refresh_s
                good = app.account.snapshot
            assert len(notices.seen) >= len(FAULTS) - 2  # each failure was said
            assert FAKE_KEY not in json.dumps(notices.messages())


def test_corrupt_call_log_is_reported_and_kept(tmp_path: Path) -> None:
    db = tmp_path / "calls.db"
    junk = os.urandom(64 * 1024)
    db.write_bytes(junk)
    for args in (["summary", "--offline"], ["export", "--format", "csv"]):
        r = run(*args, "--db", str(db))
        assert r.returncode == 1 and "not a valid SQLite database" in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
    assert db.read_bytes() == junk


def _without_root_override() -> None:
    """In the child, before exec: drop the capabilities that let root ignore file and
    directory permissions (from the bounding set, so the new program never gets them)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    pr_capbset_drop, cap_dac_override, cap_dac_read_search = 24, 1, 2
    for cap in (cap_dac_override, cap_dac_read_search):
        if libc.prctl(pr_capbset_drop, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "cannot drop a capability")


def _permissions_apply() -> dict[str, object]:
    """subprocess arguments under which file permissions bind, even when running as root
    (skipped where capabilities cannot be dropped)."""
    if os.geteuid() != 0:
        return {}
    try:
        subprocess.run(["true"], preexec_fn=_without_root_override, check=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        pytest.skip("running as root and cannot drop CAP_DAC_OVERRIDE here")
    return {"preexec_fn": _without_root_override}


def test_read_only_directory(small_log: Path) -> None:
    import shutil
    import tempfile

    as_user = _permissions_apply()
    base = Path(tempfile.mkdtemp(prefix="hermes-dash-ro-"))
    try:
        os.chmod(base, 0o755)
        ro = base / "ro"
        ro.mkdir()
        # A log as a closed store leaves it: everything checkpointed into the file.
        conn = sqlite3.connect(small_log)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        shutil.copy(small_log, ro / "calls.db")
        os.chmod(ro / "calls.db", 0o644)
        os.chmod(ro, 0o555)
        env = {"HOME": str(base), "HERMES_HOME": str(base / "home")}
        before = (ro / "calls.db").read_bytes()

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return run(*args, env=env, **as_user)

        # No log there, and none can be made: one line, exit 1.
        r = cli("summary", "--json", "--offline", "--db", str(ro / "new" / "calls.db"))
        assert r.returncode == 1 and "Traceback" not in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
        # A log that is there is read as it stands (a read-only mount, a copy).
        r = cli("summary", "--json", "--offline", "--db", str(ro / "calls.db"))
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["calls"]["total"] == 0  # the 10 calls are from 2023
        r = cli("export", "--format", "json", "--db", str(ro / "calls.db"))
        assert r.returncode == 0, r.stderr
        assert len(json.loads(r.stdout)) == 10
        assert (ro / "calls.db").read_bytes() == before
        assert sorted(p.name for p in ro.iterdir()) == ["calls.db"]
    finally:
        os.chmod(base / "ro", 0o755)
        shutil.rmtree(base)


WRITE_UNTIL_FULL = """
import resource, sys, time
from hermes_dash.calllog import recorder
recorder.configure(sys.argv[1])
recorder.on_post_api_request(api_duration=1.0, model="m", provider="p")  # creates the file
recorder.flush()
limit = int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
import signal; signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
for i in range(3000):
    recorder.on_post_api_request(api_duration=1.0, model="m" * 200, provider="p", api_request_id=str(i))
recorder.flush(60)
print(recorder.dropped_total)
"""


def test_full_disk_drops_rows_without_raising_or_corrupting(tmp_path: Path) -> None:
    db = tmp_path / "calls.db"
    size_now = 200 * 1024
    out = subprocess.run(
        [sys.executable, "-c", WRITE_UNTIL_FULL, str(db), str(size_now * 2)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert out.returncode == 0, out.stderr
    dropped = int(out.stdout.strip())
    assert dropped > 0
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    written = conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0]
    assert written >= 1 and written + dropped == 3001


def test_config_that_vanishes_or_becomes_a_directory(tmp_path: Path) -> None:
    from hermes_dash.hermes.writer import ConfigWriteError, commit
    from hermes_dash.routing.rules import RoutingRules
    from hermes_dash.services import routing as svc

    config = tmp_path / "config.yaml"
    config.write_text("model: x\n")
    proposal = svc.propose_routing(svc.load_routing(config), RoutingRules(sort="price"))
    config.unlink()
    with pytest.raises(ConfigWriteError, match="changed on disk"):
        commit(proposal, tmp_path / "b")
    assert not config.exists()
    config.mkdir()
    r = run("routing", "set", "--sort", "price", "--config", str(config))
    assert r.returncode == 1 and "is a directory" in r.stderr and config.is_dir()


def test_secrets_never_leak(tmp_path: Path, small_log: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".env").write_text(f"OPENROUTER_API_KEY={FAKE_KEY}\n")
    (home / "config.yaml").write_text("model: {default: a/b}\n")
    db = home / "hermes-dash" / "calls.db"
    CallStore(db).insert([call(1_700_000_000 + i) for i in range(10)])
    env = {"HERMES_HOME": str(home)}
    outputs = []
    with FakeOpenRouter(
        prefixed({"/key": Reply(200, KEY_BODY), "/credits": Reply(200, CREDITS_BODY)})
    ) as srv:
        env["HERMES_DASH_OPENROUTER_URL"] = srv.url
        for args in (
            ["summary", "--json"],
            ["summary"],
            ["export", "--format", "json"],
            ["export", "--format", "csv", "--output", str(tmp_path / "out.csv")],
            ["routing", "set", "--sort", "price"],
            ["plugin", "install"],
            ["plugin", "status"],
        ):
            r = run(*args, env=env)
            assert r.returncode == 0, (args, r.stderr)
            outputs.append(r.stdout + r.stderr)
        assert all(h.get("authorization") == f"Bearer {FAKE_KEY}" for _, h in srv.requests)
    shots = run_screenshot_script(tmp_path / "shots")
    outputs.append(shots)
    for text in outputs:
        assert FAKE_KEY not in text
    svgs = [*(tmp_path / "shots").glob("*.svg"), *(ROOT / "screenshots").glob("*.svg")]
    assert (tmp_path / "shots" / "help.svg").is_file()
    for path in [*home.rglob("*"), *tmp_path.glob("*.csv"), *svgs]:
        if path.is_file() and path.name != ".env":
            assert FAKE_KEY.encode() not in path.read_bytes(), path
    assert stat.S_IMODE(os.stat(db).st_mode) == 0o600
    backups = list((home / "hermes-dash" / "backups").iterdir())
    assert backups and all(stat.S_IMODE(os.stat(b).st_mode) == 0o600 for b in backups)


def run_screenshot_script(out: Path) -> str:
    """The screenshot script runs with a real-looking key in the environment (writing to
    ``out``, not to the repository's screenshots)."""
    r = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "screenshots.py"), "help", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OPENROUTER_API_KEY": FAKE_KEY, "TZ": "UTC"},
    )
    assert r.returncode == 0, r.stderr
    return r.stdout + r.stderr


async def test_tui_never_shows_the_key(tmp_path: Path) -> None:
    store = CallStore(tmp_path / "calls.db")
    with FakeOpenRouter(
        prefixed({"/key": Reply(401, {"error": {"message": f"bad key {FAKE_KEY}"}})})
    ) as srv:
        settings = _settings(tmp_path, srv.url)
        app = make_app(
            settings, OpenRouterClient(FAKE_KEY, base_url=srv.url), store, prefs=UserSettings()
        )
        notices = Notices()
        async with app.run_test(size=(160, 48), message_hook=notices) as pilot:
            await wait_for(pilot, lambda: app.account.status == "unauthorized", "the 401")
            await wait_for(pilot, lambda: notices.seen, "the notice")  # its toast is drawn too
            svg = app.export_screenshot()
            assert FAKE_KEY not in svg and "…KEY9" in svg
            assert all(FAKE_KEY not in m for m in notices.messages())


def test_recorder_file_is_0600(tmp_path: Path) -> None:
    path = tmp_path / "new" / "calls.db"
    recorder.configure(str(path))
    try:
        recorder.on_post_api_request(api_duration=0.1, model="m", provider="p")
        assert recorder.flush()
    finally:
        recorder.configure(None)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_a_proxy_password_in_the_openrouter_url_is_never_printed(small_log: Path) -> None:
    """A proxy's basic auth in the OpenRouter URL is sent, and never shown when the proxy
    cannot be reached: the one-line error names the user and the host only."""
    url = "http://proxyuser:pr0xy-s3cret@127.0.0.1:9/api/v1"
    env = {"OPENROUTER_API_KEY": FAKE_KEY, "HERMES_DASH_OPENROUTER_URL": url}
    for args in (["summary", "--db", str(small_log)], ["doctor"]):
        r = run(*args, env=env)
        said = r.stdout + r.stderr
        assert r.returncode == 1 and "proxyuser@127.0.0.1:9" in said, (args, said)
        assert "pr0xy-s3cret" not in said and FAKE_KEY not in said
