"""The key-limits screen (``k``) under Pilot against a real local management API that
hands out hostile key names, and a user who types an amount that would block the key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input

from hermes_dash.tui.screens.keys import ConfirmLimit, KeyLimitsScreen, SetLimitDialog

from .fake_account import MGMT_KEY, FakeAccount, key_entry
from .hostile import EVIL, RAW_CONTROL
from .test_tui_keys import _app
from .tui_helpers import Notices, settle, wait_for, wait_for_screen


@pytest.fixture
def account() -> Iterator[FakeAccount]:
    keys = [key_entry(i) for i in range(2)]
    keys[0].update(name=EVIL, limit=1e308, limit_reset=EVIL, label=EVIL)
    srv = FakeAccount(keys)
    srv.start()
    yield srv
    srv.stop()


def _drawn(app) -> list[str]:  # type: ignore[no-untyped-def]
    return [seg.text for strip in app.screen._compositor.render_strips() for seg in list(strip)]


async def test_hostile_key_names_draw_no_terminal_control(
    tmp_path: Path, account: FakeAccount
) -> None:
    app = _app(tmp_path, account, MGMT_KEY)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        await pilot.press("k")
        screen = await wait_for_screen(pilot, KeyLimitsScreen)
        await wait_for(pilot, lambda: len(screen.keys) == 2, "the keys")
        await pilot.pause()
        for text in _drawn(app):
            assert not RAW_CONTROL.search(text), text
        screen.query_one(DataTable).move_cursor(row=0)
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, SetLimitDialog), "the dialog")
        app.screen.query_one("#amount", Input).value = "5"
        await pilot.click("#next")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmLimit), "the confirmation")
        await pilot.pause()
        for text in _drawn(app):
            assert not RAW_CONTROL.search(text), text
    assert not [s for s in account.seen if s.method == "PATCH"]


@pytest.mark.parametrize("amount", ["0.004", "1e300"])
async def test_an_amount_under_a_cent_or_absurd_is_not_sent(
    tmp_path: Path, account: FakeAccount, amount: str
) -> None:
    """0.004 used to be confirmed as "$0.00 daily" and sent: a cap that blocks the key."""
    app = _app(tmp_path, account, MGMT_KEY)
    notices = Notices()
    async with app.run_test(size=(160, 48), message_hook=notices) as pilot:
        await settle(pilot, app)
        await pilot.press("k")
        screen = await wait_for_screen(pilot, KeyLimitsScreen)
        await wait_for(pilot, lambda: len(screen.keys) == 2, "the keys")
        screen.query_one(DataTable).move_cursor(row=1)
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, SetLimitDialog), "the dialog")
        app.screen.query_one("#amount", Input).value = amount
        await pilot.click("#next")
        await wait_for(pilot, lambda: any("$0.01" in m for m in notices.messages()), "the refusal")
        assert isinstance(app.screen, SetLimitDialog)
    assert not [s for s in account.seen if s.method == "PATCH"]


async def test_hostile_session_ids_on_the_sources_screen_draw_no_terminal_control(
    tmp_path: Path,
) -> None:
    from hermes_dash.services.settings import UserSettings
    from hermes_dash.tui.screens.sources import SourcesScreen

    from .conftest import call
    from .tui_helpers import FROZEN_NOW, frozen_app, frozen_session

    session = frozen_session(tmp_path, calls=50)
    session.store.insert(
        [call(FROZEN_NOW - 100 + i, session_id=f"cron_{EVIL}", platform=EVIL, cost_usd=50.0)
         for i in range(3)]
    )  # fmt: skip
    app = frozen_app(session, prefs=UserSettings(runway_alert_hours=None))
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        await pilot.press("o")
        screen = await wait_for_screen(pilot, SourcesScreen)
        await wait_for(pilot, lambda: screen.sources, "the sources")
        assert screen.sources[0].key.startswith("cron:")
        await pilot.pause()
        for text in _drawn(app):
            assert not RAW_CONTROL.search(text), text
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.sessions, "the sessions")
        await pilot.pause()
        for text in _drawn(app):
            assert not RAW_CONTROL.search(text), text
