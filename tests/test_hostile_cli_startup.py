"""Hostile tests of the start-up split: commands whose code loads only when named, and
dashboard tables that join the screen after the first frame. Real processes for the
command line, Pilot for keys typed before the tables (or the charts) are on screen."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hermes_dash.services.fleet import FleetSource
from hermes_dash.services.promql import PrometheusClient
from hermes_dash.tui.fleet import FleetApp

from .fake_account import MGMT_KEY, FakeAccount, key_entry
from .fakeserver import FakeOpenRouter
from .test_fleet_source import _routes
from .tui_helpers import frozen_app, frozen_session, settle, wait_for


async def test_q_typed_before_the_second_frame_quits_cleanly(tmp_path: Path) -> None:
    """A user who types q as the dashboard opens (the key waits in the terminal) quits:
    the charts and tables due after the first frame must not be mounted into a screen
    already gone (MountError, exit 1 and a traceback)."""
    app = frozen_app(frozen_session(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.dashboard.query(".table-slot")  # the tables have not joined yet
        await pilot.press("q")
    assert app._exception is None
    assert app.return_code == 0


async def test_keys_typed_before_the_tables_join_take_effect(tmp_path: Path) -> None:
    """Sort, window and theme keys pressed while the tables' slots are still empty act
    on the tables once they join; a resize to 80x24 and back keeps them."""
    app = frozen_app(frozen_session(tmp_path))
    async with app.run_test(size=(160, 48)) as pilot:
        assert app.dashboard.query(".table-slot")
        theme = app.theme
        await pilot.press("s", "3", "t")
        await settle(pilot, app)
        screen = app.dashboard
        await wait_for(pilot, lambda: not screen.query(".table-slot"), "the tables to join")
        providers, live = screen.providers, screen.live
        await wait_for(pilot, lambda: app.window_name == "7d", "the 7 d window")
        await wait_for(pilot, lambda: "7d" in str(providers.border_subtitle), "7 d rows")
        assert providers.sort_column == "p50" and app.theme != theme
        assert providers.row_count and live.row_count
        await pilot.resize_terminal(80, 24)
        await wait_for(pilot, lambda: screen.has_class("-narrow"), "the narrow layout")
        await pilot.resize_terminal(160, 48)
        await wait_for(pilot, lambda: screen.has_class("-wide"), "the wide layout")
        assert providers.is_attached and live.is_attached and providers.row_count
    assert app._exception is None


async def test_fleet_dashboard_quit_before_its_second_frame() -> None:
    """The same for ``--prometheus``: its screen changes after the first frame too."""
    with FakeOpenRouter(_routes()) as srv:
        base = srv.url.removesuffix("/api/v1")
        app = FleetApp(FleetSource(PrometheusClient(base, timeout=3.0)), refresh_s=3600)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("q")
    assert app._exception is None
    assert app.return_code == 0


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hermes_dash", *args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _refused(run: subprocess.CompletedProcess[str]) -> None:
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "--read-only" in lines[0], run.stderr


def test_read_only_refuses_the_commands_that_write_files(hermes_home: Path) -> None:
    """``--read-only`` says "refuse every write: config.yaml, key limits, settings", and is
    accepted before every command: routing set and restore, plugin install and uninstall
    wrote all the same (exit 0)."""
    (hermes_home / "config.yaml").write_text("model:\n  default: openai/gpt-4o\n")
    assert _cli("plugin", "install").returncode == 0
    assert _cli("routing", "set", "--sort", "throughput").returncode == 0
    backups = sorted(p.name for p in (hermes_home / "hermes-dash" / "backups").iterdir())
    before = _files(hermes_home)
    for command in (
        ["routing", "set", "--sort", "latency"],
        ["routing", "restore", backups[-1]],
        ["plugin", "install"],
        ["plugin", "uninstall"],
    ):
        _refused(_cli("--read-only", *command))
        assert _files(hermes_home) == before, command
    # What writes nothing stays allowed.
    dry = _cli("--read-only", "routing", "set", "--sort", "latency", "--dry-run")
    assert dry.returncode == 0 and "latency" in dry.stdout
    assert _cli("--read-only", "routing", "restore", "--list").returncode == 0
    assert _files(hermes_home) == before


def test_read_only_refuses_a_key_limit_change(hermes_home: Path) -> None:
    """``--read-only budget set --yes`` changed the limit OpenRouter enforces."""
    server = FakeAccount([key_entry(1)]).start()
    try:
        env = {
            "OPENROUTER_MANAGEMENT_KEY": MGMT_KEY,
            "HERMES_DASH_OPENROUTER_URL": server.url,
        }
        run = _cli(
            "--read-only", "budget", "set", "--daily", "5", "--yes", "--key", "key-1", env=env
        )
        _refused(run)
        assert not [s for s in server.seen if s.method == "PATCH"]
        assert server.snapshot()[key_entry(1)["hash"]]["limit"] is None
    finally:
        server.stop()


def test_read_only_and_allow_edit_contradict() -> None:
    """``--read-only serve --allow-edit`` served editable tabs."""
    _refused(_cli("--read-only", "serve", "--allow-edit", "--port", "1"))


#: Put on PYTHONPATH, it makes the import of the command line's common module raise what
#: SIGINT raises there: a ctrl+c pressed while the program still loads.
CTRL_C_WHILE_LOADING = """
import sys


class CtrlC:
    def find_spec(self, name, path=None, target=None):
        if name == "hermes_dash.cli.common":
            raise KeyboardInterrupt
        return None


sys.meta_path.insert(0, CtrlC())
"""


def test_ctrl_c_while_the_command_line_loads_exits_130_without_a_traceback(
    tmp_path: Path,
) -> None:
    """A ctrl+c typed as hermes-dash starts (before main can catch it) printed a Python
    traceback of the imports under way."""
    (tmp_path / "sitecustomize.py").write_text(CTRL_C_WHILE_LOADING)
    run = _cli("--version", env={"PYTHONPATH": str(tmp_path)})
    assert run.returncode == 130, run.stderr
    assert "Traceback" not in run.stderr and run.stdout == ""
