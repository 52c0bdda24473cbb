"""``hermes-dash --demo``: the dashboard on generated data, a live feed and a fake OpenRouter."""

from __future__ import annotations

import signal
from dataclasses import replace
from typing import Any

from textual.app import App

from hermes_dash.demo.session import demo_session
from hermes_dash.tui import launch
from hermes_dash.tui.app import make_app


def run_demo(*, read_only: bool = False) -> int:
    """Run the TUI on generated data until the user quits; remove the data afterwards
    (``read_only``: every write refused, as ``serve`` runs it)."""
    session = demo_session()
    session.settings = replace(session.settings, read_only=read_only)
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
    return launch.exit_code(app)
