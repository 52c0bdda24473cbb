"""Regenerate every SVG in screenshots/ from demo data: ``python scripts/screenshots.py``.

The app renders itself (Textual's own SVG export) on frozen demo data, with the demo's
placeholder key: no real key can reach a screenshot.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from textual.pilot import Pilot

from hermes_dash.demo.session import demo_session
from hermes_dash.services.settings import UserSettings
from hermes_dash.tui.app import HermesDashApp, make_app

FROZEN_NOW = 1_795_618_800.0  # 2026-11-20 15:00 UTC
OUT = Path(__file__).resolve().parent.parent / "screenshots"

Step = Callable[[Pilot[None], HermesDashApp], Awaitable[None]]


async def _settle(pilot: Pilot[None], app: HermesDashApp) -> None:
    for _ in range(200):
        await pilot.pause(0.05)
        if app.data is not None and app.last_poll is not None and not app.stale_aggregates:
            break
    await pilot.pause(0.2)
    app.clear_notifications()


async def _keys(pilot: Pilot[None], *keys: str, wait: float = 0.8) -> None:
    await pilot.press(*keys)
    await pilot.pause(wait)


SHOTS: dict[str, tuple[tuple[int, int], tuple[str, ...]]] = {
    "dashboard": ((160, 48), ()),
    "dashboard-80x24": ((80, 24), ()),
    "dashboard-7d-light": ((160, 48), ("3", "t")),
    "calls-browser": ((160, 48), ("c",)),
    "routing-editor": ((160, 48), ("e",)),
    "budgets": ((120, 36), ("b",)),
    "cost-check": ((160, 40), ("h",)),
    "help": ((120, 36), ("question_mark",)),
}


async def shoot(name: str, size: tuple[int, int], keys: tuple[str, ...], root: Path) -> Path:
    """Render one screenshot."""
    session = demo_session(root / name, calls=20_000, now=FROZEN_NOW, seed=1)
    prefs = UserSettings(daily_budget_usd=4.0, monthly_budget_usd=400.0)
    app = make_app(
        session.settings, session.api, session.store, clock=lambda: FROZEN_NOW, prefs=prefs
    )
    target = OUT / f"{name}.svg"
    async with app.run_test(size=size) as pilot:
        await _settle(pilot, app)
        if keys:
            await _keys(pilot, *keys)
            app.clear_notifications()
            await pilot.pause(0.2)
        app.save_screenshot(str(target))
    session.close()
    return target


async def main(names: list[str]) -> None:
    """Render the named shots (all by default)."""
    OUT.mkdir(exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="hermes-dash-shots-"))
    try:
        for name in names or list(SHOTS):
            size, keys = SHOTS[name]
            print(await shoot(name, size, keys, root))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help=f"which shots (default all): {', '.join(SHOTS)}")
    asyncio.run(main(parser.parse_args().names))
