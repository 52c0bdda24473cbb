"""Every CLI command, as a real process, on hostile outside text: a sane exit code, no raw
control character on stdout or stderr, no traceback, and no file changed that the command
is not there to write. CSV cells never start a formula."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hermes_dash.calllog.recorder import PLUGIN_NAME
from hermes_dash.calllog.store import CallStore

from .conftest import FAKE_KEY, call
from .fakeserver import CREDITS_BODY, FakeOpenRouter, Reply
from .hostile import (
    EVIL,
    HOSTILE_CONFIG,
    RAW_CONTROL,
    SHOWN,
    hostile_call_log,
    hostile_routes,
    hostile_state_db,
    key_body_with_label,
)

NOW = time.time()


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # Bytes decoded with surrogateescape: whatever the process wrote is seen as it was.
    r = subprocess.run(
        [sys.executable, "-m", "hermes_dash", *args],
        capture_output=True,
        env={**os.environ, **env},
        timeout=120,
    )
    return subprocess.CompletedProcess(
        r.args,
        r.returncode,
        r.stdout.decode("utf-8", "surrogateescape"),
        r.stderr.decode("utf-8", "surrogateescape"),
    )


def assert_clean(r: subprocess.CompletedProcess[str], codes: tuple[int, ...] = (0,)) -> None:
    out = r.stdout + r.stderr
    assert r.returncode in codes, (r.args, r.returncode, r.stderr)
    assert "Traceback" not in out, r.stderr
    assert not RAW_CONTROL.search(out), (r.args, RAW_CONTROL.search(out))
    assert FAKE_KEY not in out


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A Hermes home whose config.yaml, state.db, call log and installed plugin manifest
    all carry hostile text."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.yaml").write_text(
        HOSTILE_CONFIG + "plugins:\n  enabled: [hermes-dash-recorder]\n", encoding="utf-8"
    )
    hostile_state_db(home / "state.db", NOW)
    db = home / "hermes-dash" / "calls.db"
    db.parent.mkdir()
    hostile_call_log(db, NOW)
    plugin = home / "plugins" / PLUGIN_NAME
    plugin.mkdir(parents=True)
    (plugin / "plugin.yaml").write_text(
        'name: hermes-dash-recorder\nversion: "1.0 [/]\\e]2;title\\a\\x9b31m\\0"\n'
    )
    (plugin / "__init__.py").write_text("def register(ctx):\n    pass\n")
    return home


def _files(root: Path) -> dict[Path, bytes]:
    """Every file but the call log (``summary`` records the account's figures in it) and
    the routing history beside it (the first command records the block it finds)."""
    return {
        p: p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(("calls.db", "routing-history.jsonl"))
    }


def test_every_command_prints_outside_text_safely(home: Path, tmp_path: Path) -> None:
    routes = hostile_routes()
    routes["/api/v1/key"] = Reply(200, key_body_with_label(EVIL))
    routes["/api/v1/credits"] = Reply(200, CREDITS_BODY)
    before = _files(home)
    with FakeOpenRouter(routes) as srv:
        env = {
            "HERMES_HOME": str(home),
            "OPENROUTER_API_KEY": FAKE_KEY,
            "HERMES_DASH_OPENROUTER_URL": srv.url,
        }
        r = run("summary", env=env)
        assert_clean(r)
        assert f"evil/{SHOWN}"[:40] in r.stdout
        r = run("summary", "--json", env=env)
        assert_clean(r)
        summary = json.loads(r.stdout)
        assert summary["account"]["label"] == SHOWN
        assert f"evil/{SHOWN}" in [m["model"] for m in summary["models"]]
        assert summary["routing"]["ignore"] == ["[@click=app.screenshot('x')]"]
        assert not RAW_CONTROL.search(json.dumps(summary, ensure_ascii=False))
        assert_clean(run("summary", "--offline", "--window", "7d", env=env))

        r = run("export", "--format", "json", env=env)
        assert_clean(r)
        rows = json.loads(r.stdout)
        assert len(rows) == 3 and rows[0]["model"] == f"evil/{SHOWN}"
        assert not RAW_CONTROL.search(json.dumps(rows, ensure_ascii=False))
        r = run("export", "--format", "csv", env=env)
        assert_clean(r)
        assert f"evil/{SHOWN}" in r.stdout
        out = tmp_path / "out[old].csv"
        r = run("export", "--format", "csv", "--output", str(out), env=env)
        assert_clean(r)
        assert str(out) in r.stderr and not RAW_CONTROL.search(out.read_text())

        r = run("routing", "show", env=env)
        assert_clean(r)
        assert "ignore: [@click=app.screenshot('x')]" in r.stdout
        r = run("routing", "show", "--json", env=env)
        assert_clean(r)
        assert json.loads(r.stdout)["order"] == ["[/]", "deepinfra"]
        # Slugs that are not slugs: invalid, said on clean lines, exit 2.
        r = run("routing", "validate", env=env)
        assert_clean(r, (2,))
        assert "[/]" in r.stderr
        r = run("routing", "set", "--sort", "latency", "--dry-run", env=env)
        assert_clean(r, (2,))
        r = run(
            "routing",
            "set",
            "--only",
            "deepinfra",
            "--ignore",
            "",
            "--order",
            "",
            "--dry-run",
            env=env,
        )
        assert_clean(r)
        assert "deepinfra" in r.stdout
        assert_clean(run("routing", "restore", "--list", env=env))

        r = run("plugin", "status", env=env)
        assert_clean(r)
        assert "version:   1.0 [/]" in r.stdout
    # Nothing above was there to write into the Hermes home.
    assert _files(home) == before


def test_error_lines_from_a_hostile_server_are_clean(home: Path) -> None:
    """A server's error message is passed on on one clean line, exit 1."""
    with FakeOpenRouter(hostile_routes(401)) as srv:
        r = run(
            "summary",
            env={
                "HERMES_HOME": str(home),
                "OPENROUTER_API_KEY": FAKE_KEY,
                "HERMES_DASH_OPENROUTER_URL": srv.url,
            },
        )
    assert_clean(r, (1,))
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "slow down [/]" in lines[0], r.stderr


def test_a_broken_config_named_with_markup_is_one_clean_line(tmp_path: Path) -> None:
    config = tmp_path / "conf[b]\x1b[2J.yaml"
    config.write_text("provider_routing: [unclosed\n")
    r = run("routing", "show", "--config", str(config), env={})
    assert_clean(r, (1,))
    assert "conf[b].yaml" in r.stderr


FORMULAS = ['=HYPERLINK("http://x","a")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1", " =1"]


def test_csv_cells_never_start_a_formula(tmp_path: Path) -> None:
    db = tmp_path / "calls.db"
    store = CallStore(db)
    store.insert(
        [
            call(NOW - 100 + i, model=f, session_id=f, upstream=f, error_reason=f, cost_usd=0.5)
            for i, f in enumerate(FORMULAS)
        ]
    )
    store.close()
    r = run("export", "--format", "csv", "--db", str(db), env={})
    assert_clean(r)
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == len(FORMULAS)
    for row in rows:
        for column in ("model", "session_id", "upstream", "error_reason"):
            assert row[column].startswith("'"), (column, row[column])
            assert row[column][1:].lstrip()[0] in "=+-@", row[column]
        # Numbers stay numbers, never quoted as text (a negative cost is an impossible
        # value that the reader writes as empty: tests/test_impossible_rows.py).
        assert row["cost_usd"] == "0.5" and row["input_tokens"] == "100"
