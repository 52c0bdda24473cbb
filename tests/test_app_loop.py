"""The dashboard's loop: one call-log read at a time, screens that do not stack, a
replaced call log, and an account poll that updates the burn rate at once."""

from __future__ import annotations

import asyncio
import os
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Select

from hermes_dash.calllog.records import CallRow
from hermes_dash.calllog.store import CallFilter, CallStore
from hermes_dash.demo.session import DemoSession
from hermes_dash.services.settings import UserSettings
from hermes_dash.services.summary import remaining_usd
from hermes_dash.tui import app as app_module
from hermes_dash.tui.app import HermesDashApp, make_app
from hermes_dash.tui.screens.calls import CallsScreen
from hermes_dash.tui.screens.costcheck import CostCheckScreen
from hermes_dash.tui.screens.routing import RoutingScreen
from hermes_dash.tui.screens.settings import SettingsScreen
from hermes_dash.tui.widgets.panel_tables import LiveCalls

from .conftest import call
from .tui_helpers import FROZEN_NOW, Notices, frozen_session, settle, wait_for


class WatchedStore(CallStore):
    """The real store, counting the live-tail reads in flight; a test can hold the next
    read at a gate or make it raise."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.reads = 0
        self.in_flight = 0
        self.most_in_flight = 0
        self.gate: threading.Event | None = None
        self.waiting = threading.Event()
        self.failures = 0
        self._count = threading.Lock()

    def tail(self, after_id: int, limit: int = 500) -> tuple[list[CallRow], int]:
        with self._count:
            self.reads += 1
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.gate is not None:
                self.waiting.set()
                self.gate.wait(30)
            if self.failures:
                self.failures -= 1
                raise RuntimeError("boom in the reader")
            return super().tail(after_id, limit)
        finally:
            with self._count:
                self.in_flight -= 1


def _app(
    session: DemoSession, poll_s: float, enrich_s: float = 3600.0, refresh_s: float = 3600.0
) -> tuple[HermesDashApp, WatchedStore]:
    """The app with its call-log tick every ``poll_s``; OpenRouter polls and pricing
    rounds start by themselves only when a test asks (on a loaded machine a test can
    outlast their usual intervals, and each starts a read the test did not)."""
    store = WatchedStore(session.settings.db_path)
    settings = replace(
        session.settings, calllog_poll_s=poll_s, enrich_s=enrich_s, refresh_s=refresh_s
    )
    app = make_app(settings, session.api, store, clock=lambda: FROZEN_NOW, prefs=UserSettings())
    return app, store


async def test_key_presses_never_start_a_second_read_loop(tmp_path: Path) -> None:
    app, store = _app(frozen_session(tmp_path), poll_s=0.05)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        await pilot.press("r", "r", "1", "r", "2", "3", "r", "4", "r", "r", "1", "r")
        await pilot.press("2")
        await wait_for(pilot, lambda: not app.stale_aggregates and app.data.window.name == "24h")
        # From here on: reads per timer tick, counted, whatever the machine's speed.
        ticks, reads = app.calllog_ticks, store.reads
        await wait_for(pilot, lambda: app.calllog_ticks >= ticks + 12)
        assert store.reads - reads <= app.calllog_ticks - ticks + 1
        assert store.most_in_flight == 1


async def test_a_read_in_flight_takes_requests_as_one_more_read(tmp_path: Path) -> None:
    app, store = _app(frozen_session(tmp_path), poll_s=3600)  # no ticks: only requests
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        store.gate = threading.Event()
        reads = store.reads
        await pilot.press("r")
        await wait_for(pilot, store.waiting.is_set)
        await pilot.press("1", "r", "3", "r", "r", "4", "3")  # while that read is held
        assert store.reads == reads + 1 and app.window_name == "7d"
        store.gate.set()
        store.gate = None
        await wait_for(pilot, lambda: app.data.window.name == "7d" and not app.stale_aggregates)
        assert store.reads == reads + 2  # the held one, then one with the newest inputs
        assert store.most_in_flight == 1


async def test_an_unexpected_error_is_shown_once_and_polling_goes_on(tmp_path: Path) -> None:
    session = frozen_session(tmp_path)
    app, store = _app(session, poll_s=0.05)
    notices = Notices()
    async with app.run_test(size=(160, 48), message_hook=notices) as pilot:
        await settle(pilot, app)
        store.failures = 3
        await wait_for(pilot, lambda: store.failures == 0)
        before = app.data.totals.calls
        session.store.insert([call(FROZEN_NOW - 1, model="after/the-errors")])
        await wait_for(pilot, lambda: app.data.totals.calls == before + 1)
        errors = [n for n in notices.seen if "boom in the reader" in n.message]
        assert len(errors) == 1 and errors[0].severity == "error"
        assert app.is_running


async def test_an_account_poll_updates_burn_and_runway_at_once(tmp_path: Path) -> None:
    session = frozen_session(tmp_path)
    app, _ = _app(session, poll_s=3600)  # the call-log timer never fires in this test
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        old = app.data.burn_24h.remaining_usd
        session.server.credits_total += 1000  # what is left: credits and limit, the smaller
        session.server.key_limit += 1000
        app.poll_account()
        await wait_for(
            pilot,
            lambda: app.account.snapshot is not None and remaining_usd(app.account.snapshot) != old,
        )
        fresh = remaining_usd(app.account.snapshot)
        await wait_for(pilot, lambda: app.data.burn_24h.remaining_usd == fresh)
        assert app.data.burn_24h.runway_hours is not None


async def test_screens_open_once_and_only_from_the_dashboard(tmp_path: Path) -> None:
    app, store = _app(frozen_session(tmp_path), poll_s=3600)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        await pilot.press("c", "c", "c", "e", "e", "b", "h")
        await wait_for(pilot, lambda: isinstance(app.screen, CallsScreen), "the calls browser")
        assert len(app.screen_stack) == 2
        started, reads = app.reads_started, store.reads
        await pilot.press("1", "4", "3")  # window keys on the calls browser
        await pilot.pause()
        assert app.window_name == "24h" and app.reads_started == started
        assert store.reads == reads
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert "Routing editor" not in titles and "Window: 7d" not in titles
        await pilot.press("escape")
        await pilot.press("e", "e", "c")
        await wait_for(pilot, lambda: isinstance(app.screen, RoutingScreen), "the routing editor")
        assert len(app.screen_stack) == 2
        await pilot.press("escape")
        await pilot.press("b", "b", "c", "h")
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsScreen), "the budgets")
        assert len(app.screen_stack) == 2
        await pilot.press("escape")
        await pilot.press("h", "c", "e", "2")
        await wait_for(pilot, lambda: isinstance(app.screen, CostCheckScreen), "the cost check")
        assert len(app.screen_stack) == 2
        assert app.window_name == "24h"
        await pilot.press("escape")
        await pilot.press("1")
        await wait_for(pilot, lambda: app.data.window.name == "1h")


async def test_a_replaced_call_log_is_reopened(tmp_path: Path) -> None:
    session = frozen_session(tmp_path)
    path = session.settings.db_path
    app, store = _app(session, poll_s=0.05)
    notices = Notices()
    async with app.run_test(size=(160, 48), message_hook=notices) as pilot:
        await settle(pilot, app)
        assert app.data.totals.calls > 100
        # Someone deletes the log; Hermes' recorder makes a new one at the same path.
        session.store.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        fresh = CallStore(path)
        fresh.insert([call(FROZEN_NOW - i, model="new/log") for i in range(3)])
        fresh.close()
        await wait_for(pilot, lambda: app.data.totals.calls == 3)
        live = app.screen.query_one(LiveCalls)
        assert live.row_count == 3 and "log" in str(live.get_row_at(0)[1])
        assert any("replaced" in m for m in notices.messages())
        # ...and it goes on reading the new file.
        again = CallStore(path)
        again.insert([call(FROZEN_NOW, model="new/log")])
        again.close()
        await wait_for(pilot, lambda: app.data.totals.calls == 4 and live.row_count == 4)
        assert os.path.exists(path)
    store.close()


class HeldEnricher:
    """A pricing round that lasts until the test lets it finish."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started = 0
        self.finished = 0
        self.cancelled = 0

    async def run_once(self) -> int:
        self.started += 1
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        self.finished += 1
        self.release.clear()
        return 0


