"""The routing editor's measured data, driven by the keyboard: the scorecard beside the
form, a suggestion loaded with one key and saved through the diff confirmation (and
recorded), the window and model keys, and the changes view."""

from __future__ import annotations

from pathlib import Path

import yaml
from textual.widgets import DataTable

from hermes_dash.routing.history import RoutingHistory, history_path
from hermes_dash.tui.screens.changes import ChangesScreen
from hermes_dash.tui.screens.dialogs import ConfirmDiff
from hermes_dash.tui.screens.routing import OrderList, RoutingScreen
from hermes_dash.tui.widgets.scorecard import ScorecardPanel

from .tui_helpers import frozen_app, frozen_session, settle, wait_for


def _title(panel: ScorecardPanel) -> str:
    return str(panel.query_one("#scorecard-title").render())


async def _editor_with_scorecard(pilot, app) -> tuple[RoutingScreen, ScorecardPanel]:  # type: ignore[no-untyped-def]
    await settle(pilot, app)
    await pilot.press("e")
    await wait_for(pilot, lambda: isinstance(app.screen, RoutingScreen), "the editor")
    screen = app.screen
    panel = screen.query_one(ScorecardPanel)
    await wait_for(pilot, lambda: panel.report is not None and screen.form_ready, "the scorecard")
    return screen, panel


async def test_a_suggestion_loads_into_the_form_and_saves_through_the_diff(
    tmp_path: Path,
) -> None:
    session = frozen_session(tmp_path, calls=20_000)
    config = session.settings.paths.config
    app = frozen_app(session)
    async with app.run_test(size=(160, 48)) as pilot:
        screen, panel = await _editor_with_scorecard(pilot, app)
        table = panel.query_one("#scorecard", DataTable)
        names = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
        assert names[:3] == ["DeepInfra", "Fireworks", "Together"]
        assert "deepseek/deepseek-chat-v3.1 · 24h" in _title(panel)
        order = next(s for s in panel.suggestions if s.kind == "order")
        n = panel.suggestions.index(order) + 1
        assert f"{n} " in str(panel.query_one("#suggestions").render())

        # The key loads the draft into the form; nothing is written yet.
        before = config.read_bytes()
        screen.query_one("#preview").focus()
        await pilot.press(str(n))
        await wait_for(
            pilot, lambda: screen.query_one(OrderList).slugs == list(order.draft.order), "draft"
        )
        assert config.read_bytes() == before
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDiff), "the diff")
        assert "order: [" in app.screen.diff
        await pilot.press("y")
        await wait_for(pilot, lambda: config.read_bytes() != before, "the write")
        saved = yaml.safe_load(config.read_text())["provider_routing"]
        assert saved["order"] == list(order.draft.order) and saved["sort"] == "price"

    changes = RoutingHistory(history_path(session.settings.db_path)).changes(config)
    assert changes[-1].source == "editor"
    assert changes[-1].after["order"] == list(order.draft.order)
    session.close()


async def test_window_and_model_keys_and_the_changes_view(tmp_path: Path) -> None:
    session = frozen_session(tmp_path)
    app = frozen_app(session)
    async with app.run_test(size=(160, 48)) as pilot:
        screen, panel = await _editor_with_scorecard(pilot, app)
        screen.query_one("#preview").focus()
        await pilot.press("ctrl+w")
        await wait_for(pilot, lambda: "· 7d " in _title(panel), "the 7d window")
        await pilot.press("ctrl+n")
        await wait_for(
            pilot,
            lambda: panel.report is not None and panel.report.card.model != panel.default_model,
            "another model",
        )
        assert panel.model in panel.models and panel.model in _title(panel)

        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, ChangesScreen), "the changes")
        changes = app.screen
        await wait_for(pilot, lambda: len(changes.impacts) == 2, "the demo's two changes")
        table = changes.query_one("#changes", DataTable)
        assert table.row_count == 4
        first, second = table.get_row_at(0), table.get_row_at(1)
        assert str(first[1]) == "routing set" and str(first[2]) == "before"
        assert str(second[2]) == "after" and int(str(second[3])) > 0
        detail = str(changes.query_one("#change-detail").render())
        assert '~ sort: "latency" -> "price"' in detail
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen, "back to the editor")
    session.close()


async def test_the_dashboard_notices_a_change_made_by_hand(tmp_path: Path) -> None:
    session = frozen_session(tmp_path)
    config = session.settings.paths.config
    config.write_text(config.read_text().replace("sort: price", "sort: throughput"))
    history = RoutingHistory(history_path(session.settings.db_path))
    assert [c.source for c in history.changes(config)] == ["editor", "routing set"]
    app = frozen_app(session)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot, app)
        await wait_for(pilot, lambda: len(history.changes(config)) == 3, "the change by hand")
    (by_hand,) = history.changes(config)[2:]
    assert by_hand.source == "by hand" and by_hand.after["sort"] == "throughput"
    assert by_hand.at == config.stat().st_mtime
    session.close()
