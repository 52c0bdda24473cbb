"""The routing editor keeps the UI thread free: filling the form draws the draft once,
and the what-if (a 7-day read of the call log) runs in a worker, debounced, newest wins."""

from __future__ import annotations

import threading
from pathlib import Path

from hermes_dash.services import routing as svc
from hermes_dash.tui.screens.routing import OrderList, RoutingScreen
from hermes_dash.tui.widgets.whatif import WhatIfLine, describe

from .tui_helpers import FROZEN_NOW, frozen_app, frozen_session, settle, wait_for


def _line(screen: RoutingScreen) -> str:
    return str(screen.query_one(WhatIfLine).render())


async def _open(pilot, app) -> RoutingScreen:  # type: ignore[no-untyped-def]
    await settle(pilot, app)
    await pilot.press("e")
    screen = app.screen
    assert isinstance(screen, RoutingScreen)
    await wait_for(pilot, lambda: screen._filled is not None, "the filled form")
    await wait_for(pilot, lambda: "computing" not in _line(screen), "the what-if")
    return screen


async def test_opening_the_editor_draws_the_draft_once(tmp_path: Path) -> None:
    app = frozen_app(frozen_session(tmp_path))
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await _open(pilot, app)
        await app.workers.wait_for_complete()
        await pilot.pause()
        whatif = screen.query_one(WhatIfLine)
        assert screen.previews_drawn == 1
        assert whatif.computed == 1
        assert "What-if, last 7 days of" in _line(screen)


async def test_a_burst_of_changes_costs_one_read_and_shows_the_last_draft(
    tmp_path: Path,
) -> None:
    session = frozen_session(tmp_path)
    app = frozen_app(session)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await _open(pilot, app)
        whatif = screen.query_one(WhatIfLine)
        computed = whatif.computed
        order = screen.query_one(OrderList)
        for slugs in (["fireworks"], ["fireworks", "deepinfra"], ["deepinfra", "fireworks"]):
            order.set_slugs(slugs)
            # Drawn at once on the UI thread: the table; the what-if only says it is coming.
            screen.refresh_draft()
            assert "computing" in _line(screen)
        await wait_for(pilot, lambda: "computing" not in _line(screen), "the what-if")
        await app.workers.wait_for_complete()
        assert whatif.computed == computed + 1
        assert screen.doc is not None and screen.doc.model
        wanted = svc.what_if_for(
            session.store, screen.doc.model, screen.endpoints, screen.draft(), FROZEN_NOW
        )
        assert wanted is not None and wanted.first_choice == "DeepInfra"
        assert _line(screen) == str(describe(wanted))


async def test_an_older_drafts_late_answer_never_replaces_the_newer(tmp_path: Path) -> None:
    session = frozen_session(tmp_path)
    app = frozen_app(session)
    store = session.store
    real_by_model = store.by_model
    entered, release = threading.Event(), threading.Event()
    calls: list[int] = []

    def slow_first(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 1:  # the first draft's read hangs until the test lets it go
            entered.set()
            release.wait(60)
        return real_by_model(*args, **kwargs)

    try:
        async with app.run_test(size=(160, 48)) as pilot:
            await settle(pilot, app)
            store.by_model = slow_first  # type: ignore[method-assign]
            await pilot.press("e")
            screen = app.screen
            assert isinstance(screen, RoutingScreen)
            await wait_for(pilot, entered.is_set, "the first what-if's read")
            screen.query_one(OrderList).set_slugs(["fireworks"])
            screen.refresh_draft()
            await wait_for(pilot, lambda: "Fireworks" in _line(screen), "the newer draft's what-if")
            newer = _line(screen)
            assert screen.doc is not None and screen.doc.model
            older = svc.what_if_for(
                session.store, screen.doc.model, screen.endpoints, screen.doc.rules, FROZEN_NOW
            )
            assert str(describe(older)) != newer  # so a late older answer would show
            release.set()
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert len(calls) >= 2
            assert _line(screen) == newer
    finally:
        release.set()  # never leave the worker thread hanging
