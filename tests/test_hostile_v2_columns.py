"""The attempt columns the wire recorder added (endpoint, task, error_provider,
limit_source, call_key, ttft ...) written by hand with hostile text and impossible numbers:
every new screen shows them literally and keeps running."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from textual.widgets import DataTable

from hermes_dash.calllog.recorder.schema import CALL_COLUMNS
from hermes_dash.calllog.store import CallStore

from .hostile import EVIL, SHOWN
from .test_text_safety_tui import _app, _assert_safe, _screen_lines, _settled
from .tui_helpers import wait_for, wait_for_screen, wait_for_workers

NOW = time.time()
_NUMERIC = {
    "started_at",
    "ended_at",
    "http_status",
    "retry_count",
    "latency_s",
    "latency_bucket",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost_usd",
    "attempt",
    "stream",
    "ttft_s",
    "ttft_bucket",
    "wait_s",
    "retry_after_s",
    "ratelimit_limit",
    "ratelimit_remaining",
    "ratelimit_reset",
    "upstream_cost_usd",
}
#: Impossible numbers for the v2 numeric columns.
ODD_NUMBERS = {
    "ttft_s": float("inf"),
    "wait_s": "abc",
    "retry_after_s": 1e308,
    "ratelimit_limit": 2**62,
    "ratelimit_remaining": -5,
    "ratelimit_reset": 1e300,
    "upstream_cost_usd": b"\x00blob",
    "attempt": "x",
    "stream": "yes",
    "ttft_bucket": 10**15,
}


def v2_log(path: Path, odd_numbers: bool) -> None:
    """Four attempts (429, 402, ok, 503) whose every text column is hostile."""
    CallStore(path).close()
    rows = []
    for i, (status, http) in enumerate(
        [("error", 429), ("error", 402), ("ok", 200), ("error", 503)]
    ):
        r: dict[str, object] = {c: (None if c in _NUMERIC else EVIL + c) for c in CALL_COLUMNS}
        r.update(
            started_at=NOW - 100 + i,
            ended_at=NOW - 99 + i,
            status=status,
            http_status=http,
            latency_s=0.5,
            input_tokens=10,
            output_tokens=5,
            cost_usd=0.01,
            attempt=1,
            ttft_s=0.1,
            cost_source="openrouter",
        )
        if odd_numbers:
            r.update(ODD_NUMBERS)
        rows.append(r)
    cols = list(rows[0])
    conn = sqlite3.connect(path)
    conn.executemany(
        f"INSERT INTO calls ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
        [tuple(r[c] for c in cols) for r in rows],
    )
    conn.commit()
    conn.close()


@pytest.mark.parametrize("odd_numbers", [False, True])
async def test_new_screens_show_attempt_columns_literally(
    tmp_path: Path, odd_numbers: bool
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.yaml").write_text("provider_routing:\n  sort: price\n", encoding="utf-8")
    db = home / "calls.db"
    v2_log(db, odd_numbers)
    before = db.read_bytes()
    app = _app(home, db, "http://127.0.0.1:9")
    async with app.run_test(size=(220, 60)) as pilot:
        await wait_for(pilot, lambda: _settled(app), "data")
        await wait_for(pilot, lambda: any(SHOWN in ln for ln in _screen_lines(app)), "the text")
        _assert_safe(app, "dashboard")
        for key in ("o", "k", "c", "b", "h"):
            await pilot.press(key)
            await wait_for(pilot, lambda: app.screen is not app.dashboard, f"the screen of {key}")
            await wait_for_workers(pilot)  # what the screen reads is on it
            if key == "c":
                table = app.screen.query_one(DataTable)
                await wait_for(pilot, lambda t=table: t.row_count == 4, "calls table")
                for row in range(1, 4):
                    await pilot.press("down")
                    await wait_for(
                        pilot, lambda r=row: app.screen.detail_of == app.screen.rows[r].id
                    )
                    _assert_safe(app, "attempt detail")
            _assert_safe(app, key)
            assert app.is_running, key
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen is app.dashboard, "the dashboard")
    assert app.return_code in (None, 0)
    assert db.read_bytes() == before


async def test_key_limits_screen_shows_key_fields_literally(tmp_path: Path) -> None:
    """Name, hash and reset period of each key come from the server's /keys."""
    from hermes_dash.hermes.paths import HermesPaths, Secrets
    from hermes_dash.openrouter.client import OpenRouterClient
    from hermes_dash.services.settings import DashSettings, UserSettings
    from hermes_dash.tui.app import make_app
    from hermes_dash.tui.screens.keys import KeyLimitsScreen, SetLimitDialog

    from .conftest import FAKE_KEY
    from .fake_account import MGMT_KEY, FakeAccount, key_entry

    home = tmp_path / "home"
    home.mkdir()
    db = home / "calls.db"
    v2_log(db, False)
    keys = [
        key_entry(0, name=EVIL, limit=5.0, limit_reset=EVIL, hash=EVIL * 2),
        key_entry(1, name=None, label=EVIL),
    ]
    srv = FakeAccount(keys, key_body={"label": "x", "usage": 1.0})
    srv.start()
    try:
        settings = DashSettings(
            paths=HermesPaths(home),
            db_path=db,
            openrouter_url=srv.url,
            secrets=Secrets(FAKE_KEY, MGMT_KEY),
            user_settings_path=home / "settings.json",
        )
        api = OpenRouterClient(FAKE_KEY, base_url=srv.url, timeout=5.0)
        app = make_app(settings, api, CallStore(db), clock=lambda: NOW, prefs=UserSettings())
        async with app.run_test(size=(220, 40)) as pilot:
            await pilot.press("k")
            await wait_for(pilot, lambda: isinstance(app.screen, KeyLimitsScreen), "key limits")
            table = app.screen.query_one(DataTable)
            await wait_for(pilot, lambda: table.row_count == 2, "keys listed")
            cells = [str(c) for i in range(2) for c in table.get_row_at(i)]
            assert any(SHOWN in c for c in cells), cells
            await wait_for_workers(pilot)
            _assert_safe(app, "key limits")
            await pilot.press("l")  # the limit dialog names the key
            await wait_for_screen(pilot, SetLimitDialog)
            _assert_safe(app, "limit dialog")
            assert app.is_running
    finally:
        srv.stop()
