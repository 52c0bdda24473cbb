"""The routing editor driven by the keyboard: edit, invalid input, preview, save, restore."""

from __future__ import annotations

from pathlib import Path

import yaml
from textual.widgets import DataTable, SelectionList

from hermes_dash.hermes.writer import list_backups
from hermes_dash.tui.screens.dialogs import ConfirmDiff, PickBackup
from hermes_dash.tui.screens.routing import OrderList, RoutingScreen

from .tui_helpers import Notices, frozen_app, frozen_session, settle, wait_for, wait_for_screen


async def _open_editor(pilot, app) -> RoutingScreen:  # type: ignore[no-untyped-def]
    await settle(pilot, app)
    await pilot.press("e")
    screen = await wait_for_screen(pilot, RoutingScreen)
    preview = screen.query_one("#preview", DataTable)
    await wait_for(pilot, lambda: screen.doc is not None and preview.row_count, "the preview")
    return screen


async def _toggle(pilot, screen: RoutingScreen, list_id: str, slug: str) -> None:  # type: ignore[no-untyped-def]
    sl = screen.query_one(f"#{list_id}", SelectionList)
    sl.focus()
    await pilot.pause()
    target = [sl.get_option_at_index(i).value for i in range(sl.option_count)].index(slug)
    sl.highlighted = target
    await pilot.press("space")
    await pilot.pause()


async def test_edit_invalid_preview_save_and_restore(tmp_path: Path) -> None:
    session = frozen_session(tmp_path)
    config = session.settings.paths.config
    original = config.read_bytes()
    app = frozen_app(session)
    notices = Notices()
    async with app.run_test(size=(160, 48), message_hook=notices) as pilot:
        screen = await _open_editor(pilot, app)
        preview = screen.query_one("#preview", DataTable)
        # the demo config ignores together: the preview shows it excluded
        rows = [preview.get_row_at(i) for i in range(preview.row_count)]
        assert any("Together" in str(r[1]) and "ignored" in str(r[-1]) for r in rows)

        # invalid: together in only while it is ignored
        await _toggle(pilot, screen, "only", "together")
        assert "both only and ignore" in str(screen.query_one("#issues-only").render())
        assert "error" in str(screen.query_one("#issues").render())
        assert str(screen.query_one("#issues-sort").render()) == ""
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmDiff)
        assert config.read_bytes() == original
        await _toggle(pilot, screen, "only", "together")  # undo
        assert "valid" in str(screen.query_one("#issues").render())

        # sort by latency with the keyboard
        screen.query_one("#sort").focus()
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("down", "down", "enter")  # from price: throughput, latency
        await pilot.pause()
        assert screen.draft().sort == "latency"

        # order: type two slugs, then move the second up
        screen.query_one("#add").focus()
        await pilot.press(*"fireworks", "enter")
        await pilot.press(*"deepinfra", "enter")
        order = screen.query_one(OrderList)
        assert order.slugs == ["fireworks", "deepinfra"]
        order.focus()
        order.index = 1
        await pilot.press("left_square_bracket")
        await pilot.pause()
        assert order.slugs == ["deepinfra", "fireworks"]
        rows = [preview.get_row_at(i) for i in range(preview.row_count)]
        assert str(rows[0][1]) == "DeepInfra" and "order #1" in str(rows[0][-1])
        assert "What-if" in str(screen.query_one("#whatif").render())

        # save: the diff is shown first, then written with a backup
        await pilot.press("ctrl+s")
        confirm = await wait_for_screen(pilot, ConfirmDiff)
        assert "+  order: [deepinfra, fireworks]" in confirm.diff
        await pilot.press("y")
        await wait_for(pilot, lambda: config.read_bytes() != original, "the write")
        await wait_for(pilot, lambda: any("restart" in m for m in notices.messages()), "the note")
        saved = yaml.safe_load(config.read_text())["provider_routing"]
        assert saved == {
            "sort": "latency",
            "ignore": ["together"],
            "data_collection": "deny",
            "order": ["deepinfra", "fireworks"],
        }
        assert "# flaky last week" in config.read_text()  # the block's own comment kept
        assert config.read_text().startswith(original.decode().split("provider_routing")[0])
        assert len(list_backups(session.settings.paths.backups)) == 1

        # restore the backup
        await pilot.press("ctrl+r")
        await wait_for_screen(pilot, PickBackup)
        await pilot.press("enter")
        await wait_for(pilot, lambda: config.read_bytes() == original, "the restore")


async def test_unreadable_config_is_shown_not_crashed(tmp_path: Path) -> None:
    session = frozen_session(tmp_path)
    session.settings.paths.config.write_text("provider_routing: [unclosed\n")
    app = frozen_app(session)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        await pilot.press("e")
        screen = await wait_for_screen(pilot, RoutingScreen)
        where = screen.query_one("#where")
        await wait_for(pilot, lambda: "not valid YAML" in str(where.render()), "the refusal")
        assert "not valid YAML at line 2, column 1" in str(where.render())
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert session.settings.paths.config.read_text() == "provider_routing: [unclosed\n"
