"""The dashboard's first-run states: words and a fix in place of empty charts, and the
recorder installed from the dashboard after a confirmation showing the config diff."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from textual.command import CommandList, CommandPalette

from hermes_dash.calllog.recorder import PLUGIN_NAME
from hermes_dash.tui.screens.dashboard import DashboardScreen
from hermes_dash.tui.screens.dialogs import ConfirmDiff

from .tui_helpers import first_run_app, first_run_settled, wait_for

pytestmark = pytest.mark.asyncio


def palette_highlights(app, title: str) -> bool:  # type: ignore[no-untyped-def]
    lists = app.screen.query(CommandList)
    if not lists:
        return False
    options = lists.first()
    if options.option_count == 0 or options.highlighted is None:
        return False
    return title in str(options.get_option_at_index(options.highlighted).prompt)


def guide_text(app, panel: str = "spend") -> str:  # type: ignore[no-untyped-def]
    return str(getattr(app.dashboard, panel).guide.render())


@pytest.mark.parametrize(
    ("state", "spend_words", "rate_words"),
    [
        ("no-home", ["Hermes home", "does not exist", "hermes setup"], ["hermes setup"]),
        (
            "no-key",
            ["OPENROUTER_API_KEY is not set", ".env", "recorder plugin", "press i"],
            ["recorder plugin", "plugin install"],
        ),
        ("not-installed", ["not installed", "hermes-dash plugin install", "press i"], ["press i"]),
        ("not-enabled", ["not in plugins.enabled", "hermes-dash plugin install"], ["press i"]),
        ("idle", ["enabled but idle", "hermes chat -q"], ["recorder writing", "hermes chat -q"]),
    ],
)
async def test_each_empty_state_says_what_is_missing(
    tmp_path: Path, state: str, spend_words: list[str], rate_words: list[str]
) -> None:
    app = first_run_app(tmp_path, state)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: first_run_settled(app), "the first-run guide")
        spend, rate = guide_text(app), guide_text(app, "rate")
        assert spend.startswith("Nothing logged in the last 24h.")
        for words in spend_words:
            assert words in spend, (words, spend)
        for words in rate_words:
            assert words in rate, (words, rate)
        # The charts make way for the words.
        assert not app.dashboard.spend.chart.display or not app.dashboard.spend.chart.armed


async def test_install_key_shows_the_diff_and_writes_only_plugins_after_y(
    tmp_path: Path,
) -> None:
    app = first_run_app(tmp_path, "not-installed")
    config = app.settings.paths.config
    before = config.read_text()
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: first_run_settled(app), "the first-run guide")
        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDiff), "the confirmation")
        diff = app.screen.diff
        assert "+plugins:" in diff and f"+    - {PLUGIN_NAME}" in diff
        assert config.read_text() == before  # nothing written while asking
        await pilot.press("y")
        await wait_for(
            pilot, lambda: "enabled but idle" in guide_text(app), "the guide after the install"
        )
        assert isinstance(app.screen, DashboardScreen)
    after = config.read_text()
    old, new = yaml.safe_load(before), yaml.safe_load(after)
    assert new.pop("plugins") == {"enabled": [PLUGIN_NAME]}
    assert new == old  # nothing but plugins changed
    assert "# Hermes Agent configuration" in after  # comments kept
    backups = list(app.settings.paths.backups.iterdir())
    assert len(backups) == 1 and backups[0].read_text() == before
    assert (app.settings.paths.plugins / PLUGIN_NAME / "__init__.py").is_file()


@pytest.mark.parametrize("answer", ["n", "escape"])
async def test_install_key_then_no_changes_nothing(tmp_path: Path, answer: str) -> None:
    app = first_run_app(tmp_path, "not-installed")
    paths = app.settings.paths
    before = paths.config.read_bytes()
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: first_run_settled(app), "the first-run guide")
        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDiff), "the confirmation")
        await pilot.press(answer)
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard")
        await app.workers.wait_for_complete()
        assert "not installed" in guide_text(app)
    assert paths.config.read_bytes() == before
    assert not (paths.plugins / PLUGIN_NAME).exists()
    assert not paths.backups.exists() or not any(paths.backups.iterdir())


async def test_install_from_the_command_palette(tmp_path: Path) -> None:
    app = first_run_app(tmp_path, "not-enabled")
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: first_run_settled(app), "the first-run guide")
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), "the palette")
        await pilot.press(*"install the recorder")
        await wait_for(pilot, lambda: palette_highlights(app, "Install the recorder"), "a match")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDiff), "the confirmation")
        assert f"+    - {PLUGIN_NAME}" in app.screen.diff
        await pilot.press("y")
        await wait_for(
            pilot, lambda: "enabled but idle" in guide_text(app), "the guide after the install"
        )
    assert (
        PLUGIN_NAME in yaml.safe_load(app.settings.paths.config.read_text())["plugins"]["enabled"]
    )
