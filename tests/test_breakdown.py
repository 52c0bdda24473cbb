"""Cost by source (``summary --by``): the parts add up to the window, on the demo log and
on hand-made rows whose source is known."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hermes_dash.calllog.store import CallStore
from hermes_dash.services.breakdown import source_of

from .conftest import call


def dash(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HERMES_HOME": str(home), "TZ": "UTC"}
    return subprocess.run(
        [sys.executable, "-m", "hermes_dash", *args],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip


def check_totals(s: dict) -> None:  # type: ignore[type-arg]
    parts, calls = s["breakdown"], s["calls"]
    assert sum(p["calls"] for p in parts) == calls["total"]
    assert sum(p["attempts"] for p in parts) == calls["attempts"]
    assert sum(p["rate_limited"] for p in parts) == calls["rate_limited"]
    assert sum(p["tokens"] for p in parts) == calls["input_tokens"] + calls["output_tokens"]
    assert sum(p["cost_usd"] for p in parts) == pytest.approx(calls["cost_usd"], abs=1e-4)
    assert sum(p["share"] for p in parts) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("by", ["source", "session", "platform", "task"])
@pytest.mark.parametrize("window", ["24h", "7d"])
def test_demo_log_parts_add_up_to_the_window(tmp_path: Path, by: str, window: str) -> None:
    db = tmp_path / "demo.db"
    assert (
        dash("demo", "--generate", "3000", "--db", str(db), "--days", "7", home=tmp_path).returncode
        == 0
    )
    r = dash(
        "summary",
        "--json",
        "--offline",
        "--db",
        str(db),
        "--window",
        window,
        "--by",
        by,
        home=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["by"] == by and len(s["breakdown"]) >= (1 if by == "task" else 2)
    check_totals(s)
    costs = [p["cost_usd"] for p in s["breakdown"]]
    assert costs == sorted(costs, reverse=True)


def test_sources_are_named_from_session_platform_and_task(tmp_path: Path) -> None:
    home = tmp_path / "home"
    db = home / "hermes-dash" / "calls.db"
    db.parent.mkdir(parents=True)
    store = CallStore(db)
    now = time.time()
    store.insert(
        [
            call(
                now - 50,
                session_id="cron_a684507bde00_20261127_031500",
                platform="cron",
                cost_usd=0.5,
            ),
            call(
                now - 49,
                session_id="cron_a684507bde00_20261127_031500",
                platform="cron",
                task="compression",
                cost_usd=0.1,
            ),
            call(now - 48, session_id="tg-1", platform="telegram", cost_usd=0.2),
            call(now - 47, session_id="tg-1", platform="telegram", task="subagent", cost_usd=0.05),
            call(
                now - 46,
                session_id="cli-1",
                platform="cli",
                cost_usd=0.15,
                status="error",
                http_status=429,
            ),
        ]
    )
    store.close()
    r = dash("summary", "--json", "--offline", "--by", "source", home=home)
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    got = {p["key"]: (p["calls"], p["cost_usd"], p["rate_limited"]) for p in s["breakdown"]}
    assert got == {
        "cron:a684507bde00": (1, 0.5, 0),
        "gateway:telegram": (1, 0.2, 0),
        "cli": (1, 0.15, 1),
        "auxiliary:compression": (1, 0.1, 0),
        "subagent": (1, 0.05, 0),
    }
    check_totals(s)
    table = dash("summary", "--offline", "--by", "source", home=home)
    assert table.returncode == 0 and "cron:a684507bde00" in table.stdout


def test_by_profile_reads_each_profiles_log(tmp_path: Path) -> None:
    home = tmp_path / "home"
    now = time.time()
    for name, folder, cost in (("default", home, 1.0), ("work", home / "profiles" / "work", 3.0)):
        path = folder / "hermes-dash" / "calls.db"
        path.parent.mkdir(parents=True)
        store = CallStore(path)
        store.insert([call(now - 30, session_id=f"{name}-s", cost_usd=cost)])
        store.close()
    r = dash("summary", "--json", "--offline", "--by", "profile", home=home)
    assert r.returncode == 0, r.stderr
    got = [(p["key"], p["cost_usd"], p["share"]) for p in json.loads(r.stdout)["breakdown"]]
    assert got == [("work", 3.0, 0.75), ("default", 1.0, 0.25)]


def test_source_names() -> None:
    assert source_of("cron_job1_20260101_000000", "cron", None) == "cron:job1"
    assert source_of("cron_job1", None, "main") == "cron:job1"
    assert source_of("x", "discord", "main") == "gateway:discord"
    assert source_of(None, None, None) == "cli"
    assert source_of("x", "telegram", "title_generation") == "auxiliary:title_generation"


def _last(hour: int, now: float) -> float:
    """The latest hh:30 UTC before now."""
    t = now - now % 86400 + hour * 3600 + 1800
    return t if t < now else t - 86400


@pytest.mark.parametrize(("active", "night_usd"), [(None, 1.0), ((13, 18), 3.0), ((2, 4), 2.0)])
def test_overnight_spend_is_outside_the_active_hours(
    tmp_path: Path, active: tuple[int, int] | None, night_usd: float
) -> None:
    home = tmp_path / "home"
    db = home / "hermes-dash" / "calls.db"
    db.parent.mkdir(parents=True)
    store = CallStore(db)
    now = time.time()
    store.insert(
        [
            call(_last(3, now), session_id="cron_backup_20261127_030000", cost_usd=1.0),
            call(_last(12, now), session_id="cli-1", platform="cli", cost_usd=2.0),
        ]
    )
    store.close()
    settings = tmp_path / "user-settings.json"
    if active:
        settings.write_text(
            json.dumps({"active_hours_from": active[0], "active_hours_to": active[1]})
        )
    r = dash("summary", "--json", "--offline", "--by", "source", home=home)
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert sum(p["overnight_cost_usd"] for p in s["breakdown"]) == pytest.approx(night_usd)
    start, end = active or (7, 24)
    assert s["overnight"] == f"outside {start:02d}:00-{end:02d}:00 local"
    table = dash("summary", "--offline", "--by", "source", home=home)
    assert (
        f"overnight (outside {start:02d}:00-{end:02d}:00 local): ${night_usd:,.2f} of $3.00"
        in table.stdout
    )
