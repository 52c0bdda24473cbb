"""The key-limits screen through Pilot, against a real local management API."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Select, Static

from hermes_dash.hermes.paths import Secrets
from hermes_dash.services.settings import UserSettings
from hermes_dash.tui.screens.keys import ConfirmLimit, KeyLimitsScreen, SetLimitDialog

from .conftest import call
from .fake_account import MGMT_KEY, FakeAccount, PatchFailure, key_entry
from .tui_helpers import (
    FROZEN_NOW,
    Notices,
    frozen_app,
    frozen_session,
    settle,
    wait_for,
    wait_for_screen,
)


@pytest.fixture
def account() -> Iterator[FakeAccount]:
    keys = [key_entry(i) for i in range(3)]
    keys[1].update(name="hermes", limit=10.0, limit_reset="monthly", limit_remaining=1.0)
    srv = FakeAccount(keys)
    srv.start()
    yield srv
    srv.stop()


def _app(tmp_path: Path, account: FakeAccount, mgmt: str | None):  # type: ignore[no-untyped-def]
    session = frozen_session(tmp_path, calls=300)
    session.store.insert(
        [call(FROZEN_NOW - 60, status="error", http_status=402, limit_source="openrouter_key_limit",
              cost_usd=None, cost_source=None)]
    )  # fmt: skip
    secrets = Secrets(session.settings.secrets.api_key, mgmt)
    session.settings = replace(session.settings, secrets=secrets, openrouter_url=account.url)
    return frozen_app(session, prefs=UserSettings(runway_alert_hours=None))


async def test_set_a_key_limit_with_before_after(tmp_path: Path, account: FakeAccount) -> None:
    app = _app(tmp_path, account, MGMT_KEY)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        await pilot.press("k")
        screen = await wait_for_screen(pilot, KeyLimitsScreen)
        await wait_for(pilot, lambda: len(screen.keys) == 3, "the keys")
        table = screen.query_one(DataTable)
        assert table.row_count == 3
        status = str(screen.query_one("#status", Static).render())
        assert "Last 402: key limit reached, resets at 00:00 UTC" in status
        table.move_cursor(row=1)
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, SetLimitDialog), "the dialog")
        app.screen.query_one("#amount", Input).value = "5"
        app.screen.query_one("#reset", Select).value = "daily"
        await pilot.click("#next")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmLimit), "the confirmation")
        shown = str(app.screen.query_one("#change", Static).render())
        assert "key 'hermes'" in shown and "$10.00 monthly → $5.00 daily" in shown
        assert not [s for s in account.seen if s.method == "PATCH"]  # nothing sent yet
        await pilot.press("y")
        hermes = key_entry(1)["hash"]
        await wait_for(pilot, lambda: account.snapshot()[hermes]["limit"] == 5.0, "the PATCH")
        after = account.snapshot()
        assert after[hermes]["limit_reset"] == "daily"
        assert [after[key_entry(i)["hash"]]["limit"] for i in (0, 2)] == [None, None]
        await wait_for(pilot, lambda: screen.keys[1].limit == 5.0, "the table to follow")


async def test_failed_patch_says_why_and_changes_nothing(
    tmp_path: Path, account: FakeAccount
) -> None:
    account.patch_failure = PatchFailure(500, "upstream exploded [bold]really[/bold]")
    before = account.snapshot()
    app = _app(tmp_path, account, MGMT_KEY)
    notices = Notices()
    async with app.run_test(size=(160, 48), message_hook=notices) as pilot:
        await settle(pilot, app)
        await pilot.press("k")
        screen = await wait_for_screen(pilot, KeyLimitsScreen)
        await wait_for(pilot, lambda: len(screen.keys) == 3, "the keys")
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, SetLimitDialog), "the dialog")
        app.screen.query_one("#amount", Input).value = "2"
        await pilot.click("#next")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmLimit), "the confirmation")
        await pilot.press("y")
        await wait_for(
            pilot,
            lambda: any(n.title == "Limit not changed" for n in notices.seen),
            "the failure notice",
        )
        note = next(n for n in notices.seen if n.title == "Limit not changed")
        assert "500" in note.message and "[bold]" in note.message  # server text shown literally
        assert "\n" not in note.message
    assert account.snapshot() == before


async def test_without_management_key_say_what_it_unlocks(
    tmp_path: Path, account: FakeAccount
) -> None:
    app = _app(tmp_path, account, None)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        await pilot.press("k")
        screen = await wait_for_screen(pilot, KeyLimitsScreen)
        info = screen.query_one("#info", Static)
        await wait_for(pilot, lambda: "OPENROUTER_MANAGEMENT_KEY" in str(info.render()), "why")
        assert "management-keys" in str(info.render())
        await pilot.press("l")
        await pilot.pause()
        assert isinstance(app.screen, KeyLimitsScreen)
    assert not account.seen


async def test_cost_by_source_drills_to_sessions_and_calls(tmp_path: Path) -> None:
    from hermes_dash.services.breakdown import breakdown
    from hermes_dash.tui.screens.calls import CallsScreen
    from hermes_dash.tui.screens.sources import SourcesScreen

    session = frozen_session(tmp_path, calls=600)
    session.store.insert(
        [call(FROZEN_NOW - 100 + i, session_id="cron_nightly_20261120_145800", platform="cron", cost_usd=5.0)
         for i in range(3)]
    )  # fmt: skip
    app = frozen_app(session, prefs=UserSettings(runway_alert_hours=None))
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        await pilot.press("o")
        screen = await wait_for_screen(pilot, SourcesScreen)
        await wait_for(pilot, lambda: screen.sources, "the sources")
        # The screen's parts are the window's total, and the most expensive comes first.
        window_total = session.store.totals(screen.window)
        assert sum(e.calls for e in screen.sources) == window_total.calls
        assert sum(e.attempts for e in screen.sources) == window_total.attempts
        assert sum(e.cost_usd for e in screen.sources) == pytest.approx(window_total.cost_usd)
        assert screen.sources[0].key == "cron:nightly"
        assert [e.key for e in screen.sources] == [
            e.key for e in breakdown(session.store, screen.window, "source")
        ]
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.sessions, "the sessions")
        assert [e.key for e in screen.sessions] == ["cron_nightly_20261120_145800"]
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, CallsScreen), "the calls browser")
        calls = app.screen
        await wait_for(pilot, lambda: len(calls.rows) == 3, "the session's calls")
        assert {r.session_id for r in calls.rows} == {"cron_nightly_20261120_145800"}
