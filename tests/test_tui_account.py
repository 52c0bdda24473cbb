"""The account screen (``a``) through Pilot against a real local server that speaks
``/keys`` and ``/activity``, and its snapshot on the demo's frozen data."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from textual.widgets import DataTable, Static

from hermes_dash.hermes.paths import Secrets
from hermes_dash.openrouter.management import ManagementClient
from hermes_dash.services.settings import UserSettings
from hermes_dash.tui.screens.account import AccountScreen
from hermes_dash.tui.screens.calls import CallsScreen

from .fake_account import MGMT_KEY, FakeAccount, PatchFailure, activity_entry, key_entry
from .tui_helpers import (
    FROZEN_NOW,
    Notices,
    freeze_cursors,
    frozen_app,
    frozen_session,
    settle,
    tables_settled,
    wait_for,
)

TODAY = dt.datetime.fromtimestamp(FROZEN_NOW, dt.UTC).date()
DAY_1, DAY_2 = (str(TODAY - dt.timedelta(days=n)) for n in (1, 2))


@pytest.fixture
def account() -> Iterator[FakeAccount]:
    keys = [key_entry(1, name="gateway"), key_entry(2, name="\x1b[31mcron\x07 box")]
    keys[1].update(limit=5.0, limit_remaining=2.5, limit_reset="daily", disabled=True)
    activity = [
        activity_entry(DAY_1, "openai/gpt-4o", "OpenAI", usage=2.0, requests=40),
        activity_entry(DAY_2, "openai/gpt-4o", "OpenAI", usage=1.0, requests=20),
        activity_entry(DAY_1, "[bold]x/y[/bold]", "Azure", usage=None, requests=3),
    ]
    srv = FakeAccount(keys, activity=activity)
    srv.start()
    yield srv
    srv.stop()


def _app(tmp_path: Path, account: FakeAccount, mgmt: str | None):  # type: ignore[no-untyped-def]
    session = frozen_session(tmp_path, calls=300)
    secrets = Secrets(session.settings.secrets.api_key, mgmt)
    session.settings = replace(session.settings, secrets=secrets, openrouter_url=account.url)
    return frozen_app(session, prefs=UserSettings(runway_alert_hours=None))


def _cells(table: DataTable) -> list[list[str]]:  # type: ignore[type-arg]
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def test_account_screen_shows_keys_activity_and_gap(
    tmp_path: Path, account: FakeAccount
) -> None:
    app = _app(tmp_path, account, MGMT_KEY)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        await pilot.press("a")
        screen = app.screen
        assert isinstance(screen, AccountScreen)
        await wait_for(pilot, lambda: screen.view is not None, "the account")
        keys = _cells(screen.query_one("#keys", DataTable))
        assert keys[0][0] == "gateway"
        # Server text shown literally, control characters removed.
        assert keys[1][0] == "cron box" and keys[1][-1] == "disabled"
        assert keys[1][4:7] == ["$5.00", "$2.50", "daily"]
        rows = _cells(screen.query_one("#activity", DataTable))
        assert rows[0][:5] == ["openai/gpt-4o", "OpenAI", "2", "60", "$3.00"]
        assert rows[1][0] == "[bold]x/y[/bold]" and rows[1][4] == "unknown"
        title = str(screen.query_one("#activity-title", Static).render())
        assert f"{DAY_2} to {DAY_1}" in title and "unknown billed" in title
        gap = str(screen.query_one("#gap", Static).render())
        assert f"up to {DAY_1}" in gap and f"today ({TODAY} UTC)" in gap
        assert MGMT_KEY not in str(screen.query_one("#info", Static).render())
        await pilot.press("escape")
        assert not isinstance(app.screen, AccountScreen)


async def test_errors_are_notified_and_data_kept(tmp_path: Path, account: FakeAccount) -> None:
    app = _app(tmp_path, account, MGMT_KEY)
    notices = Notices()
    async with app.run_test(size=(160, 48), message_hook=notices) as pilot:
        await settle(pilot, app)
        await pilot.press("a")
        screen = app.screen
        assert isinstance(screen, AccountScreen)
        await wait_for(pilot, lambda: screen.view is not None, "the account")
        account.activity_failure = PatchFailure(500, "boom")
        await pilot.press("r")
        await wait_for(
            pilot,
            lambda: any("server error (500)" in m for m in notices.messages()),
            "the error",
        )
        assert screen.query_one("#activity", DataTable).row_count == 2
        assert screen.query_one("#keys", DataTable).row_count == 2


async def test_without_a_management_key(tmp_path: Path, account: FakeAccount) -> None:
    app = _app(tmp_path, account, None)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        await pilot.press("a")
        screen = app.screen
        assert isinstance(screen, AccountScreen)
        info = str(screen.query_one("#info", Static).render())
        assert "OPENROUTER_MANAGEMENT_KEY" in info and "management-keys" in info
        await pilot.press("r")
        await pilot.pause()
        assert not [s for s in account.seen if "/keys" in s.path or "/activity" in s.path]


async def test_a_opens_only_from_the_dashboard(tmp_path: Path, account: FakeAccount) -> None:
    app = _app(tmp_path, account, MGMT_KEY)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, CallsScreen), "the calls browser")
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, CallsScreen)
        assert len(app.screen_stack) == 2


def test_account_snapshot(snap_compare, tmp_path: Path) -> None:
    session = frozen_session(tmp_path)
    app = frozen_app(session)
    client = ManagementClient(
        "demo-management-key",
        base_url=session.settings.openrouter_url,
        transport=session.server.transport(),
    )

    async def run_before(pilot) -> None:
        await settle(pilot, app)
        app.push_screen(AccountScreen(client, session.store, app.clock))
        await wait_for(pilot, lambda: getattr(app.screen, "view", None), "the account")
        await wait_for(pilot, lambda: tables_settled(pilot), "the tables' column widths")
        # A toast the dashboard raised meanwhile (a poll's news) is not the screen's.
        app.clear_notifications()
        await pilot.pause()
        freeze_cursors(pilot)

    assert snap_compare(app, terminal_size=(140, 40), run_before=run_before)
