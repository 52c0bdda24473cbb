"""End to end with a real Hermes Agent (hermes-agent 0.19.0 from PyPI).

The test installs Hermes into its own virtual environment (cached between runs under
``~/.cache/hermes-dash/e2e``, or ``$HERMES_DASH_E2E_CACHE``), points a temporary
HERMES_HOME at a local OpenAI-compatible server that rate limits the first call, installs
the recorder with ``hermes-dash plugin install``, runs ``hermes -z`` and reads the log.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import venv
from pathlib import Path

import pytest
import yaml

from .openai_server import MODEL, USAGE, OpenAIServer

HERMES_VERSION = "0.19.0"
pytestmark = pytest.mark.e2e


def _cache() -> Path:
    root = os.environ.get("HERMES_DASH_E2E_CACHE") or Path.home() / ".cache" / "hermes-dash" / "e2e"
    return Path(root) / f"hermes-agent-{HERMES_VERSION}"


@pytest.fixture(scope="session")
def hermes_bin() -> Path:
    """A virtualenv with hermes-agent installed, built once and reused."""
    root = _cache()
    exe = root / "bin" / "hermes"
    marker = root / ".installed"
    if not (exe.exists() and marker.exists()):
        venv.EnvBuilder(with_pip=True, clear=True).create(root)
        subprocess.run(
            [
                str(root / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "--quiet",
                f"hermes-agent=={HERMES_VERSION}",
            ],
            check=True,
            timeout=1500,
        )
        marker.write_text(HERMES_VERSION)
    return exe


def _dash(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hermes_dash", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_real_hermes_run_is_recorded(hermes_bin: Path, tmp_path: Path) -> None:
    home = tmp_path / "hermes-home"
    home.mkdir()
    with OpenAIServer(rate_limit_first=1) as server:
        (home / "config.yaml").write_text(
            "# end-to-end test config\n"
            "model:\n"
            f"  default: {MODEL}\n"
            "  provider: custom\n"
            f"  base_url: {server.base_url}\n"
            "  api_key: sk-e2e-local   # the local server ignores it\n"
        )
        env = {**os.environ, "HERMES_HOME": str(home)}
        env.pop("HERMES_DASH_DB", None)
        r = _dash("plugin", "install", env=env)
        assert r.returncode == 0, r.stderr
        assert (
            "hermes-dash-recorder"
            in yaml.safe_load((home / "config.yaml").read_text())["plugins"]["enabled"]
        )
        run = subprocess.run(
            [str(hermes_bin), "-z", "Say hello."],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=300,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        assert "Hello from the e2e server." in run.stdout
        assert server.completions >= 2

    db = home / "hermes-dash" / "calls.db"
    rows = (
        sqlite3.connect(db)
        .execute(
            "SELECT provider, model, status, http_status, error_reason, latency_s, input_tokens, "
            "output_tokens, base_url_host FROM calls ORDER BY id"
        )
        .fetchall()
    )
    limited = [r for r in rows if r[3] == 429]
    ok = [r for r in rows if r[2] == "ok"]
    assert len(limited) == 1 and limited[0][2] == "error" and limited[0][4] == "rate_limit"
    assert len(ok) == 1
    provider, model, _, status, _, latency, tin, tout, host = ok[0]
    assert (provider, model, status, host) == ("custom", MODEL, 200, "127.0.0.1")
    assert tin == USAGE["prompt_tokens"] and tout == USAGE["completion_tokens"]
    assert latency is not None and 0 < latency < 60

    r = _dash("summary", "--json", "--offline", env=env)
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["calls"]["total"] == 2 and s["calls"]["rate_limited"] == 1
    [prov] = s["providers"]
    assert prov["provider"] == "custom" and prov["calls"] == 2 and prov["rate_limited"] == 1
    assert prov["latency_p50_s"] == pytest.approx(latency, rel=0.06)
    r = _dash("plugin", "status", env=env)
    assert "receiving rows" in r.stdout and "same as" in r.stdout

    # Cost by source over the real run's rows adds up to the window.
    r = _dash("summary", "--json", "--offline", "--by", "source", env=env)
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    parts = s["breakdown"]
    assert parts and sum(p["attempts"] for p in parts) == s["calls"]["total"]
    assert sum(p["rate_limited"] for p in parts) == s["calls"]["rate_limited"] == 1
    assert sum(p["cost_usd"] for p in parts) == pytest.approx(s["calls"]["cost_usd"])


def test_hermes_reads_the_routing_we_write(hermes_bin: Path, tmp_path: Path) -> None:
    """Hermes' own config loader reads back the provider_routing block as intended."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.yaml").write_text("# mine\nmodel:\n  default: a/b   # keep\n")
    env = {**os.environ, "HERMES_HOME": str(home)}
    r = _dash(
        "routing",
        "set",
        "--sort",
        "throughput",
        "--ignore",
        "deepinfra,together",
        "--order",
        "fireworks",
        "--require-parameters",
        "--data-collection",
        "deny",
        env=env,
    )
    assert r.returncode == 0, r.stderr
    probe = (
        "import json; from hermes_cli.config import load_config; "
        "print(json.dumps(load_config().get('provider_routing')))"
    )
    python = hermes_bin.parent / "python"
    out = subprocess.run(
        [str(python), "-c", probe],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {
        "sort": "throughput",
        "ignore": ["deepinfra", "together"],
        "order": ["fireworks"],
        "require_parameters": True,
        "data_collection": "deny",
    }
