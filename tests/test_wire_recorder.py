"""The wire recorder: real httpx clients against a real server on 127.0.0.1 that answers
like OpenRouter, real SQLite files, real threads and processes."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from hermes_dash.calllog import recorder
from hermes_dash.calllog.recorder import values, wire

from . import wire_helpers
from .openrouter_wire import SECRET_TEXT, WireServer
from .wire_helpers import HEADERS, KEY, ROOT, chat, rows

# The shared fixtures, bound here so that pytest finds them for this module.
log = wire_helpers.log
server = wire_helpers.server


def test_billed_success_and_every_refusal_are_one_row_each(log: Path, server: WireServer) -> None:
    with httpx.Client(base_url=server.base_url, headers=HEADERS) as client:
        for model in ("ok", "upstream429", "or429", "credits", "5xx"):
            chat(client, model)
    got = {r["model"].split("/")[-1]: r for r in rows(log)}
    assert len(got) == 5 == len(server.requests)
    ok = got["ok"]
    assert ok["status"] == "ok" and ok["http_status"] == 200 and ok["source"] == "wire"
    assert ok["generation_id"].startswith("gen-") and ok["upstream"] == "DeepInfra"
    assert ok["cost_usd"] == pytest.approx(0.00123) and ok["cost_source"] == "openrouter"
    assert ok["upstream_cost_usd"] == pytest.approx(0.0011)
    assert (ok["input_tokens"], ok["cache_read_tokens"], ok["output_tokens"]) == (1200, 1000, 40)
    assert ok["reasoning_tokens"] == 12 and ok["finish_reason"] == "stop"
    assert ok["api"] == "chat" and ok["endpoint"] == server.base_url.split("/")[2]
    assert ok["stream"] == 0 and 0 < ok["ttft_s"] <= ok["latency_s"] < 5
    up = got["upstream429"]
    assert (up["status"], up["http_status"], up["error_reason"]) == ("error", 429, "rate_limit")
    assert up["error_provider"] == "DeepInfra" and up["retry_after_s"] == 2.0
    assert up["cost_usd"] == 0.0 and up["cost_source"] == "none"
    own = got["or429"]
    assert own["error_provider"] is None and own["ratelimit_limit"] == 20
    assert own["ratelimit_remaining"] == 0
    assert time.time() < own["ratelimit_reset"] < time.time() + 60  # ms on the wire
    assert got["credits"]["limit_source"] == "openrouter_credits"
    assert got["credits"]["http_status"] == 402
    assert got["5xx"]["error_reason"] == "server_error" and got["5xx"]["error_code"] == "502"
    data = log.read_bytes() + Path(f"{log}-wal").read_bytes()
    assert SECRET_TEXT.encode() not in data and KEY.encode() not in data


def test_streams_are_passed_through_unchanged_and_parsed(log: Path, server: WireServer) -> None:
    def body(model: str) -> bytes:
        with (
            httpx.Client(base_url=server.base_url) as client,
            client.stream(
                "POST", "/chat/completions", json={"model": f"s/{model}", "stream": True}
            ) as r,
        ):
            return b"".join(r.iter_raw())

    seen = body("ok")
    wire.uninstall()
    plain = body("ok")
    recorder.install_wire()
    # The same answer but for its generation id: byte for byte what Hermes would get.
    assert seen.replace(b"gen-000001", b"gen-000002") == plain
    body("streamerror")
    (ok, err) = rows(log)
    assert ok["stream"] == 1 and ok["status"] == "ok" and ok["upstream"] == "Fireworks"
    assert ok["cost_usd"] == pytest.approx(0.00123) and ok["input_tokens"] == 1200
    assert 0 < ok["ttft_s"] <= ok["latency_s"]
    assert err["http_status"] == 200 and err["status"] == "error"
    assert err["error_reason"] == "stream_error" and err["finish_reason"] == "error"
    assert err["error_code"] == "502" and err["generation_id"].startswith("gen-")
    assert err["cost_source"] is None  # billed or not: left for /generation, never $0


def test_a_cut_stream_and_one_closed_early_are_error_attempts(
    log: Path, server: WireServer
) -> None:
    with httpx.Client(base_url=server.base_url) as client:
        with (
            pytest.raises(httpx.RemoteProtocolError),  # Hermes sees the same error
            client.stream(
                "POST", "/chat/completions", json={"model": "s/cut", "stream": True}
            ) as r,
        ):
            for _ in r.iter_bytes():
                pass
        with client.stream(
            "POST", "/chat/completions", json={"model": "s/ok", "stream": True}
        ) as r:
            next(r.iter_raw())  # the caller stops reading after the first chunk
    cut, early = rows(log)
    assert (cut["status"], cut["http_status"], cut["error_reason"]) == ("error", 200, "stream_cut")
    assert cut["generation_id"].startswith("gen-") and cut["upstream"] == "Fireworks"
    assert early["status"] == "error" and early["error_reason"] == "stream_closed_early"


EXIT_MIDSTREAM = """
import sys, httpx
from hermes_dash.calllog import recorder
recorder.configure(sys.argv[1]); recorder.install_wire()
client = httpx.Client(base_url=sys.argv[2])
done = client.send(client.build_request("POST", "/chat/completions",
    json={"model": "s/ok", "stream": True}), stream=True)
chunks = done.iter_raw()
while b"[DONE]" not in next(chunks):  # read to the end marker, never close
    pass
held = client.send(client.build_request("POST", "/chat/completions",
    json={"model": "s/ok", "stream": True}), stream=True)
