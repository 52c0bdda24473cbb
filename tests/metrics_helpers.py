"""Running ``hermes-dash metrics`` as a real process and reading what it serves."""

from __future__ import annotations

import os
import re
import select
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

#: Generous: Python's start-up on a busy machine with seven people on two cores.
START_TIMEOUT_S = 60.0
_SERVING = re.compile(r"serving (http://\S+/metrics)")

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@contextmanager
def exporter(
    db: Path, *extra: str, env: dict[str, str] | None = None, listen: str = "127.0.0.1:0"
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """A ``hermes-dash metrics`` process over ``db``; yields it and its /metrics URL."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hermes_dash",
            "metrics",
            "--db",
            str(db),
            "--listen",
            listen,
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    try:
        url = _wait_serving(proc)
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_serving(proc: subprocess.Popen[str]) -> str:
    assert proc.stderr is not None
    deadline = time.monotonic() + START_TIMEOUT_S
    seen = ""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stderr], [], [], 0.5)
        if ready:
            line = proc.stderr.readline()
            seen += line
            m = _SERVING.search(line)
            if m:
                return m.group(1)
            if not line and proc.poll() is not None:
                break
    raise AssertionError(f"the exporter did not start: rc={proc.poll()} stderr={seen!r}")


def scrape(url: str) -> tuple[str, Samples]:
    """The exposition text and its samples keyed by (name, sorted labels)."""
    text = httpx.get(url, timeout=30).text
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return text, samples


def total(samples: Samples, name: str, **match: str) -> float:
    """Sum of a metric's samples whose labels include ``match``."""
    return sum(
        v
        for (n, labels), v in samples.items()
        if n == name and all(dict(labels).get(k) == want for k, want in match.items())
    )


def log_totals(db: Path) -> dict[str, float]:
    """The log's own totals, in plain SQL over the raw rows."""
    conn = sqlite3.connect(db)
    try:
        row = conn.execute(
            "SELECT COUNT(*), SUM(COALESCE(attempt, 1) = 1), SUM(http_status = 429), "
            "SUM(status <> 'ok'), "
            "TOTAL(CASE WHEN cost_source = 'estimate' THEN 0 ELSE cost_usd END), "
            "TOTAL(CASE WHEN cost_source = 'estimate' THEN cost_usd ELSE 0 END), "
            "TOTAL(input_tokens), TOTAL(output_tokens), SUM(cost_source IS NULL) FROM calls"
        ).fetchone()
    finally:
        conn.close()
    keys = (
        "requests",
        "calls",
        "rate_limited",
        "errors",
        "billed",
        "estimated",
        "input",
        "output",
        "unpriced",
    )
    return {k: float(v or 0) for k, v in zip(keys, row, strict=True)}
