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
from hermes_dash.routing.history import RoutingHistory, history_path
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
    end = time.time() if now is None else now
    store = CallStore(paths.call_log)
    generate(store, calls, seed=seed, days=30, now=end)
    store.close()
    write_demo_history(paths, end)
    recorder.configure(str(paths.call_log))
    return paths


def write_demo_history(paths: HermesPaths, now: float) -> None:
    """Two recorded changes of the demo's routing, back where DEMO_CONFIG has it, so the
    changes view has something to compare."""
    history = RoutingHistory(history_path(paths.call_log))
    day = 86400.0
    os.utime(paths.config, (now - 20 * day, now - 20 * day))
    history.sync(paths.config)  # the first block seen: the baseline
    by_price = {"sort": "price", "ignore": ["together"], "data_collection": "deny"}
    by_latency = {**by_price, "sort": "latency"}
    history.record(paths.config, by_price, by_latency, "editor", now - 6 * day)
    history.record(paths.config, by_latency, by_price, "routing set", now - 2 * day)
    os.utime(paths.config, (now - 2 * day, now - 2 * day))
