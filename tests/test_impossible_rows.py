"""Rows another program wrote into the call log with impossible values: every reader
skips (impossible id or start time) or shows as unknown (any other column) and counts."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hermes_dash.calllog.records import Window
from hermes_dash.calllog.store import CallStore
from hermes_dash.hermes.paths import HermesPaths, Secrets
from hermes_dash.openrouter.client import OpenRouterClient
from hermes_dash.services.dashboard import build_dashboard
from hermes_dash.services.settings import DashSettings, UserSettings
from hermes_dash.tui.app import make_app
from hermes_dash.tui.screens.calls import CallsScreen
from hermes_dash.tui.screens.costcheck import CostCheckScreen

from .tui_helpers import wait_for, wait_for_screen, wait_for_workers

COLUMNS = (
    "started_at, provider, model, status, http_status, latency_s, input_tokens, "
    "output_tokens, cost_usd, cost_source, latency_bucket"
)
NOW = time.time()
#: Start times no reader can place: skipped, and counted.
BAD_TIMES = [float("inf"), float("-inf"), -1e18, NOW * 1000, "yesterday", b"\x01\x02"]
#: Sane times, impossible values elsewhere: shown as unknown, and counted.
BAD_VALUES = [
    (NOW - 10, "p", "m/text", "ok", "abc", "slow", "many", "x", "free", "openrouter", "b"),
    (NOW - 20, "p", b"\xffm", "ok", b"\x00", b"\xff", b"12", b"", b"\x00", b"x", b"\x01"),
    (NOW - 30, "p", "m/big", "ok", 200, float("inf"), 1e30, -5, float("inf"), "openrouter", 1e9),
    (NOW - 40, "p", "m/neg", "ok", 200, float("-inf"), -1, 2**62, float("-inf"), "x", -3),
    (NOW - 50, 7, 8.5, "ok", 99999, -1.0, 3.5, None, -0.5, 7, 2.5),
]
GOOD = (NOW - 60, "openrouter", "m/good", "ok", 200, 1.5, 100, 10, 0.25, "openrouter", 40)


@pytest.fixture
def odd_log(tmp_path: Path) -> Path:
    """A log written by hand, as a broken or hostile writer would (no recorder)."""
    path = tmp_path / "calls.db"
    CallStore(path).close()  # the schema and its triggers
    conn = sqlite3.connect(path)
    marks = ",".join("?" * 11)
    conn.execute(f"INSERT INTO calls ({COLUMNS}) VALUES ({marks})", GOOD)
    for t in BAD_TIMES:
        conn.execute(f"INSERT INTO calls ({COLUMNS}) VALUES ({marks})", (t, *GOOD[1:]))
        conn.execute(
            f"INSERT INTO calls ({COLUMNS}) VALUES ({marks})",
            (t, "p", "m/x", "error", 429, None, None, None, None, None, None),
        )
    for row in BAD_VALUES:
        conn.execute(f"INSERT INTO calls ({COLUMNS}) VALUES ({marks})", row)
    conn.execute("INSERT INTO recorder_state VALUES ('dropped', ?)", (float("inf"),))
    conn.execute(
        "INSERT INTO account_snapshots (taken_at, usage, credits_total, label) VALUES (?, ?, ?, ?)",
        (NOW - 5, b"\x00", float("inf"), 12),
    )
    conn.commit()
    conn.close()
    return path


def run(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HERMES_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "hermes_dash", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def _strict(text: str) -> object:
    def refuse(name: str) -> object:
        raise AssertionError(f"{name} in JSON output")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("window", ["1h", "30d"])
def test_summary_leaves_them_out_and_says_how_many(
    odd_log: Path, tmp_path: Path, window: str
) -> None:
    for extra in ([], ["--json"]):
        r = run(
            "summary", "--offline", "--window", window, "--db", str(odd_log), *extra, home=tmp_path
        )
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
        assert r.stderr.strip().splitlines() == [
            f"hermes-dash: left out {2 * len(BAD_TIMES)} call-log rows whose start time is "
            "impossible"
        ]
    summary = _strict(r.stdout)
    assert isinstance(summary, dict)
    assert summary["calls"]["total"] == 1 + len(BAD_VALUES)
    assert summary["calls"]["cost_usd"] == 0.25  # inf and text costs count as nothing
    assert summary["calls"]["rate_limited"] == 0  # the 429s all had impossible times
    good = [p for p in summary["providers"] if p["provider"] == "openrouter"]
    assert good[0]["latency_p50_s"] is not None


@pytest.mark.parametrize("by", ["source", "session", "platform", "task"])
def test_cost_by_source_counts_them_as_the_totals_do(
    odd_log: Path, tmp_path: Path, by: str
) -> None:
    """An inf cost once made a part inf: the table crashed and the JSON said null."""
    for extra in ([], ["--json"]):
        r = run("summary", "--offline", "--by", by, "--db", str(odd_log), *extra, home=tmp_path)
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    summary = _strict(r.stdout)
    assert isinstance(summary, dict)
    parts = summary["breakdown"]
    assert sum(p["cost_usd"] for p in parts) == pytest.approx(summary["calls"]["cost_usd"])
    assert sum(p["calls"] for p in parts) == summary["calls"]["total"]
    assert all(p["share"] is not None for p in parts)


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_export_skips_or_blanks_them_and_counts(odd_log: Path, tmp_path: Path, fmt: str) -> None:
    r = run("export", "--format", fmt, "--db", str(odd_log), home=tmp_path)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip().splitlines() == [
        f"hermes-dash: skipped {2 * len(BAD_TIMES)} rows whose id or start time is impossible",
        f"hermes-dash: {len(BAD_VALUES)} rows held impossible values (text, blobs, inf or "
        "negative numbers where numbers belong): written as empty",
    ]
    assert "inf" not in r.stdout.lower() and "nan" not in r.stdout.lower()
    if fmt == "json":
        rows = _strict(r.stdout)
        assert isinstance(rows, list) and len(rows) == 1 + len(BAD_VALUES)
        by_model = {row["model"]: row for row in rows}
        assert by_model["m/good"]["cost_usd"] == 0.25
        assert by_model["m/big"]["latency_s"] is None and by_model["m/big"]["cost_usd"] is None
        assert by_model["m/text"]["input_tokens"] is None
        assert by_model[""]["provider"] == "p"  # a blob where text belongs reads as empty
    else:
        assert len(r.stdout.strip().splitlines()) == 2 + len(BAD_VALUES)


def test_plugin_status_reads_the_newest_sane_row(odd_log: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env_db = {"HERMES_DASH_DB": str(odd_log)}
    r = subprocess.run(
        [sys.executable, "-m", "hermes_dash", "plugin", "status", "--hermes-home", str(home)],
        capture_output=True,
        text=True,
        env={**os.environ, **env_db},
        timeout=60,
        check=False,
    )
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    newest = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(NOW - 10))
    assert newest in r.stdout


def test_the_store_hands_out_only_sane_values(odd_log: Path) -> None:
    store = CallStore(odd_log)
    rows, last = store.tail(0)
    assert last == store.max_id()  # the tail moves past skipped rows
    assert len(rows) == 1 + len(BAD_VALUES)
    assert store.skipped_rows == 2 * len(BAD_TIMES)
    assert store.last_write() == pytest.approx(NOW - 10)
    assert store.dropped_rows() == 0
    assert store.impossible_rows() == 2 * len(BAD_TIMES)
    for name in ("1h", "24h", "7d", "30d"):
        data = build_dashboard(store, name, NOW, None)
        assert data.totals.calls == 1 + len(BAD_VALUES)
        assert data.last_rate_limit is None
        assert all(isinstance(m.key[0], str) for m in data.models)
        assert sum(p.cost_usd for p in data.series) == pytest.approx(0.25)
    assert store.requests_to(Window(0, NOW + 1), "m/x") == 0
    assert all(isinstance(v, str) for v in store.distinct("model"))
    store.close()


async def test_the_dashboard_starts_and_browses_them(odd_log: Path, tmp_path: Path) -> None:
    settings = DashSettings(
        paths=HermesPaths(tmp_path),
        db_path=odd_log,
        secrets=Secrets(None, None),
        user_settings_path=tmp_path / "s.json",
    )
    store = CallStore(odd_log)
    app = make_app(settings, OpenRouterClient(None), store, prefs=UserSettings())
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: app.data is not None, "the first read")
        assert app.data is not None and app.data.totals.calls == 1 + len(BAD_VALUES)
        await wait_for(pilot, lambda: app.dashboard.live.on_screen, "the live table")
        assert app.dashboard.live.row_count == 1 + len(BAD_VALUES)
        for key, name in zip("1234", ("1h", "24h", "7d", "30d"), strict=True):
            await pilot.press(key)
            await wait_for(
                pilot, lambda n=name: app.data.window.name == n and not app.stale_aggregates, name
            )
        await pilot.press("c")
        screen = await wait_for_screen(pilot, CallsScreen)
        await wait_for(pilot, lambda: screen.rows, "the first page")
        assert len(screen.rows) == 1 + len(BAD_VALUES)
        await pilot.press("escape", "h")
        await wait_for_screen(pilot, CostCheckScreen)
        await wait_for_workers(pilot)  # both sources read and shown
        assert app.is_running
    store.close()
