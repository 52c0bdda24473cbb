"""End to end with a real Hermes Agent (hermes-agent 0.19.0 from PyPI).

The test installs Hermes into its own virtual environment (cached between runs under
``~/.cache/hermes-dash/e2e``, or ``$HERMES_DASH_E2E_CACHE``), points a temporary
HERMES_HOME at local servers, installs the recorder with ``hermes-dash plugin install``,
runs Hermes and reads the log.

The wire scenarios run Hermes against ``OpenRouterSim``, a server that answers and bills
like OpenRouter and keeps its own request log and bill: the ground truth. For each, the
call log must hold one attempt per request the server received, the generation id and
upstream of every OpenRouter success, and ``hermes-dash summary --json``, run as a process
pointed at the same server, must report the cost the server billed, within 1 %.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import subprocess
import venv
from collections import Counter
from pathlib import Path

import pytest
import yaml

from .e2e_wire import DRIVER, SIM_KEY, WireRun, assert_reconciles, dash, gen, wire_run
from .openai_server import MODEL, USAGE, OpenAIServer
from .openrouter_sim import MODEL as SIM_MODEL
from .openrouter_sim import REPLY, Meeting, OpenRouterSim

HERMES_VERSION = "0.19.0"
pytestmark = pytest.mark.e2e


def _cache() -> Path:
    root = os.environ.get("HERMES_DASH_E2E_CACHE") or Path.home() / ".cache" / "hermes-dash" / "e2e"
    return Path(root) / f"hermes-agent-{HERMES_VERSION}"


@pytest.fixture(scope="session")
def hermes_bin() -> Path:
    """A virtualenv with hermes-agent installed, built once and reused.

    Parallel test workers (and other clones on the machine) share the cache: the first to
    take the lock builds it while the others wait, then all of them use it."""
    root = _cache()
    exe = root / "bin" / "hermes"
    marker = root / ".installed"
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f"{root.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
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
        r = dash("plugin", "install", env=env)
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

    r = dash("summary", "--json", "--offline", env=env)
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    # One logical call: the 429 and its retry are two attempts of it.
    assert s["calls"]["total"] == 1 and s["calls"]["attempts"] == 2
    assert s["calls"]["rate_limited"] == 1
    [prov] = s["providers"]
    assert prov["provider"] == "custom" and prov["calls"] == 1 and prov["rate_limited"] == 1
    assert prov["latency_p50_s"] == pytest.approx(latency, rel=0.06)
    r = dash("plugin", "status", env=env)
    assert "receiving rows" in r.stdout and "same as" in r.stdout

    # Cost by source over the real run's rows adds up to the window.
    r = dash("summary", "--json", "--offline", "--by", "source", env=env)
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    parts = s["breakdown"]
    assert parts and sum(p["calls"] for p in parts) == s["calls"]["total"]
    assert sum(p["attempts"] for p in parts) == s["calls"]["attempts"]
    assert sum(p["rate_limited"] for p in parts) == s["calls"]["rate_limited"] == 1
    assert sum(p["cost_usd"] for p in parts) == pytest.approx(s["calls"]["cost_usd"])


def test_hermes_reads_the_routing_we_write(hermes_bin: Path, tmp_path: Path) -> None:
    """Hermes' own config loader reads back the provider_routing block as intended."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.yaml").write_text("# mine\nmodel:\n  default: a/b   # keep\n")
    env = {**os.environ, "HERMES_HOME": str(home)}
    r = dash(
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


# -- wire scenarios against a server that bills like OpenRouter ----------------------------

#: Main-loop answers, in order: a 429 then success; an upstream 429 and a 5xx then
#: success; a length finish (Hermes asks to continue); a stream cut mid-way and a 200
#: stream ending in an error chunk, then success.
RETRY_FAULTS = ["429", "ok", "429up", "500", "ok", "length", "ok", "cut", "errchunk", "ok"]


@pytest.fixture(scope="module")
def retries_run(hermes_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> WireRun:
    """A tool loop through 429s, a 5xx, a length finish and broken streams."""
    prompt = f"Make a plan. [tools:3] [faults:{','.join(RETRY_FAULTS)}]"
    with OpenRouterSim() as sim:
        home = tmp_path_factory.mktemp("retries") / "home"
        return wire_run([[str(hermes_bin), "chat", "-Q", "-q", prompt]], home, sim)


@pytest.fixture(scope="module")
def aux_run(hermes_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> WireRun:
    """A huge reported prompt (compression), then the iteration-limit summary."""
    prompt = "Make a long plan. [tools:9] [prompt_tokens:230000]"
    with OpenRouterSim() as sim:
        home = tmp_path_factory.mktemp("aux") / "home"
        hermes = [str(hermes_bin), "chat", "-Q", "--max-turns", "5", "-q", prompt]
        return wire_run([hermes], home, sim)


@pytest.fixture(scope="module")
def refusals_run(hermes_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> WireRun:
    """A 400 after a paid tool call, then a 402 (key limit): Hermes gives up on both."""
    with OpenRouterSim() as sim:
        home = tmp_path_factory.mktemp("refusals") / "home"
        hermes = [
            [str(hermes_bin), "chat", "-Q", "-q", f"Do it. [tools:1] [faults:{faults}]"]
            for faults in ("ok,400", "402")
        ]
        return wire_run(hermes, home, sim, refused=True)


@pytest.fixture(scope="module")
def gateway_run(hermes_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> WireRun:
    """Three turns at once in one process, two on OpenRouter and one on a local backend."""
    meeting = Meeting(3)
    with OpenRouterSim(meeting=meeting) as sim, OpenRouterSim(False, meeting=meeting) as local:
        root = tmp_path_factory.mktemp("gateway")
        turns = [
            ("openrouter", sim, "Chat one. [tools:2] [meet:gw] [faults:ok,429]"),
            ("openrouter", sim, "Chat two. [tools:2] [meet:gw]"),
            ("custom", local, "Chat three. [tools:2] [meet:gw]"),
        ]
        spec = [
            {
                "model": SIM_MODEL if provider == "openrouter" else "local-model",
                "provider": provider,
                "base_url": server.base_url,
                "api_key": SIM_KEY if provider == "openrouter" else "sk-local",
                "prompt": prompt,
                "session_id": f"gw-{i}",
                "platform": "telegram",
            }
            for i, (provider, server, prompt) in enumerate(turns, 1)
        ]
        (root / "spec.json").write_text(json.dumps(spec))
        python = str(hermes_bin.parent / "python")
        run = wire_run([[python, str(DRIVER), str(root / "spec.json")]], root / "home", sim, local)
        assert meeting.met, "the three turns never were in flight together"
        return run


def test_tool_loop_with_429_5xx_length_and_cut_streams(retries_run: WireRun) -> None:
    served = retries_run.requests
    # Hermes really went through every scripted answer, then finished the tool loop.
    assert [q.fault for q in served][: len(RETRY_FAULTS)] == RETRY_FAULTS
    assert served[-1].finish_reason == "stop"
    # The recorder tees streams: Hermes still got every answer whole.
    assert REPLY in retries_run.output
    assert_reconciles(retries_run)
    # One request at a time here, so the log's attempts line up with the server's in order.
    rows = retries_run.rows
    assert [(r["http_status"], gen(r["generation_id"])) for r in rows] == [
        (q.status, gen(q.generation_id)) for q in served
    ]
    by_fault = {q.fault: row for q, row in zip(served, rows, strict=True) if q.fault != "ok"}
    cut_cost = next(q.cost for q in served if q.fault == "cut")
    limited, upstream_limited, failed = by_fault["429"], by_fault["429up"], by_fault["500"]
    assert (limited["retry_after_s"], limited["ratelimit_limit"]) == (1.0, 20)
    assert limited["ratelimit_remaining"] == 0 and limited["error_provider"] is None
    assert upstream_limited["error_provider"] == "DeepInfra"
    assert failed["status"] == "error" and failed["error_code"] == "500"
    assert by_fault["length"]["finish_reason"] == "length"
    assert by_fault["cut"]["status"] == by_fault["errchunk"]["status"] == "error"
    # A cut or failed stream is billed for what was generated, and the log says so.
    assert by_fault["cut"]["cost_usd"] == pytest.approx(cut_cost)
    # 429 -> ok and 429up -> 500 -> ok are retries of one call each: linked attempts,
    # with the backoff apart from the wire time.
    first, second = rows[0:2], rows[2:5]
    for attempts in (first, second):
        assert len({r["call_key"] for r in attempts}) == 1
        assert [r["attempt"] for r in attempts] == list(range(1, len(attempts) + 1))
        assert attempts[-1]["latency_s"] < attempts[-1]["wait_s"]
    assert first[1]["wait_s"] >= 0.9  # Hermes honoured Retry-After: 1
    assert retries_run.summary["calls"]["rate_limited"] == 2


def test_compression_and_iteration_limit_summary(aux_run: WireRun) -> None:
    kinds = Counter(q.kind for q in aux_run.requests)
    assert kinds["aux"] == 1 and kinds["summary"] == 1, kinds
    assert "Reached maximum iterations" in aux_run.output and REPLY in aux_run.output
    assert_reconciles(aux_run)
    [compression] = [q for q in aux_run.requests if q.kind == "aux"]
    [row] = [r for r in aux_run.rows if r["generation_id"] == compression.generation_id]
    assert row["task"] == "compression"


def test_400_and_402_refusals(refusals_run: WireRun) -> None:
    assert [q.fault for q in refusals_run.requests] == ["ok", "400", "402"]
    assert "HTTP 402" in refusals_run.output
    assert_reconciles(refusals_run)
    _, bad, limited = refusals_run.rows
    assert (bad["status"], bad["http_status"], bad["cost_source"]) == ("error", 400, "none")
    assert limited["limit_source"] == "openrouter_key_limit"
    calls = refusals_run.summary["calls"]
    assert (calls["errors"], calls["rate_limited"]) == (2, 0)


def test_gateway_turns_at_once_beside_a_local_backend(gateway_run: WireRun) -> None:
    local = [q for q in gateway_run.requests if q.upstream is None and q.status == 200]
    assert len(local) == 3 and all(q.cost == 0 for q in local)
    assert json.loads(gateway_run.output) == [REPLY] * 3
    assert_reconciles(gateway_run)
    # Each attempt is credited to the conversation (thread) that made it.
    for i, text in enumerate(("Chat one.", "Chat two.", "Chat three."), 1):
        sent = [q for q in gateway_run.requests if q.conversation.startswith(text)]
        logged = [r for r in gateway_run.rows if r["session_id"] == f"gw-{i}"]
        assert sorted((q.status, gen(q.generation_id)) for q in sent) == sorted(
            (r["http_status"], gen(r["generation_id"])) for r in logged
        )
        assert {r["platform"] for r in logged} == {"telegram"}
    # The local backend is its own endpoint, not mixed into OpenRouter's.
    endpoints: dict[str, set[str]] = {r["provider"]: set() for r in gateway_run.rows}
    for r in gateway_run.rows:
        endpoints[r["provider"]].add(r["endpoint"])
    assert len(endpoints["custom"]) == len(endpoints["openrouter"]) == 1
    assert endpoints["custom"] != endpoints["openrouter"]
    [custom] = [p for p in gateway_run.summary["providers"] if p["provider"] == "custom"]
    assert custom["calls"] == 3 and not custom["cost_usd"]
