"""First-run commands and the dashboard's install key against hostile homes: files that
are not what they should be, keys with terminal controls, config.yaml changed behind a
confirmation. Real processes and real files throughout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .test_doctor import checks, doctor, make_home


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
