"""The wire scenarios' harness: run a real Hermes against the OpenRouter simulator.

A run installs the recorder into a fresh HERMES_HOME, runs Hermes (the CLI, or the
gateway-style driver) against ``OpenRouterSim``, then reads the call log and runs
``hermes-dash summary --json`` as a process pointed at the same server: no TUI ever runs.
``assert_reconciles`` holds the log and the summary to the server's own log and bill.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .openrouter_sim import MODEL as SIM_MODEL
from .openrouter_sim import OpenRouterSim, Request

SIM_KEY = "sk-or-v1-e2e0000000000000000000000000000000000000000000000000000sim"
DRIVER = Path(__file__).with_name("hermes_gateway_driver.py")


@dataclass
class WireRun:
    """What one Hermes run left behind: the servers' truth and our log and summary."""

    requests: list[Request]  # every model request the servers received
    billed: float
    rows: list[dict[str, Any]]
    summary: dict[str, Any]
    output: str


def hermes_config(sim: OpenRouterSim) -> str:
    """config.yaml for a run: OpenRouter as provider, auxiliary tasks sent to the server."""
    aux = f'    base_url: "{sim.base_url}"\n    api_key: {SIM_KEY}\n    model: {SIM_MODEL}\n'
    return (
        "# end-to-end test config\n"
        f"model:\n  default: {SIM_MODEL}\n  provider: openrouter\n"
        # Auxiliary tasks dial openrouter.ai unless pointed elsewhere per task.
        f"auxiliary:\n  compression:\n{aux}  title_generation:\n{aux}"
        # A tail budget small enough that the short test conversation can be compressed.
        "compression:\n  protect_first_n: 1\n  protect_last_n: 2\n  target_ratio: 0.01\n"
    )


def wire_run(
    hermes: list[list[str]],
    home: Path,
    sim: OpenRouterSim,
    local: OpenRouterSim | None = None,
    refused: bool = False,
) -> WireRun:
    """Install the recorder, run Hermes (each command in turn: all succeed, or with
    ``refused`` all end in the server's refusal), then read the log and the summary."""
    home.mkdir(parents=True)
    (home / "config.yaml").write_text(hermes_config(sim))
    env = {
        **os.environ,
        "HERMES_HOME": str(home),
        "OPENROUTER_BASE_URL": sim.base_url,
        "OPENROUTER_API_KEY": SIM_KEY,
        "HERMES_DASH_OPENROUTER_URL": sim.base_url,
    }
    env.pop("HERMES_DASH_DB", None)
    r = dash("plugin", "install", env=env)
    assert r.returncode == 0, r.stderr
    output = ""
    for command in hermes:
        run = subprocess.run(
            command, capture_output=True, text=True, env=env, cwd=home.parent, timeout=300
        )
        assert (run.returncode != 0) == refused, run.stdout + run.stderr
        output += run.stdout
    r = dash("summary", "--json", "--window", "1h", env=env)
    assert r.returncode == 0, r.stderr
    assert SIM_KEY not in r.stdout + r.stderr
    conn = sqlite3.connect(f"file:{home / 'hermes-dash' / 'calls.db'}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    rows = [dict(x) for x in conn.execute("SELECT * FROM calls ORDER BY started_at, id")]
    conn.close()
    servers = [sim] if local is None else [sim, local]
    return WireRun(
        requests=[q for s in servers for q in s.chat_requests()],
        billed=sim.billed(),
        rows=rows,
        summary=json.loads(r.stdout),
        output=output,
    )


def gen(generation_id: Any) -> str | None:
    return (
        generation_id
        if isinstance(generation_id, str) and generation_id.startswith("gen-")
        else None
    )


def assert_reconciles(run: WireRun) -> None:
    """One log attempt per server request, ids and upstreams filled, cost within 1 %."""
    detail = json.dumps({"server": [vars(q) for q in run.requests], "log": run.rows}, default=str)
    served = Counter((q.status, gen(q.generation_id)) for q in run.requests)
    logged = Counter((row["http_status"], gen(row["generation_id"])) for row in run.rows)
    assert logged == served, f"log != server requests: {detail}"
    by_id = {row["generation_id"]: row for row in run.rows if gen(row["generation_id"])}
    for q in run.requests:
        if q.upstream and q.status == 200 and q.fault in ("ok", "length"):
            row = by_id[q.generation_id]
            assert row["upstream"] == q.upstream, detail
            assert row["cost_source"] == "openrouter" and row["cost_usd"] == q.cost, detail
            # Tokens as the wire reports them: the full prompt, cache reads included.
            tokens = ("input_tokens", "cache_read_tokens", "output_tokens", "reasoning_tokens")
            served_tokens = (q.prompt_tokens, q.cached_tokens, q.completion_tokens)
            assert tuple(row[k] for k in tokens) == (*served_tokens, q.reasoning_tokens)
    calls = run.summary["calls"]
    assert calls["attempts"] == len(run.requests), run.summary
    assert calls["cost_usd"] == pytest.approx(run.billed, rel=0.01), (run.billed, run.summary)
    assert run.summary["account"]["usage"] == pytest.approx(run.billed, rel=1e-6)


def dash(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``hermes-dash ARGS`` as a process, the way a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "hermes_dash", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
