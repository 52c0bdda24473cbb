"""Starting the dashboard for real or as the demo."""

from __future__ import annotations

import gc
from concurrent.futures import Future

from hermes_dash.calllog.store import CallStore
from hermes_dash.openrouter.client import OpenRouterClient
from hermes_dash.services.dashboard import FirstRead
from hermes_dash.services.settings import DashSettings
from hermes_dash.tui.app import make_app


def _settle_imports() -> None:
    """Move everything imported so far out of the garbage collector's way (a full
    collection over all those modules takes about 10 ms, long enough to delay a frame),
    then collect as usual."""
    gc.freeze()
    gc.enable()


def run_dashboard(
    settings: DashSettings,
    api: OpenRouterClient,
    store: CallStore,
    first_read: Future[FirstRead] | None = None,
) -> int:
    """Run the TUI until the user quits."""
    _settle_imports()
    try:
        make_app(settings, api, store, first_read=first_read).run()
    finally:
        store.close()
    return 0


def run_demo() -> int:
    """Run the TUI on generated data, a live feed and a fake OpenRouter."""
    from hermes_dash.demo.session import demo_session

    session = demo_session()
    session.feed.start()
    _settle_imports()
    try:
        make_app(session.settings, session.api, session.store).run()
    finally:
        session.close()
    return 0
