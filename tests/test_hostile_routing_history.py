"""The routing history file under hostile conditions, through real CLI processes and the
editor: a symlink or a folder in its place, a huge file, and several ``routing set`` at
once. Config writes always stand, and the command says why history was not recorded."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from hermes_dash.routing.history import HISTORY_NAME, MAX_READ, RoutingHistory
from hermes_dash.tui.screens.dialogs import ConfirmDiff
from hermes_dash.tui.screens.routing import RoutingScreen

from .tui_helpers import frozen_app, frozen_session, settle, wait_for

CONFIG = "model:\n  default: a/b\n  provider: openrouter\n"


def run(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HERMES_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "hermes_dash", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "hermes"
    (home / "hermes-dash").mkdir(parents=True)
    (home / "config.yaml").write_text(CONFIG)
    return home


def _routing(home: Path) -> dict[str, object]:
    return yaml.safe_load((home / "config.yaml").read_text()).get("provider_routing") or {}


def test_a_symlinked_history_is_never_followed(home: Path, tmp_path: Path) -> None:
    victim = tmp_path / "passwd"
    victim.write_text("root:x:0:0:root:/root:/bin/sh\n")
    (home / "hermes-dash" / HISTORY_NAME).symlink_to(victim)
    r = run("routing", "show", home=home)
    assert r.returncode == 0, r.stderr
    r = run("routing", "set", "--sort", "latency", home=home)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert _routing(home) == {"sort": "latency"}
    assert "routing history not recorded" in r.stderr and "symbolic link" in r.stderr
    assert victim.read_text() == "root:x:0:0:root:/root:/bin/sh\n"
    r = run("routing", "history", "--json", home=home)
    assert r.returncode == 0 and json.loads(r.stdout) == []
    assert "routing history not read" in r.stderr


def test_an_unwritable_history_never_stops_set_or_restore(home: Path) -> None:
    (home / "hermes-dash" / HISTORY_NAME).mkdir()  # not a file: nothing can be appended
    r = run("routing", "set", "--sort", "price", home=home)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert _routing(home) == {"sort": "price"}
    assert "saved" in r.stderr and "warning: routing history not recorded" in r.stderr
    backup = run("routing", "restore", "--list", home=home).stdout.splitlines()[0]
    r = run("routing", "restore", backup, home=home)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert _routing(home) == {}
    assert "warning: routing history not recorded" in r.stderr
    r = run("routing", "history", home=home)
    assert r.returncode == 0 and "routing history not read" in r.stderr


def test_only_the_newest_part_of_a_huge_history_is_read(home: Path) -> None:
    path = home / "hermes-dash" / HISTORY_NAME
    record = {"at": 1.7e9, "source": "routing set", "config": "../config.yaml", "before": {}}
    with path.open("wb") as fh:
        old = json.dumps({**record, "after": {"sort": "throughput"}}) + "\n"
        fh.write(old.encode() * (MAX_READ // len(old) + 10))  # pushed out of the read part
        fh.write(b"x" * (3 * MAX_READ))  # one line of garbage, longer than what is read
        fh.write(b"\n" + json.dumps({**record, "after": {"sort": "price"}}).encode() + b"\n")
    os.chmod(path, 0o600)
    history = RoutingHistory(path)
    assert [c.after for c in history.records()] == [{"sort": "price"}]
    assert history.problem is None
    r = run("routing", "history", "--json", home=home)
    assert r.returncode == 0, r.stderr
    # The config has no block: the newest record's block differs, so a change by hand.
    assert [c["after"] for c in json.loads(r.stdout)] == [{"sort": "price"}, {}]


def test_unsetting_a_key_the_file_does_not_have_writes_nothing(home: Path) -> None:
    """``--sort none`` without a provider_routing block used to add an empty block: a
    write (and a backup) that Hermes reads as no change, and no change to record."""
    before = (home / "config.yaml").read_bytes()
    assert "sort" not in _routing(home)
    r = run("routing", "set", "--sort", "none", home=home)
    assert r.returncode == 0 and "nothing to change" in r.stderr, r.stderr
    assert (home / "config.yaml").read_bytes() == before
    assert not (home / "hermes-dash" / "backups").exists() or not any(
        (home / "hermes-dash" / "backups").iterdir()
    )


def test_concurrent_sets_are_recorded_in_the_order_they_were_written(home: Path) -> None:
    assert run("routing", "show", home=home).returncode == 0  # the baseline
    sorts = ["price", "latency", "throughput", "none", "price", "latency"]
    env = {**os.environ, "HERMES_HOME": str(home)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "hermes_dash", "routing", "set", "--sort", s],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for s in sorts
    ]
    results = [(p.wait(120), p.communicate()[1]) for p in procs]
    for code, err in results:
        assert "Traceback" not in err
        assert code == 0 or (code == 1 and "changed on disk" in err), err
    written = sum(1 for code, err in results if code == 0 and "saved" in err)
    changes = RoutingHistory(home / "hermes-dash" / HISTORY_NAME).changes()
    # No change by hand imagined between two of our writes, none lost or doubled.
    assert [c.source for c in changes] == ["routing set"] * len(changes)
    assert len(changes) == written, (changes, results)
    for before, after in itertools.pairwise(changes):
        assert after.before == before.after and after.at >= before.at
    assert changes[-1].after == _routing(home)


async def test_the_editor_saves_when_the_history_cannot_be_written(tmp_path: Path) -> None:
    session = frozen_session(tmp_path)
    config = session.settings.paths.config
    history = session.settings.db_path.parent / HISTORY_NAME
    history.unlink()
    history.mkdir()
    app = frozen_app(session)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, RoutingScreen), "the editor")
        screen = app.screen
        await wait_for(pilot, lambda: screen.form_ready, "the form")
        screen.query_one("#sort").value = "throughput"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDiff), "the diff")
        await pilot.press("y")
        await wait_for(pilot, lambda: "throughput" in config.read_text(), "the write")
        await wait_for(
            pilot,
            lambda: any("history not recorded" in str(n.message) for n in app._notifications),
            "the warning",
        )
        assert app.is_running and app.screen is screen
    session.close()


def test_a_change_dated_in_the_future_leaves_the_others_measured(home: Path) -> None:
    from hermes_dash.calllog.store import CallStore

    from .conftest import call

    now = time.time()
    store = CallStore(home / "hermes-dash" / "calls.db")
    store.insert([call(now - 1800 + i * 60, model="a/b") for i in range(20)])
    store.close()
    config = home / "config.yaml"
    config.write_text(CONFIG + "provider_routing:\n  sort: latency\n")
    record = {"config": "../config.yaml", "source": "routing set"}
    lines = [
        {**record, "at": now - 7200, "before": {}, "after": {"sort": "price"}},
        # A clock a year ahead wrote this one; the next was written after it, at now - 900.
        {**record, "at": now + 365 * 86400, "before": {"sort": "price"}, "after": {}},
        {**record, "at": now - 900, "before": {}, "after": {"sort": "latency"}},
    ]
    path = home / "hermes-dash" / HISTORY_NAME
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    os.chmod(path, 0o600)
    r = run("routing", "history", "--json", home=home)
    assert r.returncode == 0, r.stderr
    changes = json.loads(r.stdout)
    assert [c["after"] for c in changes] == [{"sort": "price"}, {"sort": "latency"}, {}]
    latest = changes[1]["figures"]
    assert latest["before"]["calls"] > 0 and latest["after"]["calls"] > 0
    # The one from the future says why it has nothing to compare; the others say nothing.
    assert "ahead of this machine's clock" in changes[2]["note"]
    assert "365 days" in changes[2]["note"]
    assert not any(c["note"] for c in changes[:2])
    text = run("routing", "history", home=home)
    assert text.returncode == 0 and text.stdout.count("ahead of this machine's clock") == 1


def test_a_block_with_yaml_dates_and_binary_is_shown_and_recorded(home: Path) -> None:
    (home / "config.yaml").write_text(
        CONFIG + "provider_routing:\n  sort: price\n  x_when: 2024-01-01\n"
        "  x_bin: !!binary aGk=\n  7: seven\n"
    )
    for args in (("routing", "show"), ("routing", "show", "--json")):
        r = run(*args, home=home)
        assert r.returncode == 0 and "2024-01-01" in r.stdout, r.stderr
    r = run("routing", "set", "--sort", "latency", home=home)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert "warning" not in r.stderr
    run("routing", "show", home=home)  # no change by hand imagined from the dates
    r = run("routing", "history", "--json", home=home)
    changes = json.loads(r.stdout)
    assert [(c["source"], c["diff"]) for c in changes] == [
        ("routing set", ['~ sort: "price" -> "latency"'])
    ]
    assert changes[0]["after"]["x_when"] == "2024-01-01"


async def test_a_hand_edit_while_the_diff_is_shown_is_never_overwritten(tmp_path: Path) -> None:
    session = frozen_session(tmp_path)
    config = session.settings.paths.config
    history = RoutingHistory(session.settings.db_path.parent / HISTORY_NAME)
    app = frozen_app(session)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, RoutingScreen), "the editor")
        screen = app.screen
        await wait_for(pilot, lambda: screen.form_ready, "the form")
        recorded = len(history.records())
        screen.query_one("#sort").value = "throughput"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDiff), "the diff")
        edited = config.read_text() + "# edited by hand while the diff was shown\n"
        config.write_text(edited)
        await pilot.press("y")
        await wait_for(
            pilot,
            lambda: any("changed on disk" in str(n.message) for n in app._notifications),
            "the refusal",
        )
        assert config.read_text() == edited
        assert len(history.records()) == recorded
    session.close()


def test_history_says_why_figures_are_missing_when_the_call_log_is_broken(home: Path) -> None:
    (home / "config.yaml").write_text(CONFIG + "provider_routing:\n  sort: price\n")
    record = {"config": "../config.yaml", "source": "routing set", "before": {}}
    path = home / "hermes-dash" / HISTORY_NAME
    path.write_text(json.dumps({**record, "at": time.time() - 60, "after": {"sort": "price"}}))
    os.chmod(path, 0o600)
    (home / "hermes-dash" / "calls.db").write_bytes(b"not a database at all" * 100)
    r = run("routing", "history", "--json", home=home)
    assert r.returncode == 0, r.stderr
    assert [c["after"] for c in json.loads(r.stdout)] == [{"sort": "price"}]
    assert "without before/after figures" in r.stderr and "Traceback" not in r.stderr
