"""Pilot tests: every binding, the window switch, budgets, stale data and recovery."""

from __future__ import annotations

from pathlib import Path

from textual.command import CommandList, CommandPalette
from textual.widgets import DataTable, Input

from hermes_dash.services.settings import UserSettings
from hermes_dash.tui.screens.calls import CallsScreen
from hermes_dash.tui.screens.help import HelpScreen
from hermes_dash.tui.screens.settings import SettingsScreen
from hermes_dash.tui.widgets.panel_tables import LiveCalls, ProvidersTable

from .conftest import call
from .tui_helpers import (
    FROZEN_NOW,
    Notices,
    frozen_app,
    frozen_session,
    settle,
    wait_for,
    wait_for_screen,
)


async def test_window_keys_switch_the_aggregates(tmp_path: Path) -> None:
    app = frozen_app(frozen_session(tmp_path))
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        assert app.data is not None and app.data.window.name == "24h"
        counts = {}
        for key, name in (("1", "1h"), ("3", "7d"), ("4", "30d"), ("2", "24h")):
            await pilot.press(key)
            await settle(pilot, app)
            assert app.window_name == name and app.data.window.name == name
            counts[name] = app.data.totals.attempts
        assert counts["1h"] < counts["24h"] < counts["7d"] < counts["30d"] == 4000


async def test_live_calls_show_new_rows(tmp_path: Path) -> None:
    session = frozen_session(tmp_path)
    app = frozen_app(session)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        table = app.screen.query_one(LiveCalls)
        before = app.data.totals.calls
        session.store.insert(
            [
                call(
                    FROZEN_NOW - 5,
                    http_status=429,
                    status="error",
                    model="z-ai/glm-4.6",
                    cost_usd=0.0,
                )
            ]
        )
        await pilot.press("r")
        await settle(pilot, app)
        assert app.data.totals.calls == before + 1
        first = table.get_row_at(0)
        assert "glm-4.6" in str(first[1]) and str(first[-1]) == "429"


async def test_refresh_polls_openrouter_and_stale_then_recovery(tmp_path: Path) -> None:
    session = frozen_session(tmp_path)
    app = frozen_app(session)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        good = app.account.snapshot
        assert app.account.status == "ok" and good is not None
        session.server.failing = True
        await pilot.press("r")
        await wait_for(pilot, lambda: app.account.status != "ok", "the failed poll")
        assert app.account.status == "error" and app.account.stale
        assert app.account.snapshot == good  # the last good numbers stay
        assert "503" in app.account.message
        assert app.schedule.failures == 1
        status = str(app.screen.query_one("#status").render())
        assert "stale" in status
        assert "STALE" in str(app.screen.query_one("#spend-stats").render())
        session.server.failing = False
        await pilot.press("r")
        await wait_for(pilot, lambda: app.account.status == "ok", "the recovery")
        assert not app.account.stale
        assert app.schedule.failures == 0


async def test_budget_banner(tmp_path: Path) -> None:
    prefs = UserSettings(daily_budget_usd=0.5, monthly_budget_usd=10_000, runway_alert_hours=None)
    app = frozen_app(frozen_session(tmp_path), prefs=prefs)
    notices = Notices()
    async with app.run_test(size=(160, 48), message_hook=notices) as pilot:
        await settle(pilot, app)
        banner = app.screen.query_one("#banner")
        assert banner.has_class("-visible") and banner.has_class("-error")
        assert "Daily budget exceeded" in str(banner.render())
        # raise the budget from the settings screen: the banner goes away
        await pilot.press("b")
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsScreen), "the budgets")
        screen = app.screen
        field = screen.query_one("#daily_budget_usd", Input)
        field.value = "abc"
        await pilot.press("ctrl+s")
        refusal = "Daily budget (USD): enter a positive number, or leave it empty"
        await wait_for(pilot, lambda: refusal in notices.messages(), "the refusal")
        assert app.screen is screen  # invalid input is not saved
        field.value = "1000"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is not screen, "the budgets to close")
        assert app.prefs.daily_budget_usd == 1000
        assert UserSettings.load(app.prefs_path).daily_budget_usd == 1000
        assert not banner.has_class("-visible")


