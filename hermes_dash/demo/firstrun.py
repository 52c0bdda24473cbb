"""Hermes homes in each first-run state (no home, no key, recorder missing, not enabled,
idle), wired to the fake OpenRouter: for the screenshots and tests of the empty states."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from hermes_dash.calllog.store import CallStore
from hermes_dash.demo.fake_openrouter import DemoOpenRouter
from hermes_dash.demo.live import DemoFeed
from hermes_dash.demo.session import DEMO_KEY, DemoSession
from hermes_dash.hermes.paths import HermesPaths, Secrets
from hermes_dash.services.plugin import install
from hermes_dash.services.settings import DashSettings

#: A config.yaml as a new user has it: Hermes' model settings, no plugins yet.
FIRST_CONFIG = """\
# Hermes Agent configuration
model:
  default: deepseek/deepseek-chat-v3.1
  provider: openrouter
  base_url: https://openrouter.ai/api/v1
"""

#: Every state, in the order a new user meets them.
STATES = ("no-home", "no-key", "not-installed", "not-enabled", "idle")


def first_run_session(root: Path, state: str, now: float) -> DemoSession:
    """A session whose Hermes home is in ``state`` (one of :data:`STATES`); the call log
    is empty (for ``no-home`` it lives outside the home, as with ``--db``)."""
    if state not in STATES:
        raise ValueError(f"unknown first-run state {state!r}")
    paths = HermesPaths(root / ("missing-home" if state == "no-home" else "hermes"))
    db_path = root / "calls.db" if state == "no-home" else paths.call_log
    if state != "no-home":
        paths.home.mkdir(parents=True, exist_ok=True)
        paths.config.write_text(FIRST_CONFIG, encoding="utf-8")
        os.chmod(paths.config, 0o600)
    if state in ("not-enabled", "idle"):
        install(paths)
    if state == "not-enabled":
        paths.config.write_text(FIRST_CONFIG, encoding="utf-8")
    db_path.parent.mkdir(parents=True, exist_ok=True)
    store = CallStore(db_path)
    key = None if state == "no-key" else DEMO_KEY
    settings = replace(
        DashSettings(paths=paths, db_path=db_path, demo=True),
        secrets=Secrets(key, None),
        user_settings_path=root / "settings.json",
    )
    server = DemoOpenRouter(db_path, clock=lambda: now)
    from hermes_dash.openrouter.client import OpenRouterClient

    api = OpenRouterClient(key, base_url=settings.openrouter_url, transport=server.transport)
    return DemoSession(settings, api, store, server, DemoFeed(1))
