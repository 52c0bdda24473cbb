"""First-run commands and the dashboard's install key against hostile homes: files that
are not what they should be, keys with terminal controls, config.yaml changed behind a
confirmation. Real processes and real files throughout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from hermes_dash.calllog.recorder import PLUGIN_NAME
from hermes_dash.tui.screens.dialogs import ConfirmDiff

from .fakeserver import KEY_BODY, FakeOpenRouter, Reply, prefixed
from .test_doctor import checks, doctor, make_home, summary
from .tui_helpers import Notices, first_run_app, first_run_settled, wait_for


def plugin_status(home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENROUTER_")}
    env["HERMES_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "hermes_dash", "plugin", "status"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_a_fifo_or_a_folder_in_place_of_the_call_log_is_named_not_waited_on(
    tmp_path: Path,
) -> None:
    home = make_home(tmp_path, installed=True)
    log = home / "hermes-dash" / "calls.db"
    log.parent.mkdir(exist_ok=True)
    os.mkfifo(log)
    # Opened read-only, SQLite would wait on the FIFO for a writer that never comes.
    r = doctor(home, "--json", "--offline")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    c = checks(r)["call_log"]
    assert c["status"] == "fail" and "FIFO" in c["detail"] and "not a regular file" in c["detail"]
    r = plugin_status(home)
    assert r.returncode == 0, r.stderr
    log.unlink()
    log.mkdir()
    c = checks(doctor(home, "--json", "--offline"))["call_log"]
    assert c["status"] == "fail" and "is a directory" in c["detail"]


@pytest.mark.parametrize(
    "key",
    [
        "sk-or-v1-0123456789abcdef\x1b[2J",  # a terminal control at the end: the masked tail
        "sk-or-v1-0123456789abcdef\u201d",  # a typographic quote pasted with the key
        "sk-or-v1-01234567\n89abcdef",  # a line break
    ],
)
def test_a_key_no_header_can_carry_is_explained_never_echoed(tmp_path: Path, key: str) -> None:
    home = make_home(tmp_path)
    with FakeOpenRouter(prefixed({"/key": Reply(body=KEY_BODY)})) as srv:
        r = doctor(home, "--json", key=key, url=srv.url)
        plain = doctor(home, key=key, url=srv.url)
        s = summary(home, url=srv.url, key=key)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    c = checks(r)
    assert c["key"]["status"] == "fail" and "copy the key again" in c["key"]["detail"]
    assert c["key"]["detail"].startswith("sk-or-v1-…")
    assert c["key_accepted"]["status"] == "skip"
    assert plain.returncode == 1 and "Traceback" not in plain.stderr
    for out in (r.stdout, plain.stdout, plain.stderr, s.stdout, s.stderr):
        assert "\x1b" not in out and "0123456789" not in out and "01234567" not in out
    # summary has nothing to show without a usable key: one line, exit 1.
    assert s.returncode == 1 and "Traceback" not in s.stderr, s.stderr
    assert s.stderr.count("\n") == 1 and "OPENROUTER_API_KEY holds a character" in s.stderr
    json.loads(r.stdout)


def test_plugin_install_into_a_config_it_cannot_edit_copies_nothing(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    config = home / "config.yaml"
    config.write_text(config.read_text() + "plugins: hermes-dash-recorder\n")
    before = config.read_bytes()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENROUTER_")}
    env["HERMES_HOME"] = str(home)
    r = subprocess.run(
        [sys.executable, "-m", "hermes_dash", "plugin", "install"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "plugins in config.yaml is not a mapping" in r.stderr
    assert config.read_bytes() == before
    # No half-installed plugin left behind for doctor to call "installed but not enabled".
    assert not (home / "plugins" / PLUGIN_NAME).exists()


async def _confirm_after_edit(tmp_path: Path, edit: Callable[[Path], None]) -> tuple[Any, Notices]:
    """Press i, change config.yaml while the confirmation shows, then press y."""
    app = first_run_app(tmp_path, "not-installed")
    notices = Notices()
    async with app.run_test(size=(160, 48), message_hook=notices) as pilot:
        await wait_for(pilot, lambda: first_run_settled(app), "the first-run guide")
        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDiff), "the confirmation")
        edit(app.settings.paths.config)
        await pilot.press("y")
        await wait_for(
            pilot,
            lambda: any(n.title == "Recorder" for n in notices.seen),
            "the install's outcome",
        )
    return app, notices


@pytest.mark.asyncio
async def test_install_key_never_writes_over_a_config_changed_behind_the_confirmation(
    tmp_path: Path,
) -> None:
    def edit(config: Path) -> None:
        config.write_text(config.read_text() + "# edited meanwhile\nagent:\n  max_turns: 7\n")

    app, notices = await _confirm_after_edit(tmp_path, edit)
    paths = app.settings.paths
    outcome = [n for n in notices.seen if n.title == "Recorder"][-1]
    assert outcome.severity == "error" and "changed on disk" in outcome.message
    assert paths.config.read_text().endswith("# edited meanwhile\nagent:\n  max_turns: 7\n")
    assert "plugins" not in yaml.safe_load(paths.config.read_text())
    # "Nothing was installed" is true: no plugin files either.
    assert not (paths.plugins / PLUGIN_NAME).exists()
    assert not paths.backups.exists() or not any(paths.backups.iterdir())


@pytest.mark.asyncio
async def test_install_key_confirmed_as_files_only_writes_no_unseen_config_change(
    tmp_path: Path,
) -> None:
    """The confirmation said config.yaml already enables the recorder; it no longer does
    when y is pressed: enabling it now would write a diff nobody saw."""
    app = first_run_app(tmp_path, "not-installed")
    config = app.settings.paths.config
    config.write_text(config.read_text() + f"plugins:\n  enabled:\n    - {PLUGIN_NAME}\n")
    notices = Notices()
    async with app.run_test(size=(160, 48), message_hook=notices) as pilot:
        await wait_for(pilot, lambda: app.checks is not None, "the checks")
        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDiff), "the confirmation")
        assert "already lists" in app.screen.diff
        edited = config.read_text().replace(f"    - {PLUGIN_NAME}\n", "    - other\n")
        config.write_text(edited)
        await pilot.press("y")
        await wait_for(
            pilot,
            lambda: any(n.title == "Recorder" for n in notices.seen),
            "the install's outcome",
        )
    outcome = [n for n in notices.seen if n.title == "Recorder"][-1]
    assert outcome.severity == "error" and "changed on disk" in outcome.message
    assert config.read_text() == edited
    assert not (app.settings.paths.plugins / PLUGIN_NAME).exists()


@pytest.mark.parametrize(
    "block", ["plugins: hermes-dash-recorder\n", "plugins:\n  enabled: {hermes-dash-recorder: 1}\n"]
)
def test_doctor_says_a_plugins_block_of_the_wrong_shape_needs_a_hand(
    tmp_path: Path, block: str
) -> None:
    home = make_home(tmp_path)
    (home / "config.yaml").write_text((home / "config.yaml").read_text() + block)
    r = doctor(home, "--json", "--offline")
    assert r.returncode == 1
    c = checks(r)["config"]
    # `plugin install` cannot edit it: the fix is by hand, not that command.
    assert c["status"] == "fail" and "no plugin can be enabled" in c["detail"]
    assert "by hand" in c["fix"] and "plugin install" not in c["fix"]


@pytest.mark.parametrize("broken", ["not yaml: [", "a folder", "plugins: 3\n"])
@pytest.mark.asyncio
async def test_the_guide_names_a_broken_config_before_the_install_key(
    tmp_path: Path, broken: str
) -> None:
    app = first_run_app(tmp_path, "not-installed")
    config = app.settings.paths.config
    if broken == "a folder":
        config.unlink()
        config.mkdir()
    else:
        config.write_text(broken)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: first_run_settled(app), "the first-run guide")
        detailed = str(app.dashboard.spend.guide.render()).splitlines()
        short = str(app.dashboard.rate.guide.render()).splitlines()
    # First the config (pressing i would only be refused), then the recorder.
    assert detailed[1].startswith("✗ config.yaml: ") and "press i" not in detailed[2]
    assert any("recorder plugin" in line for line in detailed[3:])
    assert short[1].startswith("✗ config.yaml")


@pytest.mark.parametrize("kind", ["file", "link loop"])
def test_a_hermes_home_that_is_not_a_folder_is_not_called_missing(
    tmp_path: Path, kind: str
) -> None:
    home = tmp_path / "hermes"
    if kind == "file":
        home.write_text("")
    else:
        home.symlink_to(tmp_path / "other")
        (tmp_path / "other").symlink_to(home)
    r = doctor(home, "--json", "--offline")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    c = checks(r)["home"]
    assert c["status"] == "fail" and "is not a folder" in c["detail"]


@pytest.mark.asyncio
async def test_a_first_run_does_not_say_the_call_log_was_replaced(tmp_path: Path) -> None:
    """The dashboard makes the call log it opens on a first run; that file is no
    replacement of anything, and a toast saying so would only puzzle a new user."""
    app = first_run_app(tmp_path, "not-installed")
    notices = Notices()
    async with app.run_test(size=(160, 48), message_hook=notices) as pilot:
        await wait_for(pilot, lambda: first_run_settled(app), "the first-run guide")
        await pilot.press("r")
        await wait_for(pilot, lambda: not app.stale_aggregates, "a second read")
        await app.workers.wait_for_complete()
    assert not [n for n in notices.seen if "was replaced" in n.message]


def _install(home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENROUTER_")}
    env["HERMES_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "hermes_dash", "plugin", "install"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_plugin_install_repairs_its_own_folder_or_says_what_is_in_the_way(
    tmp_path: Path,
) -> None:
    home = make_home(tmp_path, installed=True)
    folder = home / "plugins" / PLUGIN_NAME
    # A FIFO in place of plugin.yaml: doctor cannot read the version; install replaces it.
    (folder / "plugin.yaml").unlink()
    os.mkfifo(folder / "plugin.yaml")
    assert checks(doctor(home, "--json", "--offline"))["recorder_version"]["status"] == "fail"
    r = _install(home)
    assert r.returncode == 0, r.stderr
    assert checks(doctor(home, "--json", "--offline"))["recorder_version"]["status"] == "ok"
    # A folder in place of a file, or a file in place of the folder, holds what is not
    # ours: named, with the command that moves it aside, and left as it is.
    (folder / "__init__.py").unlink()
    (folder / "__init__.py").mkdir()
    (folder / "__init__.py" / "mine.txt").write_text("keep me")
    r = _install(home)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "in the way" in r.stderr and f"mv {folder / '__init__.py'}" in r.stderr
    assert (folder / "__init__.py" / "mine.txt").read_text() == "keep me"
    shutil.rmtree(folder)
    folder.write_text("not a folder")
    r = _install(home)
    assert r.returncode == 1 and "in the way" in r.stderr and "Traceback" not in r.stderr
    assert folder.read_text() == "not a folder"


def test_a_redirect_from_the_key_endpoint_is_named_and_not_followed(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    elsewhere = FakeOpenRouter(prefixed({"/key": Reply(body=KEY_BODY)}))
    with (
        elsewhere,
        FakeOpenRouter(
            prefixed({"/key": Reply(302, "", headers={"Location": elsewhere.url + "/key"})})
        ) as srv,
    ):
        r = doctor(home, "--json", url=srv.url)
    assert r.returncode == 1
    c = checks(r)["key_accepted"]
    assert c["status"] == "fail" and "redirect (302)" in c["detail"]
    assert not elsewhere.requests  # the key never went where the redirect pointed


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_an_env_file_that_is_not_a_file_is_named_not_appended_to(tmp_path: Path, kind: str) -> None:
    home = make_home(tmp_path)
    env_file = home / ".env"
    if kind == "fifo":
        os.mkfifo(env_file)
    else:
        env_file.mkdir()
    r = doctor(home, "--json", "--offline", key=None)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    c = checks(r)["key"]
    # `echo ... >> .env` would hang on a FIFO or fail on a folder: not the fix shown.
    assert c["status"] == "fail" and "not a regular file" in c["detail"]
    assert c["fix"].startswith("mv ") and "echo" not in c["fix"]


@pytest.mark.asyncio
async def test_the_dashboard_with_a_key_no_header_can_carry_guides_instead_of_failing(
    tmp_path: Path,
) -> None:
    import dataclasses

    from hermes_dash.demo.firstrun import first_run_session
    from hermes_dash.openrouter.client import OpenRouterClient
    from hermes_dash.services.settings import Secrets, UserSettings
    from hermes_dash.tui.app import make_app

    from .tui_helpers import FROZEN_NOW

    key = "sk-or-v1-0123456789abcdef\u201d"  # pasted with its closing quote
    s = first_run_session(tmp_path, "not-installed", FROZEN_NOW)
    settings = dataclasses.replace(s.settings, secrets=Secrets(key, None))
    api = OpenRouterClient(key, base_url=settings.openrouter_url, transport=s.server.transport)
    app = make_app(settings, api, s.store, clock=lambda: FROZEN_NOW, prefs=UserSettings())
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: first_run_settled(app), "the first-run guide")
        guide = str(app.dashboard.spend.guide.render())
        assert app.account.status == "unauthorized"
        assert "copy the key again" in guide and "0123456789" not in guide
