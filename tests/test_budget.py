"""Budgets OpenRouter enforces: ``budget show|set`` as real processes against a real
local server that speaks the management API."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hermes_dash.openrouter import errors
from hermes_dash.openrouter.management import ManagementClient
from hermes_dash.services import keybudget as kb
from tests.conftest import FAKE_KEY
from tests.fake_account import MGMT_KEY, FakeAccount, PatchFailure, key_entry


@pytest.fixture
def account() -> Iterator[FakeAccount]:
    keys = [key_entry(i) for i in range(250)]  # three pages of /keys
    keys[7]["name"] = "hermes"
    keys[7]["limit"] = 10.0
    keys[7]["limit_reset"] = "monthly"
    srv = FakeAccount(keys, key_body={"label": keys[7]["label"], "usage": 17.0})
    srv.start()
    yield srv
    srv.stop()


def run(
    args: list[str],
    srv: FakeAccount,
    tmp_path: Path,
    *,
    mgmt: bool = True,
    stdin: int | None = None,
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update(
        OPENROUTER_API_KEY=FAKE_KEY,
        HERMES_DASH_OPENROUTER_URL=srv.url,
        HERMES_HOME=str(tmp_path / "home"),
    )
    if mgmt:
        env["OPENROUTER_MANAGEMENT_KEY"] = MGMT_KEY
    return subprocess.run(
        [sys.executable, "-m", "hermes_dash", *args],
        env=env,
        stdin=stdin if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def no_secrets(p: subprocess.CompletedProcess[str]) -> None:
    for text in (p.stdout, p.stderr):
        assert MGMT_KEY not in text and FAKE_KEY not in text
        assert "Traceback" not in text


def test_show_lists_every_page_of_keys(account: FakeAccount, tmp_path: Path) -> None:
    p = run(["budget", "show", "--json"], account, tmp_path)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["management_key"] is True
    assert len(out["keys"]) == 250
    hermes = next(k for k in out["keys"] if k["name"] == "hermes")
    assert hermes["limit"] == 10.0 and hermes["limit_reset"] == "monthly"
    assert hermes["next_reset"].endswith("+00:00")
    offsets = [s.path for s in account.seen if s.path.startswith("/api/v1/keys")]
    assert offsets == [f"/api/v1/keys?offset={n}" for n in (0, 100, 200)]
    no_secrets(p)


def test_management_key_goes_only_to_keys_endpoints(account: FakeAccount, tmp_path: Path) -> None:
    p = run(["budget", "set", "--daily", "5", "--yes"], account, tmp_path)
    assert p.returncode == 0, p.stderr
    for seen in account.seen:
        auth = seen.headers.get("authorization", "")
        if seen.path.startswith("/api/v1/keys"):
            assert auth == f"Bearer {MGMT_KEY}"
        else:
            assert MGMT_KEY not in auth
    no_secrets(p)


def test_set_changes_exactly_that_key(account: FakeAccount, tmp_path: Path) -> None:
    before = account.snapshot()
    target = before[key_entry(42)["hash"]]
    p = run(["budget", "set", "--weekly", "$7.5", "--key", "key-42", "--yes"], account, tmp_path)
    assert p.returncode == 0, p.stderr
    assert "key 'key-42'" in p.stdout and "none → $7.50 weekly" in p.stdout
    after = account.snapshot()
    changed = {h for h in after if after[h] != before[h]}
    assert changed == {target["hash"]}
    assert after[target["hash"]]["limit"] == 7.5
    assert after[target["hash"]]["limit_reset"] == "weekly"
    patches = [s for s in account.seen if s.method == "PATCH"]
    assert len(patches) == 1 and patches[0].body == {"limit": 7.5, "limit_reset": "weekly"}
    no_secrets(p)


def test_without_key_flag_the_key_in_use_is_chosen(account: FakeAccount, tmp_path: Path) -> None:
    """The key hermes-dash uses is found by its /key label among the account's keys."""
    p = run(["budget", "set", "--daily", "3", "--yes"], account, tmp_path)
    assert p.returncode == 0, p.stderr
    assert "$10.00 monthly → $3.00 daily" in p.stdout
    hermes = account.snapshot()[key_entry(7)["hash"]]
    assert (hermes["limit"], hermes["limit_reset"]) == (3.0, "daily")


@pytest.mark.parametrize("status", [400, 403, 500, 503])
def test_failed_patch_changes_nothing_and_says_why(
    account: FakeAccount, tmp_path: Path, status: int
) -> None:
    account.patch_failure = PatchFailure(status, f"refused with {status}")
    before = account.snapshot()
    p = run(["budget", "set", "--monthly", "20", "--key", "hermes", "--yes"], account, tmp_path)
    assert p.returncode == 1
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and str(status) in lines[0], p.stderr
    assert account.snapshot() == before
    no_secrets(p)


def test_patch_timeout_changes_nothing_and_says_why(account: FakeAccount) -> None:
    """The shared apply path (CLI and TUI) with a server that answers too late."""
    account.patch_failure = PatchFailure(500, "", stall_s=2.0)
    before = account.snapshot()

    async def go() -> str:
        client = ManagementClient(MGMT_KEY, base_url=account.url, timeout=0.3)
        try:
            keys = await client.list_keys()
            change = kb.plan_change(kb.choose_key(keys, "hermes", None), 5, "daily")
            with pytest.raises(errors.RequestTimeout) as info:
                await kb.apply_change(client, change)
            return str(info.value)
        finally:
            await client.aclose()

    message = asyncio.run(go())
    assert "did not answer PATCH" in message and "\n" not in message
    assert MGMT_KEY not in message
    account.patch_failure = None
    assert account.snapshot() == before


