"""The config diff's confirmation keeps its buttons on screen at any terminal height: a
long diff scrolls inside the box instead of pushing Cancel and Save off the bottom."""

from __future__ import annotations

import pytest
from textual.app import App
from textual.containers import VerticalScroll
from textual.widgets import Button

from hermes_dash.tui.screens.dialogs import ConfirmDiff

from .tui_helpers import wait_for, wait_for_screen

DIFF = "".join(f"+  line {i}: value\n" for i in range(60))


class Host(App[None]):
    CSS_PATH = "../hermes_dash/tui/app.tcss"


@pytest.mark.parametrize("size", [(50, 14), (60, 20), (100, 40), (160, 48)])
async def test_the_buttons_stay_on_screen_and_the_diff_scrolls_to_its_end(
    size: tuple[int, int],
) -> None:
    app = Host()
    answers: list[bool | None] = []
    async with app.run_test(size=size) as pilot:
        app.push_screen(ConfirmDiff("Save config.yaml?", DIFF), answers.append)
        dialog = await wait_for_screen(pilot, ConfirmDiff)
        await wait_for(pilot, lambda: dialog.query_one(VerticalScroll).size.height > 0)
        for button in dialog.query(Button):
            region = button.region
            assert region.height > 0 and region.bottom <= size[1], (button.id, region)
        scroll = dialog.query_one(VerticalScroll)
        assert scroll.max_scroll_y > 0  # the diff is longer than the room: it scrolls
        scroll.scroll_end(animate=False)
        await wait_for(pilot, lambda: scroll.scroll_y == scroll.max_scroll_y)
        # Resizing to a shorter terminal keeps them on screen too.
        await pilot.resize_terminal(size[0], max(12, size[1] // 2))
        await wait_for(
            pilot, lambda: all(b.region.bottom <= app.size.height for b in dialog.query(Button))
        )
        await pilot.press("y")
        await wait_for(pilot, lambda: answers == [True])
