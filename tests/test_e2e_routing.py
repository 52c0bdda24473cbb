"""End to end with a real Hermes Agent 0.19.0: a change made with ``routing set`` reaches
the ``provider`` field of the requests Hermes sends after it restarts (seen at the
OpenRouter simulator), and ``routing history`` puts every call on the right side of it.

Hermes is configured with its provider ``openrouter`` and ``OPENROUTER_BASE_URL`` pointing
at the local simulator, as in the other wire scenarios. Hermes 0.19 builds the request
body through its OpenRouter provider profile, which adds ``provider`` from
``provider_routing`` whatever the base URL's host; only providers without a profile fall
back to the host check (openrouter.ai). So the routing reaches the local server through
the same code path it takes to the real OpenRouter.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from .e2e_wire import SIM_KEY, dash, hermes_config
from .openrouter_sim import OpenRouterSim
from .test_e2e_hermes import hermes_bin  # noqa: F401  (the shared Hermes install)

pytestmark = pytest.mark.e2e

ROUTING = {"ignore": ["deepinfra"], "order": ["together"]}


def _chat(hermes: Path, env: dict[str, str], cwd: Path, prompt: str) -> None:
    run = subprocess.run(
        [str(hermes), "chat", "-Q", "-q", prompt],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_routing_set_reaches_the_wire_after_restart_and_history_splits_the_calls(
    hermes_bin: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    with OpenRouterSim() as sim:
        (home / "config.yaml").write_text(hermes_config(sim))
        env = {
            **os.environ,
            "HERMES_HOME": str(home),
            "OPENROUTER_BASE_URL": sim.base_url,
            "OPENROUTER_API_KEY": SIM_KEY,
            "HERMES_DASH_OPENROUTER_URL": sim.base_url,
        }
        env.pop("HERMES_DASH_DB", None)
        assert dash("plugin", "install", env=env).returncode == 0

        _chat(hermes_bin, env, tmp_path, "Before the change. [tools:1]")
        old = list(sim.chat_requests())
        r = dash("routing", "set", "--ignore", "deepinfra", "--order", "together", env=env)
        assert r.returncode == 0, r.stderr
        change_at = json.loads(dash("routing", "history", "--json", env=env).stdout)[0]["at"]
        # Hermes reads provider_routing when it starts: each run is a restart. Run until
        # the window after the change is as long as the one before needs to be to hold
        # the first run (the two sides of a change are equally long).
        for _ in range(4):
            _chat(hermes_bin, env, tmp_path, "After the change. [tools:1]")
            history = json.loads(dash("routing", "history", "--json", env=env).stdout)
            start = history[0]["figures"]["before"]["start"]
            if start <= _iso(min(q.started for q in old) - 1):
                break
        requests = sim.chat_requests()

    new = requests[len(old) :]
    # On the wire: no provider field before the change; after it, every main-loop request
    # carries the routing as written (auxiliary tasks do not use it, as in Hermes 0.19).
    assert old and all(q.provider is None for q in old)
    main = [q for q in new if q.kind == "main"]
    assert main and all(q.provider == ROUTING for q in main), [q.provider for q in new]
    assert {q.upstream for q in main} == {"Together"}
    assert all(q.provider is None for q in new if q.kind != "main")

    (change,) = history
    assert change["source"] == "routing set" and change["at"] == change_at
    assert change["after"] == ROUTING and change["before"] == {}
    figures = change["figures"]
    # Every call lands on its own side: the server's requests counted by upstream.
    assert figures["before"]["upstreams"] == dict(Counter(q.upstream for q in old))
    assert figures["after"]["upstreams"] == dict(Counter(q.upstream for q in new))
    assert figures["before"]["attempts"] == len(old)
    assert figures["after"]["attempts"] == len(new)
    # No Hermes process was left running with the old routing; what still reached the
    # ignored upstream after the change is the auxiliary tasks' (they ignore routing).
    shut_out = Counter(q.upstream for q in new if q.kind != "main" and q.upstream == "DeepInfra")
    assert change["excluded_after"] == dict(shut_out)
    assert (change["note"] is None) == (not shut_out)
    assert "not restarted" not in (change["note"] or "")


def _iso(t: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="seconds")