rest = held.iter_raw()
next(rest)  # one chunk, then the process ends with the body unread
"""


def test_rows_land_without_a_close_and_at_exit(tmp_path: Path, server: WireServer) -> None:
    path = tmp_path / "calls.db"
    out = subprocess.run(
        [sys.executable, "-c", EXIT_MIDSTREAM, str(path), server.base_url],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    got = sqlite3.connect(path).execute("SELECT status, error_reason FROM calls ORDER BY id")
    assert got.fetchall() == [("ok", None), ("error", "unfinished_at_exit")]


HARD_EXIT = """
import logging, os, sys, httpx
from hermes_dash.calllog import recorder
recorder.configure(sys.argv[1]); recorder.install_wire()
httpx.post(sys.argv[2] + "/chat/completions", json={"model": "s/ok"})
if sys.argv[3] == "turn-end":
    recorder.on_session_end(session_id="s", completed=True)
else:
    logging.shutdown()  # what hermes -z does right before os._exit
os._exit(0)  # skips atexit, as hermes -z does
"""


@pytest.mark.parametrize("how", ["turn-end", "logging-shutdown"])
def test_rows_survive_an_exit_that_skips_atexit(
    tmp_path: Path, server: WireServer, how: str
) -> None:
    path = tmp_path / "calls.db"
    out = subprocess.run(
        [sys.executable, "-c", HARD_EXIT, str(path), server.base_url, how],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert sqlite3.connect(path).execute("SELECT status FROM calls").fetchall() == [("ok",)]


def test_async_clients_and_other_apis(log: Path, server: WireServer) -> None:
    async def run() -> None:
        async with httpx.AsyncClient(base_url=server.base_url) as client:
            r = await client.post("/chat/completions", json={"model": "a/ok"})
            assert r.json()["id"].startswith("gen-")
            async with client.stream(
                "POST", "/chat/completions", json={"model": "a/ok", "stream": True}
            ) as s:
                async for _ in s.aiter_bytes():
                    pass
            await client.post("/messages", json={"model": "claude-x", "stream": True})
            await client.post("/messages", json={"model": "claude-x"})
            await client.post("/responses", json={"model": "resp-x"})
            await client.get("/models")  # not a model request: not recorded

    asyncio.run(run())
    got = rows(log)
    assert [r["api"] for r in got] == ["chat", "chat", "messages", "messages", "responses"]
    assert [r["stream"] for r in got] == [0, 1, 1, 0, 0]
    assert all(r["status"] == "ok" for r in got)
    assert got[1]["cost_usd"] == pytest.approx(0.00123)
    for anthropic in got[2:4]:
        # Anthropic's input_tokens excludes the cache: the row holds the whole prompt.
        assert anthropic["input_tokens"] == 460 and anthropic["cache_read_tokens"] == 400
        assert anthropic["output_tokens"] == 30 and anthropic["finish_reason"] == "end_turn"
    assert got[4]["input_tokens"] == 300 and got[4]["cost_usd"] == pytest.approx(0.0004)


def test_a_connection_that_never_opened_is_an_error_without_status(log: Path) -> None:
    with pytest.raises(httpx.ConnectError):
        httpx.post("http://127.0.0.1:9/v1/chat/completions", json={"model": "m"})
    (row,) = rows(log)
    assert row["http_status"] is None and row["status"] == "error"
    assert row["error_reason"] == "connect_error" and row["cost_source"] == "none"


def test_install_is_idempotent_across_threads_and_copies(log: Path, server: WireServer) -> None:
    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(lambda _: recorder.install_wire(), range(32)))
    send = httpx.Client.send
    assert getattr(send, "_hermes_dash_wire", False)
    assert not getattr(send.__wrapped__, "_hermes_dash_wire", False)  # wrapped once
    with httpx.Client(base_url=server.base_url) as client:
        chat(client, "ok")
    assert len(rows(log)) == 1


def test_hostile_answers_are_stored_sane(log: Path, server: WireServer) -> None:
    with httpx.Client(base_url=server.base_url) as client:
        chat(client, "hostile")
    (row,) = rows(log)
    assert row["upstream"] == "DeepInfra"  # escape and bidi characters gone
    assert row["response_model"] == "m"
    assert len(row["generation_id"]) == values.MAX_TEXT
    assert row["finish_reason"] == "stop"
    assert row["input_tokens"] is None and row["output_tokens"] is None
    assert row["cost_usd"] is None and row["upstream_cost_usd"] is None
    assert row["retry_after_s"] is None and row["ratelimit_remaining"] is None


def test_clean_row_rejects_impossible_values() -> None:
    now = time.time()
    for bad in (float("inf"), -1e18, float("nan"), "x", b"1", None, True):
        assert abs(values.clean_row({"started_at": bad}, now)["started_at"] - now) < 1
    assert values.clean_row({"started_at": now * 1000}, now)["started_at"] == pytest.approx(now)
    cleaned = values.clean_row(
        {
            "model": "a\x1b[31mb" + "c" * 500,
            "input_tokens": -3,
            "output_tokens": float("inf"),
            "cost_usd": "0.1",
            "latency_s": float("nan"),
            "status": "weird",
        },
        now,
    )
    assert cleaned["model"] == ("ab" + "c" * 500)[: values.MAX_TEXT]
    assert cleaned["input_tokens"] is None and cleaned["output_tokens"] is None
    assert cleaned["cost_usd"] is None and cleaned["latency_s"] is None
    assert cleaned["status"] == "error" and cleaned["provider"] == ""