async def test_help_calls_theme_sort_and_quit(tmp_path: Path) -> None:
    app = frozen_app(frozen_session(tmp_path))
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "the help")
        await pilot.press("escape")
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, CallsScreen), "the calls browser")
        table = app.screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count > 0, "the first page")
        assert table.row_count == 200
        await pilot.press("escape")
        providers = app.screen.query_one(ProvidersTable)
        assert providers.sort_column == "calls"
        await pilot.press("s")
        assert providers.sort_column == "p50"
        theme = app.theme
        await pilot.press("t")
        assert app.theme != theme
        await pilot.press("q")
    assert app.return_code == 0


async def test_calls_browser_filters(tmp_path: Path) -> None:
    session = frozen_session(tmp_path)
    app = frozen_app(session)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        await pilot.press("c")
        await wait_for(pilot, lambda: getattr(app.screen, "rows", None), "the first page")
        screen = app.screen
        assert isinstance(screen, CallsScreen)
        screen.query_one("#f-status").value = "429"
        n429 = session.store.conn.execute(
            "SELECT COUNT(*) FROM calls WHERE http_status = 429"
        ).fetchone()[0]
        count = screen.query_one("#count")
        await wait_for(pilot, lambda: f"{n429:,} calls match" in str(count.render()), "the count")
        await wait_for(pilot, lambda: all(r.http_status == 429 for r in screen.rows), "the rows")
        assert screen.query_one(DataTable).row_count == min(200, n429)


async def test_a_late_attempts_read_does_not_replace_the_highlighted_calls_detail(
    tmp_path: Path,
) -> None:
    """Moving down fast starts one attempts read per row; a read that lands after the
    cursor has moved on must not show the previous call's detail."""
    app = frozen_app(frozen_session(tmp_path))
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        await pilot.press("c")
        await wait_for(pilot, lambda: getattr(app.screen, "rows", None), "the first page")
        screen = app.screen
        assert isinstance(screen, CallsScreen)
        await pilot.press("down")
        await wait_for(pilot, lambda: screen.detail_of == screen.rows[1].id, "row 1's detail")
        shown = str(screen.query_one("#detail").render())
        screen._show_attempts(screen.rows[0], [])
        await pilot.pause()
        assert str(screen.query_one("#detail").render()) == shown
        assert screen.detail_of == screen.rows[1].id


async def test_no_key_says_how_to_add_one(tmp_path: Path) -> None:
    from dataclasses import replace

    from hermes_dash.hermes.paths import Secrets
    from hermes_dash.openrouter.client import OpenRouterClient
    from hermes_dash.tui.app import make_app

    session = frozen_session(tmp_path)
    settings = replace(session.settings, secrets=Secrets(None, None))
    app = make_app(
        settings,
        OpenRouterClient(None),
        session.store,
        clock=lambda: FROZEN_NOW,
        prefs=UserSettings(),
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.data is not None, "the first read")
        text = str(app.screen.query_one("#spend-stats").render())
        assert "No OpenRouter key" in text and "OPENROUTER_API_KEY" in text
        assert app.account.status == "offline"


async def test_cost_check_shows_both_sources(tmp_path: Path) -> None:
    import sqlite3

    from hermes_dash.tui.screens.costcheck import CostCheckScreen

    session = frozen_session(tmp_path)
    conn = sqlite3.connect(session.settings.paths.state_db)
    conn.executescript(
        "CREATE TABLE sessions (id TEXT PRIMARY KEY, model TEXT, started_at REAL NOT NULL, "
        "estimated_cost_usd REAL, actual_cost_usd REAL);"
        f"INSERT INTO sessions VALUES ('a', 'openai/gpt-4o-mini', {FROZEN_NOW - 3600}, 1.5, 1.25);"
    )
    conn.commit()
    app = frozen_app(session)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        await pilot.press("h")
        screen = await wait_for_screen(pilot, CostCheckScreen)
        table = screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count > 0, "both sources read")
        rows = {str(table.get_row_at(i)[0]): table.get_row_at(i) for i in range(table.row_count)}
        mini = rows["openai/gpt-4o-mini"]
        assert mini[4] == "$1.5000" and mini[5] == "$1.2500" and mini[1] != "-"
        assert rows["anthropic/claude-sonnet-4.5"][4] == "-"


