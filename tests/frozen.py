"""The app on frozen demo data, for screenshots and snapshot tests: same data, same clock,
so every render of a screen is the same picture."""

from __future__ import annotations

import atexit
import shutil
import tempfile
import time
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path

from textual.pilot import Pilot

from hermes_dash.calllog import recorder
from hermes_dash.demo.home import make_demo_home, write_demo_history
from hermes_dash.demo.session import DemoSession, open_demo_session
from hermes_dash.hermes.paths import HermesPaths
from hermes_dash.routing.history import history_path
from hermes_dash.services.settings import UserSettings
from hermes_dash.services.startup import FirstRead
from hermes_dash.tui.app import HermesDashApp, make_app

#: 2026-11-20 15:00:00 UTC: every frozen screen is drawn as if it were this instant.
FROZEN_NOW = 1_795_618_800.0


#: Demo homes generated once per test process, by number of calls; each test gets a copy.
_TEMPLATES: dict[int, Path] = {}


def _template(calls: int) -> Path:
    if calls not in _TEMPLATES:
        root = Path(tempfile.mkdtemp(prefix="hermes-dash-frozen-"))
        atexit.register(shutil.rmtree, root, ignore_errors=True)
        make_demo_home(root, calls=calls, seed=1, now=FROZEN_NOW)
        _TEMPLATES[calls] = root
    return _TEMPLATES[calls]


def frozen_session(root: Path, calls: int = 4000) -> DemoSession:
    """Demo data generated up to FROZEN_NOW, the fake OpenRouter on the same clock.

    The same seed and clock give the same data, so it is generated once per process and
    copied into ``root``: each session has its own files to change."""
    shutil.copytree(_template(calls), root, dirs_exist_ok=True)
    paths = HermesPaths(root / "hermes")
    # The routing history names its config file by path: the copy's changes are written
    # anew for the copy's own config.yaml.
    history_path(paths.call_log).unlink(missing_ok=True)
    write_demo_history(paths, FROZEN_NOW)
    recorder.configure(str(paths.call_log))  # as a freshly made demo home does
    return open_demo_session(paths, now=FROZEN_NOW, seed=1)


def frozen_app(
    session: DemoSession,
    prefs: UserSettings | None = None,
    first_read: Future[FirstRead] | None = None,
) -> HermesDashApp:
    """The real app over a frozen session (the live feed is not started). No second
    OpenRouter poll and no pricing round start by themselves: on a loaded machine a test
    can take longer than their intervals, and either would change the picture (a second
    account snapshot draws the key-usage line on the spend chart)."""
    return make_app(
        replace(session.settings, refresh_s=3600.0, enrich_s=3600.0),
        session.api,
        session.store,
        clock=lambda: FROZEN_NOW,
        prefs=prefs or UserSettings(),
        first_read=first_read,
    )


#: How long the dashboard may take to settle on a busy machine before that is an error.
SETTLE_LIMIT_S = 30.0


async def settle(pilot: Pilot[None], app: HermesDashApp) -> None:
    """Wait until the first call-log read, OpenRouter poll and local checks (the
    recorder's state in the status line) have landed and the aggregates on screen reflect
    them; then drop the start-up notifications.

    It waits on that state, not for a fixed time: quick on an idle machine, still right
    on a loaded one."""
    deadline = time.monotonic() + SETTLE_LIMIT_S
    while app.data is None or app.last_poll is None or app.stale_aggregates or app.checks is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the dashboard did not settle within {SETTLE_LIMIT_S:g} s")
        await pilot.pause(0.02)
    await pilot.pause()
    app.clear_notifications()
    await pilot.pause()
