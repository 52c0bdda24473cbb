"""The screens the dashboard opens, and the rule that they open only from the dashboard."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.app import App, SystemCommand
from textual.screen import Screen

from hermes_dash.services.readonly import READ_ONLY_HINT, ReadOnlyError
from hermes_dash.services.settings import UserSettings
from hermes_dash.text import clean
from hermes_dash.tui.keymap import DASHBOARD_ACTIONS, KEYS

if TYPE_CHECKING:
    from hermes_dash.calllog.store import CallStore
    from hermes_dash.openrouter.client import OpenRouterClient
    from hermes_dash.openrouter.management import ManagementClient
    from hermes_dash.services.settings import DashSettings


class ScreenNavigation(App[None]):
    """The app's screen actions: each screen opens over the dashboard and nowhere else,
    so no key or command stacks a second copy of a screen."""

    settings: DashSettings
    api: OpenRouterClient
    store: CallStore
    clock: Callable[[], float]
    prefs: UserSettings
    # Provided by the app.
    action_refresh: Callable[[], None]
    action_window: Callable[[str], None]
    action_toggle_theme: Callable[[], None]
    refresh_screen: Callable[[], None]
    save_prefs: Callable[[], None]
    recheck_first_run: Callable[[], None]
    window_name: str

    def on_dashboard(self) -> bool:
        """Whether the dashboard (the base screen) is the screen on top."""
        return len(self.screen_stack) == 1

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Dashboard keys work (and show in the footer) on the dashboard only."""
        return action not in DASHBOARD_ACTIONS or self.on_dashboard()

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Textual's own commands, then every action of the key table; those that act on
        the dashboard only when the palette was opened there."""
        yield from super().get_system_commands(screen)
        base = self.screen_stack[0]
        for row in KEYS:
            if row.dashboard_only and screen is not base:
                continue
            target = base if row.scope == "dashboard" else self
            for command in row.commands:
                if command.title:
                    callback = partial(self.run_action, command.action, target)
                    yield SystemCommand(command.title, command.help, callback)

    def action_help(self) -> None:
        """Show the keys."""
        from hermes_dash.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_calls(self) -> None:
        """Open the calls browser."""
        from hermes_dash.tui.screens.calls import CallsScreen

        if self.on_dashboard():
            self.push_screen(CallsScreen(self.store))

    def action_settings(self) -> None:
        """Open the budgets screen."""
        from hermes_dash.tui.screens.settings import SettingsScreen

        def saved(result: UserSettings | None) -> None:
            if result is not None and self.settings.read_only:
                self.notify(
                    f"saving settings refused: {READ_ONLY_HINT}",
                    title="Read-only",
                    severity="error",
                    markup=False,
                )
            elif result is not None:
                self.prefs = replace(result, theme=self.theme)
                self.save_prefs()
                self.notify("settings saved")
                self.refresh_screen()

        if self.on_dashboard():
            self.push_screen(SettingsScreen(self.prefs), saved)

    def action_cost_check(self) -> None:
        """Compare our logged cost with Hermes' own numbers."""
        from hermes_dash.tui.screens.costcheck import CostCheckScreen

        if self.on_dashboard():
            self.push_screen(CostCheckScreen(self.store, self.settings.paths, self.clock))

    def action_routing(self) -> None:
        """Open the routing editor."""
        from hermes_dash.tui.screens.routing import RoutingScreen

        if self.on_dashboard():
            self.push_screen(RoutingScreen(self.settings, self.api, self.store, clock=self.clock))

    def action_sources(self) -> None:
        """Open cost by source for the current window."""
        from hermes_dash.calllog.records import Window
        from hermes_dash.services.breakdown import active_hours
        from hermes_dash.tui.screens.sources import SourcesScreen

        if self.on_dashboard():
            window = Window.named(self.window_name, self.clock())
            self.push_screen(SourcesScreen(self.store, window, active_hours(self.prefs)))

    def management_client(self) -> ManagementClient:
        """A management client for one screen (it closes it when it goes)."""
        from hermes_dash.openrouter.management import ManagementClient

        return ManagementClient(
            self.settings.secrets.management_key, base_url=self.settings.openrouter_url
        )

    def action_key_limits(self) -> None:
        """Open the key-limits screen (needs a management key to list and set limits)."""
        from hermes_dash.tui.screens.keys import KeyLimitsScreen

        if self.on_dashboard():
            self.push_screen(
                KeyLimitsScreen(
                    self.management_client(),
                    self.store,
                    self.clock,
                    read_only=self.settings.read_only,
                )
            )

    def action_account(self) -> None:
        """Open the account screen (needs a management key)."""
        from hermes_dash.tui.screens.account import AccountScreen

        if self.on_dashboard():
            self.push_screen(AccountScreen(self.management_client(), self.store, self.clock))

    def action_install_recorder(self) -> None:
        """Install and enable the recorder, after a confirmation showing the config diff."""
        if self.on_dashboard() and self.settings.read_only:
            self.notify(
                f"installing the recorder refused: {READ_ONLY_HINT}",
                title="Read-only",
                severity="error",
                markup=False,
            )
        elif self.on_dashboard():
            self.run_worker(self._install_recorder(), group="install", exclusive=True)

    async def _install_recorder(self) -> None:
        import asyncio

        from hermes_dash.hermes.config import ConfigError
        from hermes_dash.hermes.paths import HermesHomeError
        from hermes_dash.services import plugin as svc
        from hermes_dash.services.checks import install_cmd
        from hermes_dash.tui.screens.dialogs import ConfirmDiff

        paths = self.settings.paths
        failures = (ConfigError, HermesHomeError, OSError)
        try:
            # Reading config.yaml loads ruamel.yaml: off the interface's thread.
            proposal = await asyncio.to_thread(svc.propose_enable, paths)
        except failures as exc:
            self.notify(clean(exc), title="Recorder", severity="error", markup=False)
            return
        title = (
            f"Install the recorder into {svc.plugin_dir(paths)} and enable it in "
            f"{paths.config} (as `{install_cmd(self.settings)}` does)"
        )
        diff = (
            proposal.diff()
            if proposal is not None
            else (
                "  config.yaml already lists hermes-dash-recorder in plugins.enabled: "
                "only the plugin's files are copied.\n"
            )
        )
        if not await self.push_screen_wait(ConfirmDiff(title, diff, confirm="Install")):
            self.notify("Nothing installed.", title="Recorder")
            return
        try:
            _, backup = await asyncio.to_thread(
                svc.install, paths, proposal, confirmed=True, read_only=self.settings.read_only
            )
        except ReadOnlyError as exc:
            self.notify(str(exc), title="Read-only", severity="error", markup=False)
            return
        except failures as exc:
            self.notify(clean(exc), title="Recorder", severity="error", markup=False)
            return
        saved = f" (backup of config.yaml: {backup.name})" if backup else ""
        self.notify(
            clean(f"Recorder installed{saved}. Restart running Hermes processes to load it."),
            title="Recorder",
            markup=False,
        )
        self.recheck_first_run()
