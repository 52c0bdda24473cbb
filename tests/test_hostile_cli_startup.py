"""Hostile tests of the start-up split: commands whose code loads only when named, and
dashboard tables that join the screen after the first frame. Real processes for the
command line, Pilot for keys typed before the tables (or the charts) are on screen."""

from __future__ import annotations

from pathlib import Path

from hermes_dash.services.fleet import FleetSource
from hermes_dash.services.promql import PrometheusClient
from hermes_dash.tui.fleet import FleetApp

from .fakeserver import FakeOpenRouter
from .test_fleet_source import _routes
from .tui_helpers import frozen_app, frozen_session


async def test_q_typed_before_the_second_frame_quits_cleanly(tmp_path: Path) -> None:
    """A user who types q as the dashboard opens (the key waits in the terminal) quits:
    the charts and tables due after the first frame must not be mounted into a screen
    already gone (MountError, exit 1 and a traceback)."""
    app = frozen_app(frozen_session(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.dashboard.query(".table-slot")  # the tables have not joined yet
        await pilot.press("q")
    assert app._exception is None
    assert app.return_code == 0


async def test_fleet_dashboard_quit_before_its_second_frame() -> None:
    """The same for ``--prometheus``: its screen changes after the first frame too."""
    with FakeOpenRouter(_routes()) as srv:
        base = srv.url.removesuffix("/api/v1")
        app = FleetApp(FleetSource(PrometheusClient(base, timeout=3.0)), refresh_s=3600)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("q")
    assert app._exception is None
    assert app.return_code == 0