def test_no_confirmation_without_a_terminal(account: FakeAccount, tmp_path: Path) -> None:
    p = run(["budget", "set", "--daily", "5"], account, tmp_path)
    assert p.returncode == 2
    assert "--yes" in p.stderr and "not a terminal" in p.stderr
    assert not [s for s in account.seen if s.method == "PATCH"]


@pytest.mark.parametrize(("answer", "changed"), [("n\n", False), ("y\n", True)])
def test_confirmation_on_a_terminal(
    account: FakeAccount, tmp_path: Path, answer: str, changed: bool
) -> None:
    """A real pseudo-terminal on stdin: the prompt shows before → after and waits."""
    master, slave = os.openpty()
    try:
        os.write(master, answer.encode())
        p = run(
            ["budget", "set", "--daily", "4", "--key", "hermes"], account, tmp_path, stdin=slave
        )
    finally:
        os.close(slave)
        os.close(master)
    assert "$10.00 monthly → $4.00 daily" in p.stdout
    assert "[y/N]" in p.stdout
    patched = [s for s in account.seen if s.method == "PATCH"]
    assert bool(patched) is changed
    assert p.returncode == (0 if changed else 1)
    if not changed:
        assert "nothing changed" in p.stdout


def test_unknown_key_is_a_usage_error(account: FakeAccount, tmp_path: Path) -> None:
    p = run(["budget", "set", "--daily", "5", "--key", "nope", "--yes"], account, tmp_path)
    assert p.returncode == 2 and "nope" in p.stderr
    assert not [s for s in account.seen if s.method == "PATCH"]


@pytest.mark.parametrize("amount", ["0", "-3", "abc", "inf"])
def test_bad_amount_is_a_usage_error(account: FakeAccount, tmp_path: Path, amount: str) -> None:
    p = run(["budget", "set", f"--daily={amount}", "--yes"], account, tmp_path)
    assert p.returncode == 2 and "--daily" in p.stderr
    assert not account.seen


def test_without_management_key_say_what_it_unlocks(account: FakeAccount, tmp_path: Path) -> None:
    p = run(["budget", "show"], account, tmp_path, mgmt=False)
    assert p.returncode == 0
    assert "OPENROUTER_MANAGEMENT_KEY" in p.stdout and kb.MANAGEMENT_KEYS_URL in p.stdout
    p = run(["budget", "set", "--daily", "5", "--yes"], account, tmp_path, mgmt=False)
    assert p.returncode == 1 and "OPENROUTER_MANAGEMENT_KEY" in p.stderr
    assert not [s for s in account.seen if s.path.startswith("/api/v1/keys")]


def test_next_reset_and_402_explanations() -> None:
    midnight = 1795996800.0  # 2026-11-30 00:00 UTC, a Monday
    monday_noon = midnight + 12 * 3600
    assert time.gmtime(monday_noon).tm_wday == 0
    assert kb.next_reset("daily", monday_noon) == midnight + 86400
    assert kb.next_reset("weekly", monday_noon) == midnight + 7 * 86400
    assert time.gmtime(kb.next_reset("monthly", monday_noon) or 0)[:3] == (2026, 12, 1)
    text = kb.explain_402("openrouter_key_limit", "daily", monday_noon)
    assert text == "key limit reached, resets at 00:00 UTC (in 12 h 0 min)"
    assert "credits" in kb.explain_402("openrouter_credits", None, monday_noon)


def test_rejected_or_broken_management_answers_are_one_line(
    account: FakeAccount, tmp_path: Path
) -> None:
    env_key = "sk-or-v1-wrongmanagementkey0000000000000000000000000000000000000000"
    env = dict(os.environ)
    env.update(
        OPENROUTER_MANAGEMENT_KEY=env_key,
        HERMES_DASH_OPENROUTER_URL=account.url,
        HERMES_HOME=str(tmp_path / "home"),
    )
    p = subprocess.run(
        [sys.executable, "-m", "hermes_dash", "budget", "show"],
        env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert p.returncode == 1
    assert p.stderr.strip().count("\n") == 0 and "OPENROUTER_MANAGEMENT_KEY" in p.stderr
    assert env_key not in p.stderr + p.stdout and "Traceback" not in p.stderr
    # Nothing listens here any more: a connection failure, one line.
    url = account.url
    account.stop()
    p = run(["budget", "set", "--daily", "5", "--yes"], account, tmp_path)
    assert p.returncode == 1 and "cannot connect" in p.stderr and url.split("/api")[0] in p.stderr
    no_secrets(p)


def test_hostile_key_fields_are_shown_literally(tmp_path: Path) -> None:
    """Name, hash and reset of a key come from the server: no terminal control printed."""
    from tests.hostile import EVIL, RAW_CONTROL, SHOWN

    keys = [key_entry(0, name=EVIL, limit=5.0, limit_reset=EVIL), key_entry(1, hash=EVIL * 3)]
    srv = FakeAccount(keys, key_body={"label": keys[0]["label"], "usage": 1.0})
    srv.start()
    try:
        p = run(["budget", "show"], srv, tmp_path)
    finally:
        srv.stop()
    no_secrets(p)
    assert p.returncode == 0, p.stderr
    assert not RAW_CONTROL.search(p.stdout), p.stdout
    assert SHOWN[:20] in p.stdout  # the name column cuts at 23 characters
