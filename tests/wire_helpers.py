"""Shared pieces of the wire recorder tests: a call log with the wire installed (and
removed afterwards), the OpenRouter-like server, reading the rows back."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hermes_dash.calllog import recorder
from hermes_dash.calllog.recorder import wire

from .openrouter_wire import WireServer

ROOT = Path(__file__).resolve().parent.parent
KEY = "sk-or-v1-THISKEYMUSTNEVERBESTORED0123456789"
HEADERS = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
def log(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "calls.db"
    recorder.configure(str(path))
    recorder.install_wire()
    try:
        yield path
    finally:
        # Leave the test process's httpx as it was: other tests must not be recorded.
        recorder.flush()
        wire.uninstall()
        recorder.configure(None)


@pytest.fixture
def server() -> Iterator[WireServer]:
    with WireServer() as srv:
        yield srv


def rows(path: Path) -> list[dict[str, Any]]:
    assert recorder.flush(30)
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM calls ORDER BY id")]
    finally:
        conn.close()


def chat(client: httpx.Client, model: str, **body: Any) -> httpx.Response:
    return client.post(
        "/chat/completions", json={"model": f"scenario/{model}", "messages": [], **body}
    )
