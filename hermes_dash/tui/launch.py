"""Starting the dashboard for real or as the demo."""

from __future__ import annotations

from hermes_dash.calllog.store import CallStore
from hermes_dash.openrouter.client import OpenRouterClient
from hermes_dash.services.settings import DashSettings
from hermes_dash.tui.app import make_app


def run_dashboard(settings: DashSettings, api: OpenRouterClient, store: CallStore) -> int:
    """Run the TUI until the user quits."""
    try:
        make_app(settings, api, store).run()
    finally:
        store.close()
    return 0


def run_demo() -> int:
    """Run the TUI on generated data, a live feed and a fake OpenRouter."""
    from hermes_dash.demo.session import demo_session

    session = demo_session()
    session.feed.start()
    try:
        make_app(session.settings, session.api, session.store).run()
    finally:
        session.close()
    return 0
