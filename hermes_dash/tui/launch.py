"""Starting the dashboard for real or as the demo."""

from __future__ import annotations

import signal
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


def run_demo() -> int:
    """Run the TUI on generated data, a live feed and a fake OpenRouter."""
    from hermes_dash.demo.session import demo_session

    session = demo_session()
    app: App[Any] | None = None

    def stop(_signum: int, _frame: object) -> None:
        # SIGTERM (systemd, kill) and SIGHUP (a closed window) would end the process
        # without unwinding, leaving the generated data behind: quit as 'q' does.
        if app is not None:
            app.exit()
        else:
            raise SystemExit(0)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        session.feed.start()
        app = make_app(session.settings, session.api, session.store)
        app.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        session.close()  # also removes the generated data
    return exit_code(app)


def exit_code(app: App[Any]) -> int:
    """The process's exit code after ``app.run()``: Textual sets 1 when the app ended on
    an unhandled exception (it has printed the traceback by then)."""
    return app.return_code or 0
