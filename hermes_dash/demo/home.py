"""A throwaway Hermes home for ``--demo``: config.yaml with comments, a call log."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from hermes_dash.calllog import recorder
from hermes_dash.calllog.store import CallStore
from hermes_dash.demo.generator import generate
from hermes_dash.hermes.paths import HermesPaths
from hermes_dash.services.plugin import install

DEMO_CONFIG = """\
# Hermes Agent configuration (hermes-dash demo)
model:
  default: deepseek/deepseek-chat-v3.1   # the model most cron jobs use
  provider: openrouter
  base_url: https://openrouter.ai/api/v1

# Where OpenRouter may send our calls.
provider_routing:
  sort: price
  ignore: [together]        # flaky last week
  data_collection: deny

plugins:
  enabled:
    - hermes-dash-recorder

agent:
  max_turns: 60
"""


def make_demo_home(
    root: Path | None = None, *, calls: int = 30_000, seed: int = 1, now: float | None = None
) -> HermesPaths:
    """Create the home, its config and a call log of ``calls`` rows over 30 days."""
    base = Path(root) if root else Path(tempfile.mkdtemp(prefix="hermes-dash-demo-"))
    paths = HermesPaths(base / "hermes")
    paths.home.mkdir(parents=True, exist_ok=True)
    paths.config.write_text(DEMO_CONFIG, encoding="utf-8")
    os.chmod(paths.config, 0o600)
    install(paths)  # the real recorder, copied in as `plugin install` does
    store = CallStore(paths.call_log)
    generate(store, calls, seed=seed, days=30, now=time.time() if now is None else now)
    store.close()
    recorder.configure(str(paths.call_log))
    return paths
