"""Everything ``--demo`` runs on: a generated Hermes home, the fake OpenRouter, the feed.

The app built from these parts is the real app; only the data and the transport are fake.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

from hermes_dash.calllog.store import CallStore
from hermes_dash.demo.fake_openrouter import DemoOpenRouter
from hermes_dash.demo.home import make_demo_home
from hermes_dash.demo.live import DemoFeed
from hermes_dash.hermes.paths import Secrets
from hermes_dash.openrouter.client import OpenRouterClient
from hermes_dash.services.settings import DashSettings

#: A key-shaped placeholder: the fake transport ignores it, the screens show it masked.
DEMO_KEY = "sk-or-v1-demo0000000000000000000000000000000000000000000000000000d3m0"
DEMO_REFRESH_S = 5.0


@dataclass
class DemoSession:
    """The parts of a demo run."""

    settings: DashSettings
    api: OpenRouterClient
    store: CallStore
    server: DemoOpenRouter
    feed: DemoFeed

    def close(self) -> None:
        """Stop the feed and close the log."""
        self.feed.stop()
        self.store.close()


def demo_session(
    root: Path | None = None, *, calls: int = 30_000, now: float | None = None, seed: int = 1
) -> DemoSession:
    """Generate the demo home and wire the fake OpenRouter to it (feed not started)."""
    clock = time.time if now is None else (lambda: now)
    paths = make_demo_home(root, calls=calls, seed=seed, now=clock())
    settings = replace(
        DashSettings(paths=paths, db_path=paths.call_log, refresh_s=DEMO_REFRESH_S, demo=True),
        secrets=Secrets(DEMO_KEY, None),
        user_settings_path=paths.dash_dir / "settings.json",
    )
    server = DemoOpenRouter(paths.call_log, clock=clock)
    api = OpenRouterClient(DEMO_KEY, base_url=settings.openrouter_url, transport=server.transport)
    return DemoSession(settings, api, CallStore(paths.call_log), server, DemoFeed(seed + 1))