async def test_a_slow_pricing_round_is_not_cancelled_by_the_next_tick(tmp_path: Path) -> None:
    app, _ = _app(frozen_session(tmp_path), poll_s=0.05, enrich_s=0.05)
    enricher = HeldEnricher()
    app._enricher = enricher  # type: ignore[assignment]
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: enricher.started == 1)
        ticks = app.calllog_ticks
        await wait_for(pilot, lambda: app.calllog_ticks >= ticks + 10)  # many enrich ticks too
        assert enricher.started == 1 and enricher.cancelled == 0
        enricher.release.set()
        await wait_for(pilot, lambda: enricher.finished == 1 and enricher.started == 2)
        assert enricher.cancelled == 0


class HeldPages(WatchedStore):
    """Pages for one model wait at a gate, as on a slow disk."""

    held_model = ""

    def query_calls(self, flt: CallFilter, limit: int = 200, offset: int = 0) -> list[CallRow]:
        if flt.model == self.held_model and self.gate is not None:
            self.waiting.set()
            self.gate.wait(30)
        return super().query_calls(flt, limit, offset)


async def test_the_calls_browser_shows_the_newest_filter_not_the_slowest(
    tmp_path: Path,
) -> None:
    session = frozen_session(tmp_path)
    store = HeldPages(session.settings.db_path)
    settings = replace(session.settings, calllog_poll_s=3600)
    app = make_app(settings, session.api, store, clock=lambda: FROZEN_NOW, prefs=UserSettings())
    slow, quick = store.distinct("model")[:2]
    store.held_model = slow
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, CallsScreen) and app.screen.rows)
        screen = app.screen
        assert isinstance(screen, CallsScreen)
        delivered: list[set[str]] = []
        show = screen.show

        def spy(rows: list[CallRow], *rest: Any) -> None:
            delivered.append({r.model for r in rows})
            show(rows, *rest)

        screen.show = spy  # type: ignore[method-assign]
        store.gate = threading.Event()
        screen.query_one("#f-model", Select).value = slow
        await wait_for(pilot, store.waiting.is_set)
        screen.query_one("#f-model", Select).value = quick
        await wait_for(pilot, lambda: {r.model for r in screen.rows} == {quick})
        store.gate.set()  # the slow page arrives last...
        await wait_for(pilot, lambda: {slow} in delivered)
        await pilot.pause()
        assert {r.model for r in screen.rows} == {quick}  # ...and is not shown
        table = screen.query_one(DataTable)
        assert {str(table.get_row_at(i)[2]) for i in range(table.row_count)} == {quick}


async def test_an_unexpected_error_in_an_account_poll_keeps_polling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = app_module.fetch_snapshot
    failures = {"left": 0}

    async def flaky(*args: Any, **kwargs: Any) -> Any:
        if failures["left"]:
            failures["left"] -= 1
            raise RecursionError("maximum recursion depth exceeded")
        return await real(*args, **kwargs)

    monkeypatch.setattr(app_module, "fetch_snapshot", flaky)
    app, _ = _app(frozen_session(tmp_path), poll_s=3600, refresh_s=30)
    notices = Notices()
    async with app.run_test(size=(160, 48), message_hook=notices) as pilot:
        await settle(pilot, app)
        good = app.account.snapshot
        failures["left"] = 2
        for failed in (1, 2):
            await pilot.press("r")
            await wait_for(pilot, lambda n=failed: app.schedule.failures == n)
        assert app.account.status == "error" and app.account.stale
        assert app.account.snapshot == good
        assert app.next_poll_in is not None and app.next_poll_in > app.settings.refresh_s
        shown = [m for m in notices.messages() if "RecursionError" in m]
        assert len(shown) == 1  # the same failure is said once
        await pilot.press("r")
        await wait_for(pilot, lambda: app.account.status == "ok")
        assert app.schedule.failures == 0
