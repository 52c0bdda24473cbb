"""Snapshots of the main screens at 80x24 and 160x48, from frozen demo data."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from .tui_helpers import frozen_app, frozen_session, settle

SIZES = [(80, 24), (160, 48)]


@pytest.fixture
def tmp_path() -> Path:
    """A fixed folder: the routing screen shows the config's path, which must not vary."""
    root = Path(tempfile.gettempdir()) / "hermes-dash-snapshots"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    return root


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_main_screen(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    app = frozen_app(frozen_session(tmp_path))

    async def run_before(pilot) -> None:
        await settle(pilot, app)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_calls_browser(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    app = frozen_app(frozen_session(tmp_path))

    async def run_before(pilot) -> None:
        await settle(pilot, app)
        await pilot.press("c")
        await pilot.pause(0.5)
        await pilot.press("down", "down")
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_settings_screen(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    app = frozen_app(frozen_session(tmp_path))

    async def run_before(pilot) -> None:
        await settle(pilot, app)
        await pilot.press("b")
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_routing_screen(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    session = frozen_session(tmp_path)
    app = frozen_app(session)

    async def run_before(pilot) -> None:
        await settle(pilot, app)
        await pilot.press("e")
        for _ in range(60):
            await pilot.pause(0.05)
            if app.screen.query("#preview") and app.screen.query_one("#preview").row_count:
                break
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=size, run_before=run_before)
