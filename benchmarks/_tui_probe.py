"""Runs one app headless in its own process and prints JSON measurements (used by bench_tui)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import Label

WINDOWS = ("1h", "7d", "30d", "24h")


class Bare(App[None]):
    """The baseline: a Textual app that shows one label."""

    def compose(self) -> ComposeResult:
        yield Label("hello")


def build_dashboard(db: Path) -> App[None]:
    """The real dashboard over a call log, with the demo's fake OpenRouter (no network)."""
    from _common import NOW

    from hermes_dash.calllog.store import CallStore
    from hermes_dash.demo.fake_openrouter import DemoOpenRouter
    from hermes_dash.demo.session import DEMO_KEY
    from hermes_dash.hermes.paths import HermesPaths, Secrets
    from hermes_dash.openrouter.client import OpenRouterClient
    from hermes_dash.services.settings import DashSettings, UserSettings
    from hermes_dash.tui.app import make_app

    home = HermesPaths(Path(tempfile.gettempdir()) / "hermes-dash-bench-home")
    settings = DashSettings(
        paths=home,
        db_path=db,
        secrets=Secrets(DEMO_KEY, None),
        user_settings_path=home.home / "settings.json",
    )
    # The benchmark logs end at NOW: the app sees that instant, so its windows hold data.
    clock = lambda: NOW  # noqa: E731
    api = OpenRouterClient(DEMO_KEY, transport=DemoOpenRouter(db, clock=clock).transport)
    return make_app(settings, api, CallStore(db), clock=clock, prefs=UserSettings())


def peak_rss_mb() -> float:
    """This process's peak resident set. VmHWM, not ru_maxrss: the latter keeps the peak
    of the parent's image from before exec, so a big benchmark runner would inflate it."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=("dash", "bare"), required=True)
    parser.add_argument("--db")
    parser.add_argument("--idle", type=float, default=0.0, help="seconds to stay idle after data")
    parser.add_argument(
        "--exercise", action="store_true", help="switch windows, open the calls browser"
    )
    args = parser.parse_args()
    result: dict[str, float] = {}
    app = Bare() if args.mode == "bare" else build_dashboard(Path(args.db))

    def ready() -> bool:
        return args.mode == "bare" or getattr(app, "data", None) is not None

    async def auto_pilot(pilot: Pilot[None]) -> None:
        while not ready():
            await asyncio.sleep(0.005)
        await pilot.pause()  # one refresh: the frame with data is drawn
        if args.exercise:
            for name in WINDOWS:
                await app.run_action(f"window('{name}')")
                for _ in range(600):
                    await asyncio.sleep(0.05)
                    if not getattr(app, "stale_aggregates", False):
                        break
            await app.run_action("calls")
            await asyncio.sleep(1.5)
            await app.run_action("app.pop_screen")
        if args.idle:
            c0, w0 = os.times(), time.perf_counter()
            await asyncio.sleep(args.idle)
            c1, w1 = os.times(), time.perf_counter()
            result["idle_cpu_pct"] = (
                100.0 * ((c1.user - c0.user) + (c1.system - c0.system)) / (w1 - w0)
            )
        app.exit()

    app.run(headless=True, size=(160, 48), auto_pilot=auto_pilot)
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
