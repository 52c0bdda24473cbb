"""Everything ``--demo`` runs on: a generated Hermes home, the fake OpenRouter, the feed.

The app built from these parts is the real app; only the data and the transport are fake.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from hermes_dash.calllog.store import CallStore
from hermes_dash.demo.fake_openrouter import DemoOpenRouter
from hermes_dash.demo.home import make_demo_home
from hermes_dash.demo.live import DemoFeed
from hermes_dash.hermes.paths import HermesPaths, Secrets
from hermes_dash.openrouter.client import OpenRouterClient
from hermes_dash.services.settings import DashSettings

#: A key-shaped placeholder: the fake transport ignores it, the screens show it masked.
DEMO_KEY = "sk-or-v1-demo0000000000000000000000000000000000000000000000000000d3m0"
DEMO_REFRESH_S = 5.0
#: The demo's throwaway folders in the temp dir; each holds the pid of the run that owns it.
TEMP_PREFIX = "hermes-dash-demo-"
OWNER_FILE = "owner.pid"


@dataclass
class DemoSession:
    """The parts of a demo run."""

    settings: DashSettings
    api: OpenRouterClient
    store: CallStore
    server: DemoOpenRouter
    feed: DemoFeed
    temp_root: Path | None = None
    """A folder made for this run (removed by :meth:`close`); None for a caller's folder."""

    def close(self) -> None:
        """Stop the feed, close the log and remove the run's temp folder (about 10 MB)."""
        self.feed.stop()
        self.store.close()
        if self.temp_root is not None:
            shutil.rmtree(self.temp_root, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def sweep_leftovers(tmp: Path | None = None) -> int:
    """Remove demo folders left by runs that were killed before they could clean up
    (SIGKILL, a power cut); returns how many. Folders of running demos stay."""
    removed = 0
    for folder in Path(tmp or tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*"):
        try:
            if not folder.is_dir() or folder.is_symlink() or folder.stat().st_uid != os.getuid():
                continue
            pid = int((folder / OWNER_FILE).read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            continue  # not ours, or still being set up
        if not _alive(pid):
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


def make_temp_root() -> Path:
    """A fresh temp folder for one demo run, marked with this process's pid."""
    with contextlib.suppress(OSError):
        sweep_leftovers()
    root = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX))
    (root / OWNER_FILE).write_text(str(os.getpid()), encoding="ascii")
    return root


def demo_session(
    root: Path | None = None, *, calls: int = 30_000, now: float | None = None, seed: int = 1
) -> DemoSession:
    """Generate the demo home and wire the fake OpenRouter to it (feed not started).
    Without ``root`` the data goes to a temp folder that the session's ``close`` removes
    (so does an interrupted set-up)."""
    if root is None:
        temp_root = make_temp_root()
        try:
            session = demo_session(temp_root, calls=calls, now=now, seed=seed)
        except BaseException:
            shutil.rmtree(temp_root, ignore_errors=True)
            raise
        return replace(session, temp_root=temp_root)
    paths = make_demo_home(root, calls=calls, seed=seed, now=time.time() if now is None else now)
    return open_demo_session(paths, now=now, seed=seed)


def open_demo_session(
    paths: HermesPaths, *, now: float | None = None, seed: int = 1
) -> DemoSession:
    """Wire the fake OpenRouter to a demo home made before (feed not started): tests copy
    one generated home instead of generating the same data again."""
    clock = time.time if now is None else (lambda: now)
    settings = replace(
        DashSettings(paths=paths, db_path=paths.call_log, refresh_s=DEMO_REFRESH_S, demo=True),
        secrets=Secrets(DEMO_KEY, None),
        user_settings_path=paths.dash_dir / "settings.json",
    )
    server = DemoOpenRouter(paths.call_log, clock=clock)
    api = OpenRouterClient(DEMO_KEY, base_url=settings.openrouter_url, transport=server.transport)
    return DemoSession(settings, api, CallStore(paths.call_log), server, DemoFeed(seed + 1))
