"""The command line: version, demo data, summary against a real local server, export."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from hermes_dash.cli import main

from .conftest import FAKE_KEY
from .fakeserver import CREDITS_BODY, KEY_BODY, FakeOpenRouter, Reply, prefixed


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "hermes_dash", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "x.db"
    assert main(["demo", "--generate", "20000", "--db", str(path), "--seed", "1"]) == 0
    return path


def test_version() -> None:
    r = run("--version")
    assert r.returncode == 0 and r.stdout.strip().startswith("hermes-dash ")


def test_summary_json_matches_plain_sql(demo_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", "--json", "--db", str(demo_db), "--offline", "--window", "7d"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert set(s) == {
        "generated_at",
        "window",
        "account",
        "calls",
        "burn_rate_usd_per_hour",
        "runway_hours",
        "providers",
        "models",
        "routing",
        "rate_limits",
        "reconciliation",
    }
    assert s["account"]["status"] == "offline" and s["account"]["usage"] is None
    assert s["window"] == "7d" and s["routing"] == {}
    conn = sqlite3.connect(demo_db)
    total, errs, limited, cost, tin = conn.execute(
        "SELECT COUNT(*), SUM(status <> 'ok'), SUM(http_status = 429), SUM(COALESCE(cost_usd, 0)), "
        "SUM(COALESCE(input_tokens, 0)) FROM calls"
    ).fetchone()
    assert s["calls"]["total"] == total == 20000
    assert s["calls"]["errors"] == errs
    assert s["calls"]["rate_limited"] == limited
    assert s["calls"]["cost_usd"] == pytest.approx(cost, abs=1e-5)
    assert s["calls"]["input_tokens"] == tin
    by_provider = dict(
        conn.execute(
            "SELECT provider || '/' || COALESCE(endpoint, base_url_host, '') || '/' || "
            "COALESCE(upstream, ''), COUNT(*) FROM calls GROUP BY 1"
        ).fetchall()
    )
    assert {
        f"{p['provider']}/{p['endpoint'] or ''}/{p['upstream'] or ''}": p["calls"]
        for p in s["providers"]
    } == by_provider
    assert {m["model"]: m["calls"] for m in s["models"]} == dict(
        conn.execute("SELECT model, COUNT(*) FROM calls GROUP BY model").fetchall()
    )
    assert s["burn_rate_usd_per_hour"] == pytest.approx(cost / (7 * 24), rel=1e-4)
    assert s["runway_hours"] is None


def test_summary_table_is_readable(demo_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", "--db", str(demo_db), "--offline"]) == 0
    out = capsys.readouterr().out
    assert "account   offline" in out and "anthropic/claude-sonnet-4.5" in out


def test_summary_account_equals_server(demo_db: Path, tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    db.write_bytes(demo_db.read_bytes())
    with FakeOpenRouter(
        prefixed({"/key": Reply(200, KEY_BODY), "/credits": Reply(200, CREDITS_BODY)})
    ) as srv:
        r = run(
            "summary",
            "--json",
            "--db",
            str(db),
            "--openrouter-url",
            srv.url,
            env={"OPENROUTER_API_KEY": FAKE_KEY},
        )
        assert srv.requests[0][1]["authorization"] == f"Bearer {FAKE_KEY}"
    assert r.returncode == 0, r.stderr
    acc = json.loads(r.stdout)["account"]
    assert acc["status"] == "ok"
    for k in (
        "usage",
        "usage_daily",
        "usage_weekly",
        "usage_monthly",
        "limit",
        "limit_remaining",
        "limit_reset",
        "is_free_tier",
        "label",
    ):
        assert acc[k] == KEY_BODY["data"][k]
    assert acc["credits_total"] == 120.0 and acc["credits_used"] == 45.25
    assert acc["balance"] == pytest.approx(74.75)
    assert FAKE_KEY not in r.stdout + r.stderr
    s = json.loads(r.stdout)
    assert s["runway_hours"] == pytest.approx(62.5 / s["burn_rate_usd_per_hour"], rel=1e-3)


def test_summary_without_call_log_says_how(tmp_path: Path) -> None:
    r = run("summary", "--db", str(tmp_path / "missing.db"), "--offline")
    assert r.returncode == 1 and "plugin install" in r.stderr
    assert not (tmp_path / "missing.db").exists()


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert run("summary", "--window", "2h").returncode == 2
    r = run("demo", "--generate", "-5", "--db", str(tmp_path / "d.db"))
    assert r.returncode == 2 and "--generate" in r.stderr


def test_export_csv_and_json(
    demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "calls.csv"
    assert main(["export", "--format", "csv", "--db", str(demo_db), "--output", str(out)]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == 20000 and rows[0]["model"]
    assert main(["export", "--format", "json", "--db", str(demo_db), "--window", "1h"]) == 0
    data = json.loads(capsys.readouterr().out)
    n = (
        sqlite3.connect(demo_db)
        .execute("SELECT COUNT(*) FROM calls WHERE started_at >= strftime('%s','now') - 3600")
        .fetchone()[0]
    )
    assert abs(len(data) - n) <= 2  # the two clocks differ by a moment


def test_demo_is_seeded(tmp_path: Path) -> None:
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    for p in (a, b):
        assert (
            main(["demo", "--generate", "500", "--db", str(p), "--seed", "7", "--days", "2"]) == 0
        )
    q = "SELECT model, upstream, status, input_tokens FROM calls ORDER BY id"
    assert sqlite3.connect(a).execute(q).fetchall() == sqlite3.connect(b).execute(q).fetchall()
