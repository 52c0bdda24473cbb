"""Snapshots of the main screens at 80x24 and 160x48, from frozen demo data."""

from __future__ import annotations

import fcntl
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import Input

from hermes_dash.tui.screens.settings import SettingsScreen

from .tui_helpers import (
    first_run_app,
    first_run_settled,
    freeze_cursors,
    frozen_app,
    frozen_session,
    settle,
    tables_settled,
    wait_for,
)

SIZES = [(80, 24), (160, 48)]


@pytest.fixture
def tmp_path(request: pytest.FixtureRequest) -> Iterator[Path]:
    """A fixed folder per test: the routing screen shows the config's path, which must
    not vary. A lock beside it keeps two runs of the same test (two clones on one
    machine, parallel workers) from sharing it at once."""
    base = Path(tempfile.gettempdir()) / "hermes-dash-snapshot-tests"
    base.mkdir(exist_ok=True)
    name = request.node.name.replace("[", "-").replace("]", "")
    with open(base / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        root = base / name
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir()
        yield root


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
        await wait_for(pilot, lambda: getattr(app.screen, "rows", None), "the first page")
        await pilot.press("down", "down")
        await wait_for(pilot, lambda: _detail_of_cursor_row(app), "the call detail")
        await wait_for(
            pilot,
            lambda: app.screen.choices_loaded and not _running(app, "calls-page"),
            "the filter lists and the last page read",
        )
        await wait_for(pilot, lambda: tables_settled(pilot), "the table's column widths")
        freeze_cursors(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_settings_screen(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    app = frozen_app(frozen_session(tmp_path))

    async def run_before(pilot) -> None:
        await settle(pilot, app)
        await pilot.press("b")
        # The screen is pushed before its fields are mounted: freezing the cursors then
        # would find none, and the focused field's cursor would blink in the picture.
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, SettingsScreen) and isinstance(app.focused, Input),
            "the budgets screen's focused field",
        )
        freeze_cursors(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_routing_screen(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    session = frozen_session(tmp_path)
    app = frozen_app(session)

    async def run_before(pilot) -> None:
        await settle(pilot, app)
        await pilot.press("e")
        await wait_for(
            pilot,
            lambda: app.screen.query("#preview") and app.screen.query_one("#preview").row_count,
            "the route preview",
        )
        await wait_for(
            pilot,
            lambda: "computing" not in str(app.screen.query_one("#whatif").render()),
            "the what-if",
        )
        await wait_for(
            pilot,
            lambda: (
                app.screen.query_one("#scorecard-panel").report and not _running(app, "scorecard")
            ),
            "the scorecard (its last load, not an earlier one)",
        )
        await wait_for(pilot, lambda: tables_settled(pilot), "the tables' column widths")
        freeze_cursors(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_routing_changes_screen(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    app = frozen_app(frozen_session(tmp_path))

    async def run_before(pilot) -> None:
        await settle(pilot, app)
        await pilot.press("e")
        await wait_for(pilot, lambda: app.screen.query("#scorecard-panel"), "the editor")
        await pilot.press("ctrl+o")
        await wait_for(
            pilot, lambda: len(getattr(app.screen, "impacts", ())) == 2, "the recorded changes"
        )
        await wait_for(pilot, lambda: tables_settled(pilot), "the table's column widths")
        freeze_cursors(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def _running(app, group: str) -> bool:  # type: ignore[no-untyped-def]
    """Whether a worker of ``group`` is still at work: a second load started while the
    first was drawing clears the table and fills it again."""
    return any(w.group == group and not w.is_finished for w in app.workers)


def _detail_of_cursor_row(app) -> bool:  # type: ignore[no-untyped-def]
    """Whether the detail pane shows the whole of the call under the table's cursor."""
    screen = app.screen
    table = screen.query_one("#calls-table")
    if table.cursor_row != 2 or len(screen.rows) <= 2:
        return False
    return bool(screen.detail_of == screen.rows[2].id and screen.detail_complete)


@pytest.mark.parametrize(
    ("state", "size"),
    [
        ("not-installed", (160, 48)),
        ("no-home", (160, 48)),
        ("no-key", (160, 48)),
        ("not-installed", (80, 24)),
    ],
    ids=lambda v: v if isinstance(v, str) else f"{v[0]}x{v[1]}",
)
def test_first_run(snap_compare, tmp_path: Path, state: str, size: tuple[int, int]) -> None:
    """What a new user sees: words and the fix where the empty charts would be."""
    app = first_run_app(tmp_path, state)

    async def run_before(pilot) -> None:
        await wait_for(pilot, lambda: first_run_settled(app), "the first-run guide")
        app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)
