"""One key table: the README, the help screen, the bindings and the command palette all
say what hermes_dash/tui/keymap.py says."""

from __future__ import annotations

from pathlib import Path

from textual.command import CommandList
from textual.widgets import Markdown

from hermes_dash.tui.app import HermesDashApp
from hermes_dash.tui.keymap import KEYS, markdown_rows
from hermes_dash.tui.screens.calls import CallsScreen
from hermes_dash.tui.screens.dashboard import DashboardScreen
from hermes_dash.tui.screens.help import HelpScreen
from hermes_dash.tui.widgets.panel_tables import ProvidersTable

from .tui_helpers import frozen_app, frozen_session, settle, wait_for

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_key_table() -> list[str]:
    """The rows of the README's table headed ``| key | does |``."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = lines.index("| key | does |") + 2  # past the header and |---|---|
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


def test_the_readme_key_table_is_the_apps() -> None:
    assert readme_key_table() == markdown_rows()


def test_every_command_is_bound_where_the_table_says() -> None:
    def keys(bindings: list) -> list[tuple[str, str]]:
        return [(b.key, b.action) for b in bindings]

    wanted = {"app": [], "dashboard": []}
    for row in KEYS:
        wanted[row.scope] += [(c.key, c.action) for c in row.commands]
    assert keys(HermesDashApp.BINDINGS) == wanted["app"]
    assert keys(DashboardScreen.BINDINGS) == wanted["dashboard"]
    assert {k for k, _ in wanted["app"]}.isdisjoint(k for k, _ in wanted["dashboard"])


async def test_the_help_and_the_palette_come_from_the_table(tmp_path: Path) -> None:
    app = frozen_app(frozen_session(tmp_path))
    titled = [c.title for row in KEYS for c in row.commands if c.title]
    elsewhere = [c.title for row in KEYS if not row.dashboard_only for c in row.commands]
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert set(titled) <= set(titles)

        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "the help")
        help_text = app.screen.query_one(Markdown).source
        for row in markdown_rows():
            assert row in help_text
        await pilot.press("escape")

        # On another screen the palette offers only what works there.
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, CallsScreen), "the calls browser")
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {t for t in titled if t in elsewhere} <= titles
        assert not titles & (set(titled) - set(elsewhere))
        await pilot.press("escape")

        # A dashboard-scoped command from the palette runs on the dashboard.
        table = app.screen.query_one(ProvidersTable)
        before = table.sort_column
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: app.screen is not app.screen_stack[0], "the palette")
        await pilot.press(*"sort providers")
        # The palette searches in the background: Enter picks the first hit once it is in.
        hits = app.screen.query_one(CommandList)

        def first_hit() -> str:
            if hits.highlighted is None:
                return ""
            return str(hits.get_option_at_index(hits.highlighted).prompt)

        await wait_for(pilot, lambda: "Sort providers" in first_hit(), "the palette's hit")
        await pilot.press("enter")
        await wait_for(pilot, lambda: table.sort_column != before, "the providers' new sort")
        assert app.screen is app.screen_stack[0]
