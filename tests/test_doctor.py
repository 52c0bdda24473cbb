"""``hermes-dash doctor`` as a real process over real Hermes homes, one per first-run state,
with OpenRouter a real server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hermes_dash.calllog.store import CallStore
from hermes_dash.cli.common import TIMEOUT_ENV
from hermes_dash.hermes.paths import HermesPaths
from hermes_dash.services.plugin import install

from .conftest import FAKE_KEY, call
from .fakeserver import CREDITS_BODY, KEY_BODY, FakeOpenRouter, Reply, prefixed

CONFIG = "# my Hermes\nmodel:\n  default: openai/gpt-4o-mini\n  provider: openrouter\n"


def doctor(
    home: Path,
    *args: str,
    key: str | None = FAKE_KEY,
    url: str = "http://127.0.0.1:9/api/v1",
    timeout_s: float | None = None,
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENROUTER_")}
    env["HERMES_HOME"] = str(home)
    if timeout_s is not None:
        env[TIMEOUT_ENV] = str(timeout_s)
    env["HERMES_DASH_OPENROUTER_URL"] = url
    if key:
        env["OPENROUTER_API_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "hermes_dash", "doctor", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def checks(r: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in json.loads(r.stdout)["checks"]}


@pytest.fixture
def good_server() -> Iterator[FakeOpenRouter]:
    with FakeOpenRouter(
        prefixed({"/key": Reply(body=KEY_BODY), "/credits": Reply(body=CREDITS_BODY)})
    ) as srv:
        yield srv


def make_home(tmp_path: Path, *, installed: bool = False, row_age_s: float | None = None) -> Path:
    home = tmp_path / "hermes"
    home.mkdir()
    paths = HermesPaths(home)
    paths.config.write_text(CONFIG)
    if installed:
        install(paths)
    if row_age_s is not None:
        store = CallStore(paths.call_log)
        store.insert([call(time.time() - row_age_s)])
        store.close()
    return home


def test_missing_home(tmp_path: Path) -> None:
    r = doctor(tmp_path / "nowhere", "--offline")
    assert r.returncode == 1, r.stderr
    assert "FAIL  Hermes home" in r.stdout and "hermes setup" in r.stdout
    assert "does not exist" in r.stdout
    assert "Traceback" not in r.stderr


def test_no_key(tmp_path: Path) -> None:
    home = make_home(tmp_path, installed=True, row_age_s=60)
    r = doctor(home, "--json", key=None)
    assert r.returncode == 1
    c = checks(r)
    assert c["key"]["status"] == "fail"
    assert (
        c["key"]["fix"].startswith("echo 'OPENROUTER_API_KEY=")
        and str(home / ".env") in (c["key"]["fix"])
    )
    assert c["key_accepted"]["status"] == "skip"
    assert c["recorder_writing"]["status"] == "ok"


def test_bad_key_is_explained_and_never_printed(tmp_path: Path) -> None:
    home = make_home(tmp_path, installed=True, row_age_s=60)
    unauthorized = Reply(401, {"error": {"code": 401, "message": "No auth credentials found"}})
    with FakeOpenRouter(prefixed({"/key": unauthorized})) as srv:
        r = doctor(home, url=srv.url)
        assert any(h.get("authorization") == f"Bearer {FAKE_KEY}" for _, h in srv.requests)
    assert r.returncode == 1
    line = next(x for x in r.stdout.splitlines() if "key accepted" in x)
    assert line.split()[0] == "FAIL" and "401" in line
    assert "openrouter.ai/settings/keys" in r.stdout
    assert FAKE_KEY not in r.stdout + r.stderr
    assert "sk-or-v1-…KEY9" in r.stdout  # masked


def test_out_of_credits_is_explained(tmp_path: Path) -> None:
    home = make_home(tmp_path, installed=True, row_age_s=60)
    with FakeOpenRouter(prefixed({"/key": Reply(402, {"error": {"code": 402}})})) as srv:
        r = doctor(home, "--json", url=srv.url)
    assert r.returncode == 1
    c = checks(r)["key_accepted"]
    assert c["status"] == "fail" and "402" in c["detail"] and "credits" in c["fix"]


def test_recorder_not_installed(tmp_path: Path, good_server: FakeOpenRouter) -> None:
    home = make_home(tmp_path)
    r = doctor(home, "--json", url=good_server.url)
    assert r.returncode == 1
    c = checks(r)
    assert c["key_accepted"]["status"] == "ok"
    assert c["recorder_installed"]["status"] == "fail"
    assert c["recorder_installed"]["fix"] == "hermes-dash plugin install"
    assert c["call_log"]["status"] == "info" and "not created yet" in c["call_log"]["detail"]


def test_fix_names_the_home_given_on_the_command_line(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    r = doctor(tmp_path / "elsewhere", "--json", "--offline", "--hermes-home", str(home))
    fix = checks(r)["recorder_installed"]["fix"]
    assert fix == f"hermes-dash plugin install --hermes-home {home}"


def test_installed_but_not_enabled(tmp_path: Path, good_server: FakeOpenRouter) -> None:
    home = make_home(tmp_path, installed=True)
    (home / "config.yaml").write_text(CONFIG)  # plugins.enabled gone again
    r = doctor(home, url=good_server.url)
    assert r.returncode == 1
    lines = [x for x in r.stdout.splitlines() if "recorder enabled" in x]
    assert lines[0].split()[0] == "FAIL" and "not in plugins.enabled" in lines[0]
    assert "fix: hermes-dash plugin install" in r.stdout


def test_enabled_but_idle(tmp_path: Path, good_server: FakeOpenRouter) -> None:
    home = make_home(tmp_path, installed=True, row_age_s=3 * 3600)
    r = doctor(home, "--json", url=good_server.url)
    # Idle is worth a look, not a failure: Hermes may simply not have run since.
    assert r.returncode == 0, r.stdout
    c = checks(r)["recorder_writing"]
    assert c["status"] == "warn" and "enabled but idle" in c["detail"]
    assert "3.0 h ago" in c["detail"] and "hermes chat" in c["fix"]


def test_all_good(tmp_path: Path, good_server: FakeOpenRouter) -> None:
    home = make_home(tmp_path, installed=True, row_age_s=30)
    (home / "config.yaml").write_text(
        (home / "config.yaml").read_text() + "provider_routing:\n  sort: price\n"
    )
    r = doctor(home, url=good_server.url)
    assert r.returncode == 0, r.stdout
    assert "FAIL" not in r.stdout and "Nothing needs fixing." in r.stdout
    assert "plugins.enabled [hermes-dash-recorder]" in r.stdout
    assert "model.default openai/gpt-4o-mini" in r.stdout
    assert "valid (sort price)" in r.stdout


def test_json_shape(tmp_path: Path, good_server: FakeOpenRouter) -> None:
    home = make_home(tmp_path, installed=True, row_age_s=30)
    r = doctor(home, "--json", url=good_server.url)
    out = json.loads(r.stdout)
    assert set(out) == {"ok", "version", "hermes_home", "call_log", "checks"}
    assert out["ok"] is True and out["hermes_home"] == str(home)
    ids = [c["id"] for c in out["checks"]]
    assert ids[:3] == ["home", "config", "key"] and "key_accepted" in ids
    for c in out["checks"]:
        assert set(c) == {"id", "title", "status", "detail", "fix"}
        assert c["status"] in {"ok", "warn", "fail", "info", "skip"}


def test_broken_config_and_routing(tmp_path: Path) -> None:
    home = make_home(tmp_path, installed=True, row_age_s=30)
    (home / "config.yaml").write_text("model: [unclosed\n")
    c = checks(doctor(home, "--json", "--offline"))
    assert c["config"]["status"] == "fail" and "line" in c["config"]["detail"]
    (home / "config.yaml").write_text(CONFIG + "provider_routing:\n  sort: fastest\n")
    r = doctor(home, "--json", "--offline")
    assert r.returncode == 1
    assert checks(r)["routing"]["status"] == "fail"


def test_corrupt_call_log(tmp_path: Path) -> None:
    home = make_home(tmp_path, installed=True)
    log = home / "hermes-dash" / "calls.db"
    log.parent.mkdir(exist_ok=True)
    log.write_bytes(b"this is not sqlite" * 100)
    r = doctor(home, "--json", "--offline")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    c = checks(r)["call_log"]
    assert c["status"] == "fail" and "corrupt" in c["detail"] and c["fix"].startswith("mv ")


def summary(
    home: Path, *args: str, url: str, key: str = FAKE_KEY
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENROUTER_")}
    env.update(HERMES_HOME=str(home), HERMES_DASH_OPENROUTER_URL=url, OPENROUTER_API_KEY=key)
    return subprocess.run(
        [sys.executable, "-m", "hermes_dash", "summary", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_summary_with_a_key_and_no_call_log(tmp_path: Path, good_server: FakeOpenRouter) -> None:
    home = make_home(tmp_path)
    r = summary(home, url=good_server.url)
    assert r.returncode == 0, r.stderr
    assert "usage $37.50" in r.stdout and "balance $74.75" in r.stdout
    assert "no call log at" in r.stdout and "'hermes-dash plugin install'" in r.stdout
    r = summary(home, "--json", url=good_server.url)
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["account"]["status"] == "ok" and s["account"]["usage"] == 37.5
    assert s["calls"] is None and "hermes-dash plugin install" in s["calls_missing"]
    assert s["providers"] == [] and s["burn_rate_usd_per_hour"] is None
    assert FAKE_KEY not in r.stdout + r.stderr
    # Nothing was created on the way: the recorder makes the log.
    assert not (home / "hermes-dash" / "calls.db").exists()


def test_summary_with_a_rejected_key_and_no_call_log(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    with FakeOpenRouter(prefixed({"/key": Reply(401, {"error": {"code": 401}})})) as srv:
        r = summary(home, url=srv.url)
    assert r.returncode == 1 and "401" in r.stderr and "Traceback" not in r.stderr


def test_no_answer_from_openrouter_is_explained(tmp_path: Path) -> None:
    home = make_home(tmp_path, installed=True, row_age_s=60)
    # The server holds the answer past the client's timeout (10 s, 1 s here): the check
    # gives up, with words.
    with FakeOpenRouter(prefixed({"/key": Reply(body=KEY_BODY, stall_s=30)})) as srv:
        r = doctor(home, "--json", url=srv.url, timeout_s=1)
    assert r.returncode == 1
    c = checks(r)["key_accepted"]
    assert c["status"] == "fail" and "in time" in c["detail"] and "network" in c["fix"]


def test_outside_text_is_shown_clean(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    (home / "config.yaml").write_text(
        'model:\n  default: "evil\\e[2J\\e]0;title\\a[b]model"\nprovider_routing:\n  sort: price\n'
    )
    r = doctor(home, "--offline")
    assert "\x1b" not in r.stdout and "\a" not in r.stdout
    assert "model.default evil" in r.stdout and "[b]model" in r.stdout
