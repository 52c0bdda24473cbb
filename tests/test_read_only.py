"""Read-only mode (what ``serve`` runs without ``--allow-edit``): every write refused in the
services and the app, with a clear notification, files and keys untouched; and
``serve``'s own refusals (a non-local bind without a token, a bad port, a foreign host)."""

from __future__ import annotations

import asyncio
import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from hermes_dash.hermes.paths import Secrets
from hermes_dash.openrouter.management import KeyRecord, ManagementClient
from hermes_dash.services import keybudget as kb
from hermes_dash.services import routing as svc
from hermes_dash.services.readonly import ReadOnlyError
from hermes_dash.services.settings import UserSettings
from hermes_dash.tui.screens.keys import KeyLimitsScreen
from hermes_dash.tui.screens.settings import SettingsScreen

from .fake_account import MGMT_KEY, FakeAccount, key_entry
from .tui_helpers import Notices, frozen_app, frozen_session, settle, wait_for


def _read_only_app(tmp_path: Path, url: str | None = None):  # type: ignore[no-untyped-def]
    session = frozen_session(tmp_path, calls=300)
    secrets = Secrets(session.settings.secrets.api_key, MGMT_KEY)
    session.settings = replace(
        session.settings,
        read_only=True,
        secrets=secrets,
        openrouter_url=url or session.settings.openrouter_url,
    )
    return session, frozen_app(session, prefs=UserSettings(runway_alert_hours=None))


def _refusals(notices: Notices) -> list[str]:
    return [m for m in notices.messages() if "refused" in m]


@pytest.fixture
def account() -> Iterator[FakeAccount]:
    srv = FakeAccount([key_entry(1, name="gateway")])
    srv.start()
    yield srv
    srv.stop()


def test_services_refuse_writes(tmp_path: Path, account: FakeAccount) -> None:
    session = frozen_session(tmp_path, calls=10)
    config = session.settings.paths.config
    before = config.read_bytes()
    doc = svc.load_routing(config)
    proposal = svc.propose_routing(doc, replace(doc.rules, sort="latency"), ["sort"])
    with pytest.raises(ReadOnlyError, match=r"saving config\.yaml refused"):
        svc.save(proposal, session.settings.paths, read_only=True)
    with pytest.raises(ReadOnlyError, match=r"restoring config\.yaml refused"):
        svc.restore(config, config, session.settings.paths, read_only=True)
    assert config.read_bytes() == before

    key = KeyRecord.parse(key_entry(1))
    change = kb.plan_change(key, 5.0, "daily")

    async def go() -> None:
        client = ManagementClient(MGMT_KEY, base_url=account.url)
        try:
            with pytest.raises(ReadOnlyError, match="setting a key limit refused"):
                await kb.apply_change(client, change, read_only=True)
        finally:
            await client.aclose()

    asyncio.run(go())
    assert not [s for s in account.seen if s.method == "PATCH"]
    session.close()


async def test_routing_save_and_restore_refused(tmp_path: Path) -> None:
    session, app = _read_only_app(tmp_path)
    config = session.settings.paths.config
    before = config.read_bytes()
    notices = Notices()
    async with app.run_test(size=(160, 48), message_hook=notices) as pilot:
        await settle(pilot, app)
        await pilot.press("e")
        await wait_for(pilot, lambda: getattr(app.screen, "doc", None) is not None, "the editor")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: _refusals(notices), "the refusal")
        assert "read-only" in _refusals(notices)[0]
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: len(_refusals(notices)) == 2, "the restore refusal")
        assert "restoring config.yaml refused" in _refusals(notices)[1]
    assert config.read_bytes() == before


