"""A real Prometheus server (Debian's package) scraping real exporters, for the fleet's
end-to-end tests: a temporary config and storage, 127.0.0.1 only, a 1 s scrape interval."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from .conftest import PROMETHEUS_SKIP

BINARY = Path("/usr/bin/prometheus")
ROOT = Path(__file__).resolve().parents[1]
#: Generous: Prometheus' start and first scrapes on a busy two-core machine.
READY_TIMEOUT_S = 120.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def prometheus(tmp: Path, targets: dict[str, str]) -> Iterator[str]:
    """Prometheus scraping ``targets`` (host label -> host:port); yields its base URL."""
    if not BINARY.exists():
        pytest.skip(PROMETHEUS_SKIP)
    # The shipped alert rules, evaluated every second like the scrapes.
    shutil.copy(ROOT / "deploy" / "prometheus" / "alerts.yml", tmp / "alerts.yml")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(tmp / "alerts.yml")],
        "scrape_configs": [
            {
                "job_name": "hermes-dash",
                "static_configs": [
                    {"targets": [addr], "labels": {"host": host}} for host, addr in targets.items()
                ],
            }
        ],
    }
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = _free_port()
    log = (tmp / "prometheus.log").open("w")
    proc = subprocess.Popen(
        [
            str(BINARY),
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def query(url: str, promql: str) -> list[dict[str, Any]]:
    """An instant query's result vector (raises on an error status)."""
    r = httpx.get(f"{url}/api/v1/query", params={"query": promql}, timeout=30)
    body = r.json()
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def scalar(url: str, promql: str) -> float | None:
    """The single value of a one-element vector; None when empty."""
    result = query(url, promql)
    return float(result[0]["value"][1]) if result else None


def wait_for(condition: Any, timeout: float = READY_TIMEOUT_S, what: str = "") -> None:
    """Poll ``condition`` until it is true; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except (httpx.HTTPError, ValueError, KeyError, AssertionError) as exc:
            last = exc
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what} (last error: {last!r})")
