"""The account view: ``GET /activity`` and ``summary --account`` as real processes against
a real local server that speaks ``/keys`` and ``/activity``."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hermes_dash.calllog.store import CallStore
from hermes_dash.openrouter import errors
from hermes_dash.openrouter.management import ManagementClient
from tests.conftest import FAKE_KEY, call
from tests.fake_account import MGMT_KEY, FakeAccount, PatchFailure, activity_entry, key_entry

DAY = 86400


def _day(days_ago: int) -> str:
    return (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=days_ago)).isoformat()


@pytest.fixture
def account() -> Iterator[FakeAccount]:
    keys = [key_entry(1, name="gateway", usage_daily=1.25), key_entry(2, name="laptop")]
    keys[1].update(limit=20.0, limit_remaining=11.0, limit_reset="weekly", usage_daily=0.5)
    activity = [
        activity_entry(_day(1), "openai/gpt-4o", "OpenAI", usage=2.0, requests=40),
        activity_entry(_day(2), "openai/gpt-4o", "OpenAI", usage=1.5, requests=30),
        activity_entry(_day(1), "openai/gpt-4o", "Azure", usage=0.25, requests=5),
        activity_entry(
            _day(3),
            "deepseek/deepseek-chat",
            "DeepInfra",
            usage=0.75,
            requests=100,
            reasoning_tokens=70,
        ),
    ]
    srv = FakeAccount(keys, key_body={"label": keys[0]["label"], "usage": 5.0}, activity=activity)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def log(tmp_path: Path) -> Path:
    """A call log with $0.40 spent today."""
    path = tmp_path / "calls.db"
    store = CallStore(path)
    now = time.time()
    start = max(now - now % DAY + 1, now - 60)
    store.insert([call(start, cost_usd=0.25), call(start + 1, cost_usd=0.15)])
    store.close()
    return path


def run(
    args: list[str], srv: FakeAccount, tmp_path: Path, *, mgmt: bool = True
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update(
        OPENROUTER_API_KEY=FAKE_KEY,
        HERMES_DASH_OPENROUTER_URL=srv.url,
        HERMES_HOME=str(tmp_path / "home"),
        HERMES_DASH_DB=str(tmp_path / "calls.db"),
    )
    if mgmt:
        env["OPENROUTER_MANAGEMENT_KEY"] = MGMT_KEY
    return subprocess.run(
        [sys.executable, "-m", "hermes_dash", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=90,
    )


def no_secrets(p: subprocess.CompletedProcess[str]) -> None:
    for text in (p.stdout, p.stderr):
        assert MGMT_KEY not in text and FAKE_KEY not in text
        assert "Traceback" not in text


def test_activity_client_parses_rows_and_sends_the_date_filter(account: FakeAccount) -> None:
    async def go() -> None:
        client = ManagementClient(MGMT_KEY, base_url=account.url)
        try:
            rows = await client.activity()
            one_day = await client.activity(date=_day(3))
            with pytest.raises(ValueError):
                await client.activity(date="yesterday")
        finally:
            await client.aclose()
        assert len(rows) == 4
        assert [r.model for r in one_day] == ["deepseek/deepseek-chat"]
        assert one_day[0].reasoning_tokens == 70 and one_day[0].prompt_tokens == 1000
        assert one_day[0].usage == 0.75 and one_day[0].requests == 100

    asyncio.run(go())
    paths = [s.path for s in account.seen]
    assert paths == ["/api/v1/activity", f"/api/v1/activity?date={_day(3)}"]
    assert all(s.headers["authorization"] == f"Bearer {MGMT_KEY}" for s in account.seen)


def test_activity_unknown_numbers_stay_unknown(account: FakeAccount) -> None:
    account.activity = [
        activity_entry(_day(1), "m/x", "P", usage=None, requests=-3, prompt_tokens="1e400")
    ]

    async def go() -> None:
        client = ManagementClient(MGMT_KEY, base_url=account.url)
        try:
            (row,) = await client.activity()
        finally:
            await client.aclose()
        assert row.usage is None and row.requests is None and row.prompt_tokens is None

    asyncio.run(go())


def test_summary_account_json(account: FakeAccount, log: Path, tmp_path: Path) -> None:
    p = run(["summary", "--account", "--json"], account, tmp_path)
    assert p.returncode == 0, p.stderr
    view = json.loads(p.stdout)["account_view"]
    names = [k["name"] for k in view["keys"]]
    assert names == ["gateway", "laptop"]
    laptop = view["keys"][1]
    assert (laptop["limit"], laptop["limit_remaining"], laptop["limit_reset"]) == (
        20.0,
        11.0,
        "weekly",
    )
    act = view["activity"]
    assert act["first_day"] == _day(3) and act["last_day"] == _day(1)
    assert act["usage_usd"] == pytest.approx(4.5)
    groups = {(g["model"], g["upstream"]): g for g in act["by_model_upstream"]}
    gpt = groups[("openai/gpt-4o", "OpenAI")]
    assert (gpt["requests"], gpt["usage_usd"], gpt["days"]) == (70, 3.5, 2)
    assert gpt["prompt_tokens"] == 2000 and gpt["completion_tokens"] == 400
    assert groups[("openai/gpt-4o", "Azure")]["requests"] == 5
    assert groups[("deepseek/deepseek-chat", "DeepInfra")]["reasoning_tokens"] == 70
    today = view["today"]
    assert today["date"] == _day(0)
    assert today["keys_usage_daily_usd"] == pytest.approx(1.75)
    assert today["call_log_usd"] == pytest.approx(0.40)
    assert "completed UTC days up to " + _day(1) in today["note"]
    no_secrets(p)
    # The management key went to the management endpoints only (/credits needs it too).
    for seen in account.seen:
        if MGMT_KEY in seen.headers.get("authorization", ""):
            assert seen.path.split("?")[0] in (
                "/api/v1/keys",
                "/api/v1/activity",
                "/api/v1/credits",
            )


def test_summary_account_text(account: FakeAccount, log: Path, tmp_path: Path) -> None:
    p = run(["summary", "--account"], account, tmp_path)
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "gateway" in out and "laptop" in out and "$20.00" in out
    assert f"({_day(3)} to {_day(1)}): $4.50 billed" in out
    assert "deepseek/deepseek-chat" in out and "DeepInfra" in out
    assert "Today so far: $1.75 across the account's keys" in out
    assert "$0.40 in this machine's call log" in out
    no_secrets(p)


def test_without_management_key(account: FakeAccount, log: Path, tmp_path: Path) -> None:
    p = run(["summary", "--account", "--json"], account, tmp_path, mgmt=False)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["account_view"] is None
    assert "OPENROUTER_MANAGEMENT_KEY" in out["account_view_reason"]
    assert "openrouter.ai/settings/management-keys" in out["account_view_reason"]
    p = run(["summary", "--account"], account, tmp_path, mgmt=False)
    assert p.returncode == 0
    assert "set OPENROUTER_MANAGEMENT_KEY" in p.stdout
    assert not [s for s in account.seen if s.path.startswith(("/api/v1/keys", "/api/v1/act"))]


def test_offline_with_account_is_a_usage_error(
    account: FakeAccount, log: Path, tmp_path: Path
) -> None:
    p = run(["summary", "--account", "--offline"], account, tmp_path)
    assert p.returncode == 2 and "--offline" in p.stderr and p.stdout == ""


@pytest.mark.parametrize(
    ("failure", "words"),
    [
        (PatchFailure(401, "bad key"), "management key"),
        (PatchFailure(403, "not a management key"), "403"),
        (PatchFailure(429, "slow down"), "429"),
        (PatchFailure(500, "boom"), "server error (500)"),
        (PatchFailure(200, '{"data": [{"date": '), "activity"),
        (PatchFailure(200, '{"data": {"date": "x"}}'), "/activity"),
    ],
)
def test_errors_are_one_line_and_nothing_half_printed(
    account: FakeAccount, log: Path, tmp_path: Path, failure: PatchFailure, words: str
) -> None:
    account.activity_failure = failure
    for extra in ([], ["--json"]):
        p = run(["summary", "--account", *extra], account, tmp_path)
        assert p.returncode == 1, (p.stdout, p.stderr)
        assert p.stdout == ""
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and words in lines[0], lines
        no_secrets(p)


def test_timeout_is_one_line(account: FakeAccount, tmp_path: Path) -> None:
    account.activity_failure = PatchFailure(500, "late", stall_s=3.0)

    async def go() -> None:
        client = ManagementClient(MGMT_KEY, base_url=account.url, timeout=0.5, deadline=1.0)
        try:
            with pytest.raises(errors.RequestTimeout, match="/activity"):
                await client.activity()
        finally:
            await client.aclose()

    asyncio.run(go())


def test_summary_account_before_the_log_exists(account: FakeAccount, tmp_path: Path) -> None:
    p = run(["summary", "--account", "--json"], account, tmp_path)
    assert p.returncode == 0, p.stderr
    view = json.loads(p.stdout)["account_view"]
    assert [k["name"] for k in view["keys"]] == ["gateway", "laptop"]
    assert view["today"]["call_log_usd"] is None
    assert "nothing yet (no call log)" in view["today"]["note"]
    p = run(["summary", "--account"], account, tmp_path)
    assert p.returncode == 0 and "laptop" in p.stdout and "no call log" in p.stdout
    no_secrets(p)
