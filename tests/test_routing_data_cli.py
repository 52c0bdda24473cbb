"""``routing suggest`` and ``routing history`` through a real CLI process: the scorecard
and drafts of a seeded log, and every change of provider_routing recorded (ours and by
hand) with the calls before and after it on the right side."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hermes_dash.calllog.store import CallStore
from hermes_dash.routing.history import HISTORY_NAME, RoutingHistory

from .conftest import call

MODEL = "deepseek/deepseek-chat-v3.1"
CONFIG = f"# my config\nmodel:\n  default: {MODEL}\n  provider: openrouter\n"


def run(
    *args: str, home: Path, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HERMES_HOME": str(home), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "hermes_dash", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "hermes"
    (home / "hermes-dash").mkdir(parents=True)
    (home / "config.yaml").write_text(CONFIG)
    return home


def test_suggest_prints_the_scorecard_and_drafts_of_a_seeded_log(home: Path) -> None:
    db = home / "hermes-dash" / "calls.db"
    # Six days of calls inside a 7 d window: the seconds between two runs move the window's
    # start, never past a call, so both runs read the same rows.
    r = run("demo", "--generate", "20000", "--db", str(db), "--seed", "7", "--days", "6", home=home)
    assert r.returncode == 0, r.stderr
    r = run("routing", "suggest", "--json", "--offline", "--window", "7d", home=home)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["model"] == MODEL and out["window"] == "7d" and out["published_available"] is False
    names = [u["upstream"] for u in out["upstreams"]]
    assert names[:3] == ["DeepInfra", "Fireworks", "Together"]
    assert sum(u["attempts"] for u in out["upstreams"]) > 100
    assert all(u["billed_usd_per_mtok"] is not None for u in out["upstreams"][:3])
    titles = [s["title"] for s in out["suggestions"]]
    assert "sort by latency" in titles
    for s in out["suggestions"]:
        assert s["apply"].startswith("hermes-dash routing set --")
        assert s["what_if"]["draft"]["calls"] == s["what_if"]["logged"]["calls"] > 0
    again = run("routing", "suggest", "--json", "--offline", "--window", "7d", home=home)
    assert json.loads(again.stdout)["suggestions"] == out["suggestions"]
    text = run("routing", "suggest", "--offline", "--window", "7d", home=home)
    assert (
        text.returncode == 0 and "DeepInfra" in text.stdout and "apply: hermes-dash" in text.stdout
    )


def test_suggest_fails_cleanly_without_model_or_log(home: Path) -> None:
    r = run("routing", "suggest", "--offline", home=home)
    assert r.returncode == 1 and "no call log" in r.stderr and "Traceback" not in r.stderr
    (home / "config.yaml").write_text("model: {}\n")
    CallStore(home / "hermes-dash" / "calls.db").close()
    r = run("routing", "suggest", "--offline", home=home)
    assert r.returncode == 2 and "--model" in r.stderr and "Traceback" not in r.stderr


def test_history_records_by_hand_set_and_restore_with_before_and_after(home: Path) -> None:
    store = CallStore(home / "hermes-dash" / "calls.db")
    config = home / "config.yaml"
    long_ago = time.time() - 7200
    os.utime(config, (long_ago, long_ago))
    r = run("routing", "history", "--json", home=home)  # the first run: a baseline only
    assert r.returncode == 0 and json.loads(r.stdout) == []
    # A change by hand an hour ago, with calls on both sides of it.
    config.write_text(CONFIG + "provider_routing:\n  sort: price\n  ignore: [chutes]\n")
    hand = time.time() - 3600
    os.utime(config, (hand, hand))
    store.insert(
        [
            call(hand - 600, model=MODEL, upstream="Chutes", latency_s=4.0),
            call(hand - 300, model=MODEL, error_provider="Chutes", http_status=429, status="error"),
            call(hand + 300, model=MODEL, upstream="DeepInfra", latency_s=1.0),
            call(hand + 600, model=MODEL, upstream="DeepInfra", latency_s=2.0),
            call(hand + 900, model=MODEL, upstream="DeepInfra", latency_s=3.0),
        ]
    )
    # Any command notices it (here one that has nothing to do with routing).
    r = run("summary", "--json", "--offline", home=home)
    assert r.returncode == 0, r.stderr
    assert [c.source for c in RoutingHistory(home / "hermes-dash" / HISTORY_NAME).changes()] == [
        "by hand"
    ]
    r = run("routing", "set", "--sort", "latency", home=home)
    assert r.returncode == 0, r.stderr
    r = run("routing", "history", "--json", home=home)
    assert r.returncode == 0, r.stderr
    changes = json.loads(r.stdout)
    assert [c["source"] for c in changes] == ["by hand", "routing set"]
    by_hand, ours = changes
    assert by_hand["before"] == {} and by_hand["after"] == {"sort": "price", "ignore": ["chutes"]}
    assert ours["after"] == {"sort": "latency", "ignore": ["chutes"]}
    assert ours["diff"] == ['~ sort: "price" -> "latency"']
    # The change by hand is dated by the file: the calls fall on their own sides.
    figures = by_hand["figures"]
    assert figures["before"]["upstreams"] == {"Chutes": 2}
    assert figures["before"]["rate_limited_share"] == 0.5
    assert figures["after"]["upstreams"] == {"DeepInfra": 3}
    assert figures["after"]["latency_p50_s"] == 2.0 and figures["after"]["calls"] == 3

    r = run("routing", "restore", "--list", home=home)
    name = r.stdout.splitlines()[0].strip()  # the newest backup: before 'routing set'
    r = run("routing", "restore", name, home=home)
    assert r.returncode == 0, r.stderr
    changes = json.loads(run("routing", "history", "--json", home=home).stdout)
    assert [c["source"] for c in changes] == ["by hand", "routing set", "routing restore"]
    assert changes[-1]["before"] == {"sort": "latency", "ignore": ["chutes"]}
    assert changes[-1]["after"] == {"sort": "price", "ignore": ["chutes"]}
    text = run("routing", "history", home=home)
    assert text.returncode == 0 and "by hand" in text.stdout and "before" in text.stdout
    assert (home / "hermes-dash" / HISTORY_NAME).stat().st_mode & 0o077 == 0
    store.close()


def test_suggest_puts_openrouters_published_figures_beside_ours(home: Path) -> None:
    from .openrouter_sim import MODEL as SIM_MODEL
    from .openrouter_sim import OpenRouterSim

    store = CallStore(home / "hermes-dash" / "calls.db")
    now = time.time()
    store.insert(
        [call(now - 60 - i, model=SIM_MODEL, upstream="DeepInfra", latency_s=1.0) for i in range(3)]
        + [call(now - 30, model=SIM_MODEL, upstream="Chutes", latency_s=2.0)]
    )
    store.close()
    with OpenRouterSim() as sim:
        env = {"HERMES_DASH_OPENROUTER_URL": sim.base_url, "OPENROUTER_API_KEY": "sk-or-v1-x"}
        r = run("routing", "suggest", "--json", "--model", SIM_MODEL, home=home, env=env)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["published_available"] is True
    by = {u["upstream"]: u for u in out["upstreams"]}
    assert by["DeepInfra"]["slug"] == "deepinfra"
    assert by["DeepInfra"]["published"]["prompt_usd_per_mtok"] == 3.0
    assert by["Chutes"]["published"] is None  # OpenRouter lists no such endpoint
    assert by["DeepInfra"]["small_sample"] and "small sample" in by["DeepInfra"]["note"]
