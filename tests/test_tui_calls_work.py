"""The calls browser keeps the UI thread free: the filter lists' choices and the pages are
read in threads from values taken on the UI thread, and an older filter's page never
replaces a newer one's."""

from __future__ import annotations

import threading
from pathlib import Path

from textual.widgets import Select

from hermes_dash.calllog.store import CallFilter
from hermes_dash.tui.screens.calls import PAGE, CallsScreen

from .tui_helpers import frozen_app, frozen_session, settle, wait_for


async def test_the_filter_choices_are_read_off_the_ui_thread(tmp_path: Path) -> None:
    session = frozen_session(tmp_path)
    app = frozen_app(session)
    store = session.store
    real_distinct = store.distinct
    threads: list[int] = []

    def recording(*args, **kwargs):  # type: ignore[no-untyped-def]
        threads.append(threading.get_ident())
        return real_distinct(*args, **kwargs)

    store.distinct = recording  # type: ignore[method-assign]
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        await pilot.press("c")
        screen = app.screen
        assert isinstance(screen, CallsScreen)
        await wait_for(pilot, lambda: screen.choices_loaded, "the filter choices")
        models = screen.query_one("#f-model", Select)
        assert len(models._options) > 1  # the prompt and the log's models
        assert threads and threading.get_ident() not in threads


async def test_an_older_filters_late_page_never_replaces_the_newer(tmp_path: Path) -> None:
    session = frozen_session(tmp_path)
    app = frozen_app(session)
    store = session.store
    real_query = store.query_calls
    entered, release = threading.Event(), threading.Event()
    seen: list[CallFilter] = []

    def slow_first(flt: CallFilter, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(flt)
        if len(seen) == 1:  # the unfiltered first page hangs until the test lets it go
            entered.set()
            release.wait(60)
        return real_query(flt, *args, **kwargs)

    try:
        async with app.run_test(size=(160, 48)) as pilot:
            await settle(pilot, app)
            store.query_calls = slow_first  # type: ignore[method-assign]
            await pilot.press("c")
            screen = app.screen
            assert isinstance(screen, CallsScreen)
            await wait_for(pilot, entered.is_set, "the first page's read")
            screen.query_one("#f-status", Select).value = "error"
            wanted = [r.id for r in real_query(CallFilter(status="error"), limit=PAGE)]
            assert wanted
            await wait_for(pilot, lambda: [r.id for r in screen.rows] == wanted, "the errors' page")
            release.set()
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert [f.status for f in seen] == ["", "error"]
            assert [r.id for r in screen.rows] == wanted
    finally:
        release.set()  # never leave the worker thread hanging
