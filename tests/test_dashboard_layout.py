"""The dashboard's narrow layout is a Textual breakpoint: crossing it either way restyles
the grid, at start-up and on a resize."""

from __future__ import annotations

from pathlib import Path

from hermes_dash.tui.screens.dashboard import NARROW_WIDTH

from .tui_helpers import frozen_app, frozen_session, settle, wait_for


async def test_the_panels_stack_below_the_breakpoint_and_not_above(tmp_path: Path) -> None:
    app = frozen_app(frozen_session(tmp_path))
    async with app.run_test(size=(NARROW_WIDTH, 48)) as pilot:
        await settle(pilot, app)
        screen = app.screen
        grid = screen.query_one("#grid")
        assert screen.has_class("-wide") and not screen.has_class("-narrow")
        assert grid.styles.grid_size_columns == 2

        await pilot.resize_terminal(NARROW_WIDTH - 1, 48)
        await wait_for(pilot, lambda: screen.has_class("-narrow"), "the narrow class")
        assert not screen.has_class("-wide")
        assert grid.styles.grid_size_columns == 1

        await pilot.resize_terminal(NARROW_WIDTH + 20, 48)
        await wait_for(pilot, lambda: screen.has_class("-wide"), "the wide class")
        assert grid.styles.grid_size_columns == 2
