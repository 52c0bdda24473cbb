"""First-run commands and the dashboard's install key against hostile homes: files that
are not what they should be, keys with terminal controls, config.yaml changed behind a
confirmation. Real processes and real files throughout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .fakeserver import KEY_BODY, FakeOpenRouter, Reply, prefixed
from .test_doctor import checks, doctor, make_home, summary


def plugin_status(home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENROUTER_")}
    env["HERMES_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "hermes_dash", "plugin", "status"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_a_fifo_or_a_folder_in_place_of_the_call_log_is_named_not_waited_on(
    tmp_path: Path,
) -> None:
    home = make_home(tmp_path, installed=True)
    log = home / "hermes-dash" / "calls.db"
    log.parent.mkdir(exist_ok=True)
    os.mkfifo(log)
    # Opened read-only, SQLite would wait on the FIFO for a writer that never comes.
    r = doctor(home, "--json", "--offline")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    c = checks(r)["call_log"]
    assert c["status"] == "fail" and "FIFO" in c["detail"] and "not a regular file" in c["detail"]
    r = plugin_status(home)
    assert r.returncode == 0, r.stderr
    log.unlink()
    log.mkdir()
    c = checks(doctor(home, "--json", "--offline"))["call_log"]
    assert c["status"] == "fail" and "is a directory" in c["detail"]


@pytest.mark.parametrize(
    "key",
    [
        "sk-or-v1-0123456789abcdef\x1b[2J",  # a terminal control at the end: the masked tail
        "sk-or-v1-0123456789abcdef\u201d",  # a typographic quote pasted with the key
        "sk-or-v1-01234567\n89abcdef",  # a line break
    ],
)
def test_a_key_no_header_can_carry_is_explained_never_echoed(tmp_path: Path, key: str) -> None:
    home = make_home(tmp_path)
    with FakeOpenRouter(prefixed({"/key": Reply(body=KEY_BODY)})) as srv:
        r = doctor(home, "--json", key=key, url=srv.url)
        plain = doctor(home, key=key, url=srv.url)
        s = summary(home, url=srv.url, key=key)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    c = checks(r)
    assert c["key"]["status"] == "fail" and "copy the key again" in c["key"]["detail"]
    assert c["key"]["detail"].startswith("sk-or-v1-…")
    assert c["key_accepted"]["status"] == "skip"
    assert plain.returncode == 1 and "Traceback" not in plain.stderr
    for out in (r.stdout, plain.stdout, plain.stderr, s.stdout, s.stderr):
        assert "\x1b" not in out and "0123456789" not in out and "01234567" not in out
    # summary has nothing to show without a usable key: one line, exit 1.
    assert s.returncode == 1 and "Traceback" not in s.stderr, s.stderr
    assert s.stderr.count("\n") == 1 and "OPENROUTER_API_KEY holds a character" in s.stderr
    json.loads(r.stdout)
