"""Starting the dashboard (the demo's wiring is in ``hermes_dash.cli.demo``)."""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

from textual.app import App

from hermes_dash.calllog.store import CallStore
from hermes_dash.openrouter.client import OpenRouterClient
from hermes_dash.services.settings import DashSettings
from hermes_dash.services.startup import FirstRead
from hermes_dash.tui.app import make_app


def run_dashboard(
    settings: DashSettings,
    api: OpenRouterClient,
    store: CallStore,
    first_read: Future[FirstRead] | None = None,
) -> int:
    """Run the TUI until the user quits; the exit code is not 0 when the app crashed."""
    try:
        app = make_app(settings, api, store, first_read=first_read)
        app.run()
    finally:
        store.close()
    return exit_code(app)


def run_fleet(url: str, refresh_s: float | None) -> int:
    """Run the fleet dashboard over the Prometheus at ``url``."""
    from hermes_dash.tui.fleet import make_fleet_app

    app = make_fleet_app(url, refresh_s=30.0 if refresh_s is None else refresh_s)
    app.run()
    return exit_code(app)


def exit_code(app: App[Any]) -> int:
    """The process's exit code after ``app.run()``: Textual sets 1 when the app ended on
    an unhandled exception (it has printed the traceback by then)."""
    return app.return_code or 0