async def test_every_action_is_in_the_command_palette(tmp_path: Path) -> None:
    app = frozen_app(frozen_session(tmp_path))
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        titles = {c.title for c in app.get_system_commands(app.screen)}
        for wanted in (
            "Refresh now",
            "Window: 7d",
            "Calls browser",
            "Routing editor",
            "Budgets",
            "Cost check",
            "Toggle dark/light",
            "Help",
        ):
            assert wanted in titles
        await pilot.press("ctrl+p")
        palette = await wait_for_screen(pilot, CommandPalette)
        await pilot.press(*"calls browser")
        hits = palette.query_one(CommandList)

        def best_hit() -> str:
            if hits.highlighted is None or not hits.option_count:
                return ""
            return str(hits.get_option_at_index(hits.highlighted).prompt)

        await wait_for(pilot, lambda: "Calls browser" in best_hit(), "the palette's best hit")
        await pilot.press("enter")
        await wait_for_screen(pilot, CallsScreen)


async def test_the_first_frame_already_shows_the_numbers(tmp_path: Path) -> None:
    app = frozen_app(frozen_session(tmp_path))
    async with app.run_test(size=(160, 48)) as pilot:
        # No pause: what the screen holds as soon as the app runs.
        assert app.data is not None and app.data.totals.calls > 0
        spend = str(app.screen.query_one("#spend-stats").render())
        assert "Logged 24h:" in spend and "Loading" not in spend
        # The tables join the screen after this frame, with the rows read for it.
        await wait_for(
            pilot,
            lambda: app.dashboard.live.is_mounted and not app.screen.query(".table-slot"),
            "the tables in their places",
        )
        assert app.screen.query_one(LiveCalls).row_count > 0
        assert app.screen.query_one(ProvidersTable).row_count > 0
        app.dashboard.arm_charts()  # once more (the fleet arms too): still one of each
        await pilot.pause()
        assert len(app.screen.query(LiveCalls)) == len(app.screen.query(ProvidersTable)) == 1


async def test_a_first_read_that_never_comes_falls_back_to_the_worker(tmp_path: Path) -> None:
    from concurrent.futures import Future

    from hermes_dash.services.startup import FirstRead

    stuck: Future[FirstRead] = Future()  # as if another process held the file
    app = frozen_app(frozen_session(tmp_path), first_read=stuck)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        assert app.data is not None and app.data.totals.calls > 0
        assert app.screen.query_one(LiveCalls).row_count > 0
        await pilot.press("q")
    assert app.return_code == 0


async def test_clicking_a_providers_header_sorts_by_it(tmp_path: Path) -> None:
    app = frozen_app(frozen_session(tmp_path))
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        table = app.screen.query_one(ProvidersTable)
        x = table.render_line(0).text.index("p95")
        # The table's content starts inside its border and its padding.
        assert await pilot.click(ProvidersTable, offset=(x + 2, 1))
        await pilot.pause()
        assert table.sort_column == "p95"
        assert "sorted by p95" in str(table.border_subtitle)
        assert app.data is not None
        inf = float("inf")
        expected = sorted(app.data.providers, key=lambda g: g.latency_p95_s or inf)
        shown = [tuple(map(str, table.get_row_at(i)[:2])) for i in range(table.row_count)]
        assert shown == [(g.key[0], (g.key[2] or "-")[:13]) for g in expected]
        # A click below the header sorts nothing.
        assert await pilot.click(ProvidersTable, offset=(2, 3))
        await pilot.pause()
        assert table.sort_column == "p95"


async def test_table_lines_carry_the_theme_colours(tmp_path: Path) -> None:
    app = frozen_app(frozen_session(tmp_path))
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        tables = (app.screen.query_one(ProvidersTable), app.screen.query_one(LiveCalls))
        dark = [t.rich_style.bgcolor for t in tables]
        await pilot.press("t")  # light: a line without its own background would show dark
        await wait_for(
            pilot, lambda: [t.rich_style.bgcolor for t in tables] != dark, "the light theme"
        )
        for table in tables:
            background = table.rich_style.bgcolor
            assert background is not None
            assert sum(background.get_truecolor()) > 3 * 160
            # Light theme, light lines: the table's own background and its stripes.
            for y in range(table.size.height):
                for segment in table.render_line(y):
                    assert segment.style is not None and segment.style.bgcolor is not None
                    assert sum(segment.style.bgcolor.get_truecolor()) > 3 * 160
