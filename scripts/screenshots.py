"""Regenerate every SVG in screenshots/ from demo data: ``python scripts/screenshots.py``.

The app renders itself (Textual's own SVG export) on frozen demo data, with the demo's
placeholder key: no real key can reach a screenshot.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The frozen app is a test fixture (tests/frozen.py), not part of the product: the
# screenshots and the snapshot tests draw the same pictures from the same code.
sys.path.insert(0, str(ROOT))

from hermes_dash.demo.session import DemoSession  # noqa: E402
from hermes_dash.services.settings import UserSettings  # noqa: E402
from hermes_dash.tui.app import HermesDashApp  # noqa: E402
from tests.frozen import frozen_app, frozen_session, settle  # noqa: E402

OUT = ROOT / "screenshots"


SHOTS: dict[str, tuple[tuple[int, int], tuple[str, ...]]] = {
    "dashboard": ((160, 48), ()),
    "dashboard-80x24": ((80, 24), ()),
    "dashboard-7d-light": ((160, 48), ("3", "t")),
    "calls-browser": ((160, 48), ("c",)),
    "routing-editor": ((160, 48), ("e",)),
    "budgets": ((120, 36), ("b",)),
    "cost-check": ((160, 40), ("h",)),
    "help": ((120, 36), ("question_mark",)),
    "cost-by-source": ((140, 40), ("o", "enter")),
    "key-limits": ((150, 30), ()),
    "account": ((140, 40), ()),
}


def open_key_limits(session: DemoSession, app: HermesDashApp) -> None:
    """The key-limits screen on the demo's management API (the demo has no real key)."""
    from hermes_dash.openrouter.management import ManagementClient
    from hermes_dash.tui.screens.keys import KeyLimitsScreen

    client = ManagementClient(
        "demo-management-key",
        base_url=session.settings.openrouter_url,
        transport=session.server.transport(),
    )
    app.push_screen(KeyLimitsScreen(client, session.store, app.clock))


def open_account(session: DemoSession, app: HermesDashApp) -> None:
    """The account screen on the demo's management API."""
    from hermes_dash.openrouter.management import ManagementClient
    from hermes_dash.tui.screens.account import AccountScreen

    client = ManagementClient(
        "demo-management-key",
        base_url=session.settings.openrouter_url,
        transport=session.server.transport(),
    )
    app.push_screen(AccountScreen(client, session.store, app.clock))


async def shoot(
    name: str, size: tuple[int, int], keys: tuple[str, ...], root: Path, out: Path
) -> Path:
    """Render one screenshot."""
    session = frozen_session(root / name, calls=20_000)
    app = frozen_app(session, UserSettings(daily_budget_usd=4.0, monthly_budget_usd=400.0))
    target = out / f"{name}.svg"
    async with app.run_test(size=size) as pilot:
        await settle(pilot, app)
        if name == "key-limits":
            open_key_limits(session, app)
            await pilot.pause(0.8)
        if name == "account":
            open_account(session, app)
            await pilot.pause(0.8)
        if keys:
            await pilot.press(*keys)
            await pilot.pause(0.8)
            app.clear_notifications()
            await pilot.pause(0.2)
        app.save_screenshot(str(target))
    session.close()
    return target


async def main(names: list[str], out: Path = OUT) -> None:
    """Render the named shots (all by default)."""
    out.mkdir(exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="hermes-dash-shots-"))
    try:
        for name in names or list(SHOTS):
            size, keys = SHOTS[name]
            print(await shoot(name, size, keys, root, out))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    # Overnight spend is counted in local time: pin it, so every machine draws the same.
    os.environ["TZ"] = "UTC"
    time.tzset()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help=f"which shots (default all): {', '.join(SHOTS)}")
    parser.add_argument(
        "--out", type=Path, default=OUT, help="folder for the SVGs (default screenshots/)"
    )
    args = parser.parse_args()
    asyncio.run(main(args.names, args.out))
