"""The dashboard's tables are DataTables: focus, a row cursor, keyboard scrolling, and
the sort key, with the cursor kept across a refresh."""

from __future__ import annotations

from pathlib import Path

from hermes_dash.tui.widgets.panel_tables import LiveCalls, ProvidersTable

from .tui_helpers import frozen_app, frozen_session, settle, wait_for


async def test_tab_into_a_table_move_its_cursor_and_sort(tmp_path: Path) -> None:
    app = frozen_app(frozen_session(tmp_path))
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        providers = app.screen.query_one(ProvidersTable)
        live = app.screen.query_one(LiveCalls)
        # A view until the user goes into it: nothing focused, no cursor drawn.
        assert app.focused is None and not providers.show_cursor and not live.show_cursor

        await pilot.press("tab")
        await wait_for(pilot, lambda: app.focused is providers, "the providers table's focus")
        assert providers.show_cursor
        await pilot.press("down", "down")
        assert providers.cursor_row == 2

        # The rows are refilled by a sort (as by every refresh): the cursor stays put.
        before = providers.sort_column
        await pilot.press("s")
        await wait_for(pilot, lambda: providers.sort_column != before, "the new sort")
        assert providers.cursor_row == 2 and app.focused is providers

        await pilot.press("tab")
        await wait_for(pilot, lambda: app.focused is live, "the live table's focus")
        assert live.show_cursor and not providers.show_cursor
        rows = live.row_count
        assert rows > live.size.height  # more calls than fit: the table scrolls
        await pilot.press("ctrl+end")
        await wait_for(pilot, lambda: live.cursor_row == rows - 1, "the last call")
        await wait_for(pilot, lambda: live.scroll_y > 0, "the table scrolled down")
