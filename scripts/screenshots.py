"""Regenerate every SVG in screenshots/ from demo data: ``python scripts/screenshots.py``.

The app renders itself (Textual's own SVG export) on frozen demo data, with the demo's
placeholder key: no real key can reach a screenshot.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
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
from tests.tui_helpers import (  # noqa: E402
    first_run_settled,
    tables_settled,
    wait_for,
    wait_for_screen,
    wait_for_workers,
)

OUT = ROOT / "screenshots"


SHOTS: dict[str, tuple[tuple[int, int], tuple[str, ...]]] = {
    "dashboard": ((160, 48), ()),
    "dashboard-80x24": ((80, 24), ()),
    "dashboard-7d-light": ((160, 48), ("3", "t")),
    "calls-browser": ((160, 48), ("c",)),
    "routing-editor": ((160, 48), ("e",)),
    "routing-changes": ((160, 32), ("e", "ctrl+o")),
    "budgets": ((120, 36), ("b",)),
    "cost-check": ((160, 40), ("h",)),
    "help": ((120, 36), ("question_mark",)),
    "cost-by-source": ((140, 40), ("o", "enter")),
    "key-limits": ((150, 30), ()),
    "account": ((140, 40), ()),
    "fleet": ((160, 48), ()),
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
            # A screen's loads done and its tables measured: never a half-drawn picture.
            await wait_for_workers(pilot)
            await wait_for(pilot, lambda: tables_settled(pilot), "the tables' column widths")
            app.clear_notifications()
            await pilot.pause(0.2)
        app.save_screenshot(str(target))
    session.close()
    return target


async def shoot_fleet(size: tuple[int, int], root: Path, out: Path) -> Path:
    """``--prometheus``: a real Prometheus (Debian's, when installed) scraping two
    exporters over two demo logs, shown over every host for the logs' whole totals."""
    import re
    import socket
    import subprocess
    import sys

    import httpx

    from hermes_dash.calllog.store import CallStore
    from hermes_dash.demo.generator import generate
    from hermes_dash.tui.fleet import make_fleet_app

    if not Path("/usr/bin/prometheus").exists():
        raise SystemExit(
            "the fleet screenshot needs /usr/bin/prometheus (apt-get install prometheus)"
        )
    procs: list[subprocess.Popen[str]] = []
    try:
        targets = []
        for seed, (host, n) in enumerate((("gateway", 12_000), ("laptop", 5_000)), start=1):
            db = root / f"{host}.db"
            store = CallStore(db)
            generate(store, n, seed=seed, days=7)
            store.close()
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "hermes_dash",
                    "metrics",
                    "--db",
                    str(db),
                    "--listen",
                    "127.0.0.1:0",
                ],
                stderr=subprocess.PIPE,
                text=True,
                env={**os.environ, "HERMES_HOME": str(root)},
            )
            procs.append(proc)
            assert proc.stderr is not None
            m = re.search(r"http://(\S+)/metrics", proc.stderr.readline())
            assert m, "the exporter did not start"
            targets.append(f"{{targets: ['{m.group(1)}'], labels: {{host: {host}}}}}")
        config = root / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s}\nscrape_configs:\n"
            f"  - job_name: hermes-dash\n    static_configs: [{', '.join(targets)}]\n"
        )
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        procs.append(
            subprocess.Popen(
                [
                    "/usr/bin/prometheus",
                    f"--config.file={config}",
                    f"--storage.tsdb.path={root / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                r = httpx.get(f"{url}/api/v1/query", params={"query": "hermes_dash_calllog_up"})
                if len(r.json()["data"]["result"]) == 2:
                    break
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            time.sleep(0.5)
        app = make_fleet_app(url, window="all", refresh_s=3600)
        target = out / "fleet.svg"
        async with app.run_test(size=size) as pilot:
            while app.last is None:
                await pilot.pause(0.1)
            await pilot.pause(0.8)
            app.clear_notifications()
            app.save_screenshot(str(target))
        return target
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(30)


#: A new user's dashboard in each first-run state (see hermes_dash.demo.firstrun); the
#: last one with the install confirmation open (key ``i``).
FIRST_RUN_SHOTS: dict[str, tuple[str, tuple[int, int], tuple[str, ...]]] = {
    "first-run-no-home": ("no-home", (160, 48), ()),
    "first-run-no-key": ("no-key", (160, 48), ()),
    "first-run-not-installed": ("not-installed", (160, 48), ()),
    "first-run-not-enabled": ("not-enabled", (160, 48), ()),
    "first-run-idle": ("idle", (160, 48), ()),
    "first-run-80x24": ("not-installed", (80, 24), ()),
    "first-run-install": ("not-installed", (160, 48), ("i",)),
}


async def shoot_first_run(
    name: str, state: str, size: tuple[int, int], keys: tuple[str, ...], out: Path
) -> Path:
    """Render one first-run screenshot. The home sits in a fixed folder: its path is on
    screen (in the fix commands), and should read the same on every run."""
    from hermes_dash.demo.firstrun import first_run_session
    from hermes_dash.tui.app import make_app
    from hermes_dash.tui.screens.dialogs import ConfirmDiff
    from tests.frozen import FROZEN_NOW

    root = Path(tempfile.gettempdir()) / "hermes-dash-first-run" / name
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    session = first_run_session(root, state, FROZEN_NOW)
    # As for a user whose HERMES_HOME is that home: the fixes read as they would for them.
    os.environ["HERMES_HOME"] = str(session.settings.paths.home)
    app = make_app(
        session.settings,
        session.api,
        session.store,
        clock=lambda: FROZEN_NOW,
        prefs=UserSettings(),
    )
    target = out / f"{name}.svg"
    async with app.run_test(size=size) as pilot:
        # The same state the first-run snapshots wait for: the checks, the first read and
        # poll, and the status line's recorder state are on screen.
        await wait_for(pilot, lambda: first_run_settled(app), "the first run to settle")
        if keys:
            await pilot.press(*keys)
            await wait_for_screen(pilot, ConfirmDiff)
        app.clear_notifications()
        await pilot.pause()
        app.save_screenshot(str(target))
    session.close()
    shutil.rmtree(root, ignore_errors=True)
    return target


async def main(names: list[str], out: Path = OUT) -> None:
    """Render the named shots (all by default)."""
    out.mkdir(exist_ok=True)
    # Fixed folders (their paths are on screen, so every run draws the same), held under
    # a lock for the whole run: two runs at once (two clones' tests) take turns.
    lock = open(Path(tempfile.gettempdir()) / "hermes-dash-shots.lock", "w")  # noqa: SIM115
    fcntl.flock(lock, fcntl.LOCK_EX)
    root = Path(tempfile.gettempdir()) / "hermes-dash-shots"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    try:
        for name in names or [*SHOTS, *FIRST_RUN_SHOTS]:
            if name in FIRST_RUN_SHOTS:
                state, size, keys = FIRST_RUN_SHOTS[name]
                print(await shoot_first_run(name, state, size, keys, out))
                continue
            size, keys = SHOTS[name]
            if name == "fleet":
                print(await shoot_fleet(size, root, out))
                continue
            print(await shoot(name, size, keys, root, out))
    finally:
        shutil.rmtree(root, ignore_errors=True)
        lock.close()


if __name__ == "__main__":
    # Overnight spend is counted in local time: pin it, so every machine draws the same.
    os.environ["TZ"] = "UTC"
    time.tzset()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "names",
        nargs="*",
        help=f"which shots (default all): {', '.join([*SHOTS, *FIRST_RUN_SHOTS])}",
    )
    parser.add_argument(
        "--out", type=Path, default=OUT, help="folder for the SVGs (default screenshots/)"
    )
    args = parser.parse_args()
    asyncio.run(main(args.names, args.out))