async def test_key_limit_and_settings_refused(tmp_path: Path, account: FakeAccount) -> None:
    _session, app = _read_only_app(tmp_path, account.url)
    prefs_file = app.prefs_path
    notices = Notices()
    async with app.run_test(size=(160, 48), message_hook=notices) as pilot:
        await settle(pilot, app)
        await pilot.press("k")
        screen = app.screen
        assert isinstance(screen, KeyLimitsScreen)
        await wait_for(pilot, lambda: screen.keys, "the keys")
        await pilot.press("l")
        await wait_for(pilot, lambda: _refusals(notices), "the refusal")
        assert "setting a key limit refused" in _refusals(notices)[0]
        assert app.screen is screen  # no dialog opened
        await pilot.press("escape")
        await pilot.press("b")
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsScreen), "the budgets")
        app.screen.dismiss(UserSettings(daily_budget_usd=1.0))
        await wait_for(pilot, lambda: len(_refusals(notices)) == 2, "the settings refusal")
        assert "saving settings refused" in _refusals(notices)[1]
        assert app.prefs.daily_budget_usd is None
        await pilot.press("t")  # the theme changes for the session, nothing is written
        await pilot.pause()
    assert not [s for s in account.seen if s.method == "PATCH"]
    assert not prefs_file.exists()


def _run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, HERMES_HOME=str(tmp_path))
    env.pop("HERMES_DASH_SERVE_TOKEN", None)
    return subprocess.run(
        [sys.executable, "-m", "hermes_dash", "serve", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--host", "0.0.0.0"], "--token"),
        (["--host", "192.0.2.7"], "--token"),
        (["--host", "dash.example"], "--token"),
        (["--port", "0"], "--port"),
        (["--port", "http"], "--port"),
        (["--host", "0.0.0.0", "--token", "short"], "--token"),
    ],
)
def test_serve_usage_errors(tmp_path: Path, args: list[str], words: str) -> None:
    p = _run(args, tmp_path)
    assert p.returncode == 2 and p.stdout == ""
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and "Traceback" not in p.stderr


def test_loopback_serve_refuses_foreign_hosts_and_origins(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "hermes_dash", "serve", "--port", str(port), "--db",
         str(tmp_path / "calls.db")],
        env=dict(os.environ, HERMES_HOME=str(tmp_path)),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(
        target=lambda: [lines.put(line) for line in proc.stdout or ()], daemon=True
    ).start()
    try:
        start = lines.get(timeout=60)
        while "hermes-dash serve: open" not in start:  # a warning may come first
            start = lines.get(timeout=60)
        assert f"open http://127.0.0.1:{port}/  (read-only" in start
        url = f"http://127.0.0.1:{port}"
        with httpx.Client(timeout=30) as http:
            assert http.get(url + "/").status_code == 200
            # A site whose name resolves to 127.0.0.1 (DNS rebinding) is refused.
            assert http.get(url + "/", headers={"Host": f"evil.example:{port}"}).status_code == 403
            # So is a websocket opened by another site's page.
            foreign = http.get(url + "/ws", headers={"Origin": "http://evil.example"})
            assert foreign.status_code == 403
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_served_command_is_read_only_unless_edits_are_allowed() -> None:
    from hermes_dash.cli import build_parser
    from hermes_dash.cli.serve import app_command

    parser = build_parser()
    args = parser.parse_args(
        ["serve", "--db", "/tmp/a b.db", "--token", "secret-token-1", "--profile", "work"]
    )
    command = app_command(args)
    assert command.endswith("--read-only") and "'/tmp/a b.db'" in command
    assert "--profile work" in command and "secret-token-1" not in command
    edit = app_command(parser.parse_args(["serve", "--allow-edit", "--demo"]))
    assert "--read-only" not in edit and edit.endswith("--demo")


async def test_recorder_install_refused(tmp_path: Path) -> None:
    session, app = _read_only_app(tmp_path)
    plugins = session.settings.paths.home / "plugins"
    shutil.rmtree(plugins / "hermes-dash-recorder", ignore_errors=True)  # the demo has it
    config = session.settings.paths.config
    before = config.read_bytes()
    notices = Notices()
    async with app.run_test(size=(160, 48), message_hook=notices) as pilot:
        await settle(pilot, app)
        await pilot.press("i")
        await wait_for(pilot, lambda: _refusals(notices), "the refusal")
        assert "installing the recorder refused" in _refusals(notices)[0]
    assert config.read_bytes() == before
    assert not (plugins / "hermes-dash-recorder").exists()
    with pytest.raises(ReadOnlyError):
        from hermes_dash.services import plugin

        plugin.install(session.settings.paths, read_only=True)
    assert not (plugins / "hermes-dash-recorder").exists()
