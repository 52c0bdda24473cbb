"""Shared fixtures: temporary Hermes homes, call logs with known rows, a fake OpenRouter."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hermes_dash.calllog.store import CallStore

FAKE_KEY = "sk-or-v1-0123456789abcdef0123456789abcdef0123456789abcdefFAKEKEY9"
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the developer's real keys, Hermes home or settings."""
    for name in (
        "OPENROUTER_API_KEY",
        "OPENROUTER_MANAGEMENT_KEY",
        "HERMES_DASH_DB",
        "HERMES_DASH_OPENROUTER_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HERMES_HOME", str(tmp_path / "no-hermes-home"))
    monkeypatch.setenv("HERMES_DASH_SETTINGS", str(tmp_path / "user-settings.json"))


@pytest.fixture
def hermes_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Hermes home set as HERMES_HOME."""
    home = tmp_path / "hermes"
    home.mkdir()
    monkeypatch.setenv("HERMES_HOME", str(home))
    return home


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CallStore]:
    """An empty call log in a real file."""
    s = CallStore(tmp_path / "calls.db")
    yield s
    s.close()


def call(t: float, **kw: object) -> dict[str, object]:
    """A call row with sensible defaults."""
    row: dict[str, object] = {
        "started_at": t,
        "provider": "openrouter",
        "model": "openai/gpt-4o-mini",
        "status": "ok",
        "http_status": 200,
        "latency_s": 1.0,
        "input_tokens": 100,
        "output_tokens": 10,
        "cost_usd": 0.01,
        "cost_source": "openrouter",
    }
    row.update(kw)
    return row


#: The reason every corpus skip starts with; the run's summary names those tests.
CORPUS_SKIP = "corpus file missing"
#: The reason a browser test skips where Chromium could not be installed.
NO_CHROMIUM = "chromium not installed"


def corpus_file(name: str) -> Path:
    """A file from the shared corpus (real-world inputs kept beside the repository, not
    in it), or skip the test when it is absent: the only skip a clone may see."""
    path = CORPUS / name
    if not path.is_file():
        pytest.skip(f"{CORPUS_SKIP}: {path}")
    return path


#: The reason the real-Prometheus tests give when its binary is missing.
PROMETHEUS_SKIP = "/usr/bin/prometheus is not installed (scripts/test.sh installs it as root)"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line per kind of test that did not run (corpus, browser, Prometheus), and why."""
    kinds = (
        (CORPUS_SKIP, "corpus test(s)", f"{CORPUS} is missing"),
        (NO_CHROMIUM, "browser test(s)", f"{NO_CHROMIUM} (/usr/bin/chromium)"),
        (PROMETHEUS_SKIP, "Prometheus end-to-end test(s)", PROMETHEUS_SKIP),
    )
    skipped = terminalreporter.stats.get("skipped", [])
    for marker, what, why in kinds:
        ids = [r.nodeid for r in skipped if marker in str(getattr(r, "longrepr", ""))]
        if ids:
            terminalreporter.write_line(f"not run: {len(ids)} {what}, {why}: " + ", ".join(ids))


os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")

# Screens show local wall-clock times; pin the zone so snapshots match everywhere.
os.environ["TZ"] = "UTC"
time.tzset()
