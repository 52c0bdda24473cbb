"""The app on frozen demo data, for screenshots and snapshot tests: same data, same clock,
so every render of a screen is the same picture."""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from pathlib import Path

from textual.pilot import Pilot

from hermes_dash.demo.session import DemoSession, demo_session
from hermes_dash.services.settings import UserSettings
from hermes_dash.services.startup import FirstRead
from hermes_dash.tui.app import HermesDashApp, make_app

#: 2026-11-20 15:00:00 UTC: every frozen screen is drawn as if it were this instant.
FROZEN_NOW = 1_795_618_800.0


def frozen_session(root: Path, calls: int = 4000) -> DemoSession:
    """Demo data generated up to FROZEN_NOW, the fake OpenRouter on the same clock."""
    return demo_session(root, calls=calls, now=FROZEN_NOW, seed=1)


def frozen_app(
    session: DemoSession,
    prefs: UserSettings | None = None,
    first_read: Future[FirstRead] | None = None,
) -> HermesDashApp:
    """The real app over a frozen session (the live feed is not started)."""
    return make_app(
        session.settings,
        session.api,
        session.store,
        clock=lambda: FROZEN_NOW,
        prefs=prefs or UserSettings(),
        first_read=first_read,
    )


async def settle(pilot: Pilot[None], app: HermesDashApp) -> None:
    """Wait until the first call-log read and OpenRouter poll have landed and the
    aggregates on screen reflect both; then drop the start-up notifications."""
    for _ in range(200):
        await pilot.pause(0.05)
        if app.data is not None and app.last_poll is not None and not app.stale_aggregates:
            break
    await pilot.pause(0.1)
    app.clear_notifications()
    await asyncio.sleep(0)
    await pilot.pause()
