"""The wire recorder: real httpx clients against a real server on 127.0.0.1 that answers
like OpenRouter, real SQLite files, real threads and processes."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from hermes_dash.calllog import recorder
from hermes_dash.calllog.recorder import context, values, wire, writer
from hermes_dash.calllog.store import CallStore

from .openrouter_wire import SECRET_TEXT, WireServer

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


# --- context: Hermes' own structure, reproduced (module names and frame layout) ----------

HERMES_LIKE = """

class AIAgent:
    def __init__(self, base_url, send):
        self.session_id = "sess-1"
        self.platform = "telegram"
        self.provider = "openrouter"
        self.base_url = base_url
        self._current_api_request_id = None
        self._delegate_depth = 0
        self.send = send

def interruptible_api_call(agent, api_kwargs):
    # Hermes sends from a short-lived worker thread: no thread-local crosses over.
    out = {}
    def _call():
        out["r"] = agent.send(api_kwargs)
    t = threading.Thread(target=_call)
    t.start()
    t.join()
    return out["r"]

def handle_max_iterations(agent, messages, api_call_count):
    return agent.send({"model": "scenario/ok"})
"""

AUX_LIKE = """
def call_llm(task=None, *, send, model):
    return send({"model": model})
"""


def _module(name: str, source: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": name}
    exec(compile(source, f"<{name}>", "exec"), namespace)
    return namespace


def test_attempts_of_one_call_share_a_key_and_carry_hook_context(log: Path, tmp_path: Path) -> None:
    loop = _module("agent.chat_completion_helpers", HERMES_LIKE)
    aux = _module("agent.auxiliary_client", AUX_LIKE)
    with WireServer(flaky_failures=2) as srv, httpx.Client(base_url=srv.base_url) as client:

        def send(body: dict[str, Any]) -> int:
            return client.post("/chat/completions", json=body).status_code

        agent = loop["AIAgent"](srv.base_url, send)
        agent._current_api_request_id = "turn1:api:1"
        hook = dict(
            api_request_id="turn1:api:1",
            session_id="sess-1",
            platform="telegram",
            task_id="task-9",
            provider="openrouter",
            model="scenario/flaky",
            base_url=srv.base_url,
        )
        recorder.on_pre_api_request(**hook)
        statuses = []
        for _ in range(3):  # Hermes' retry loop: a new worker thread per attempt
            statuses.append(loop["interruptible_api_call"](agent, {"model": "scenario/flaky"}))
            if statuses[-1] == 429:
                recorder.on_api_request_error(**hook, status_code=429, reason="rate_limit")
        recorder.on_post_api_request(**hook, api_duration=1.0, usage={"input_tokens": 1})
        assert statuses == [429, 429, 200]
        # The iteration-limit summary reuses the agent (and its last request id).
        loop["handle_max_iterations"](agent, [], 3)
        aux["call_llm"]("compression", send=send, model="scenario/ok")
        aux["call_llm"]("title_generation", send=send, model="scenario/ok")
    got = rows(log)
    assert len(got) == 6 == len(srv.requests)  # no hook row beside the wire rows
    first3 = got[:3]
    assert len({r["call_key"] for r in first3}) == 1
    assert [r["attempt"] for r in first3] == [1, 2, 3]
    assert first3[0]["wait_s"] is None and all(r["wait_s"] >= 0 for r in first3[1:])
    for r in first3:
        assert (r["session_id"], r["platform"], r["task_id"]) == ("sess-1", "telegram", "task-9")
        assert (r["provider"], r["task"], r["request_id"]) == ("openrouter", "main", "turn1:api:1")
    summary, compression, title = got[3:]
    assert summary["task"] == "iteration_summary" and summary["session_id"] == "sess-1"
    assert summary["call_key"] != first3[0]["call_key"] and summary["attempt"] == 1
    assert compression["task"] == "compression" and title["task"] == "title_generation"
    assert compression["provider"] == "custom"  # a 127.0.0.1 server, no hook context
    assert compression["call_key"] != title["call_key"]


def test_provider_from_host_when_no_hook_says() -> None:
    assert context.provider_for_host("openrouter.ai") == "openrouter"
    assert context.provider_for_host("api.anthropic.com") == "anthropic"
    assert context.provider_for_host("192.168.1.5") == "custom"
    assert context.provider_for_host(None) == "custom"


def test_hooks_still_write_when_the_wire_did_not_see_the_request(log: Path) -> None:
    # A transport other than httpx (or the wire not installed): the hook row is the record.
    recorder.on_post_api_request(
        api_request_id="other:api:1",
        session_id="s",
        model="m",
        provider="bedrock",
        api_duration=0.5,
        usage={"input_tokens": 10, "cache_read_tokens": 5},
    )
    (row,) = rows(log)
    assert row["source"] == "hook" and row["input_tokens"] == 15 and row["attempt"] == 1


# --- threads, processes, locks --------------------------------------------------------


def test_eight_threads_through_real_clients_lose_nothing(log: Path, server: WireServer) -> None:
    n = 40
    dropped = recorder.dropped_total
    clients = [httpx.Client(base_url=server.base_url) for _ in range(8)]

    def work(i: int) -> None:
        client = clients[i % 8]
        for _ in range(n):
            assert chat(client, "ok").status_code == 200

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, range(8)))
    for c in clients:
        c.close()
    got = rows(log)
    assert len(got) == 8 * n == len(server.requests)
    assert len({r["call_key"] for r in got}) == 8 * n
    assert recorder.dropped_total == dropped


SENDER = """
import sys, httpx
from hermes_dash.calllog import recorder
recorder.configure(sys.argv[1]); recorder.install_wire()
with httpx.Client(base_url=sys.argv[2]) as c:
    for _ in range(int(sys.argv[3])):
        c.post("/chat/completions", json={"model": "scenario/ok"})
assert recorder.flush(60)
print(recorder.dropped_total)
"""


def test_two_processes_writing_at_once(tmp_path: Path, server: WireServer) -> None:
    path = tmp_path / "calls.db"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SENDER, str(path), server.base_url, "150"],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert [o.strip() for o in outs] == ["0", "0"]
    store = CallStore(path)
    assert store.conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0] == 300
    assert store.dropped_rows() == 0


LOCKER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""


def _hold_lock(path: Path, seconds: float) -> subprocess.Popen[str]:
    CallStore(path).close()  # the file and its schema exist
    proc = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_a_locked_log_never_holds_the_agent_up(log: Path, server: WireServer) -> None:
    with httpx.Client(base_url=server.base_url) as client:
        chat(client, "ok")  # warm: connection open, writer started
        assert recorder.flush()
        locker = _hold_lock(log, 3.0)
        took = []
        while locker.poll() is None and len(took) < 30:
            t0 = time.perf_counter()
            chat(client, "ok")
            took.append(time.perf_counter() - t0)
        # Send against an unlocked log for the baseline of this machine, now.
        locker.wait(30)
        base = []
        for _ in range(len(took)):
            t0 = time.perf_counter()
            chat(client, "ok")
            base.append(time.perf_counter() - t0)
    # The old recorder waited 2 s per request on the lock; now nothing waits on SQLite.
    assert max(took) < 0.5
    assert sorted(took)[len(took) // 2] < sorted(base)[len(base) // 2] + 0.02
    got = rows(log)  # every row lands once the lock is released
    assert len(got) == 1 + 2 * len(took) and CallStore(log).dropped_rows() == 0


def test_rows_past_the_retry_budget_are_counted_as_dropped(
    log: Path, server: WireServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "RETRY_BUDGET_S", 0.3)
    before = recorder.dropped_total
    with httpx.Client(base_url=server.base_url) as client:
        locker = _hold_lock(log, 3.0)
        for _ in range(5):
            chat(client, "ok")
        assert recorder.flush(10)
        assert recorder.dropped_total == before + 5
        locker.wait(30)
        chat(client, "ok")  # the next write that succeeds reports the drops
    assert len(rows(log)) == 1
    assert CallStore(log).dropped_rows() == 5


def test_the_plugin_as_installed_loads_and_records(tmp_path: Path, server: WireServer) -> None:
    from hermes_dash.services.plugin import PLUGIN_FILES, recorder_source

    src = recorder_source()
    assert set(PLUGIN_FILES) >= {p.name for p in src.glob("*.py")} | {"plugin.yaml"}
    folder = tmp_path / "home" / "plugins" / "hermes-dash-recorder"
    folder.mkdir(parents=True)
    for name in PLUGIN_FILES:
        (folder / name).write_bytes((src / name).read_bytes())
    script = f"""
import importlib.util, sys, types, httpx
ns = types.ModuleType("hermes_plugins"); ns.__path__ = []; sys.modules["hermes_plugins"] = ns
# As Hermes 0.19 loads a plugin folder: hermes_plugins.<slug>, a package.
spec = importlib.util.spec_from_file_location(
    "hermes_plugins.rec", {str(folder / "__init__.py")!r},
    submodule_search_locations=[{str(folder)!r}])
mod = importlib.util.module_from_spec(spec); sys.modules["hermes_plugins.rec"] = mod
spec.loader.exec_module(mod)
hooks = {{}}
class Ctx:
    def register_hook(self, name, fn): hooks[name] = fn
mod.register(Ctx())
assert sorted(hooks) == ["api_request_error", "post_api_request", "pre_api_request"]
assert "hermes_dash" not in sys.modules  # standard library and httpx only
httpx.post({server.base_url!r} + "/chat/completions", json={{"model": "scenario/ok"}})
"""
    env = {k: v for k, v in os.environ.items() if k not in ("HERMES_DASH_DB", "PYTHONPATH")}
    env["HERMES_HOME"] = str(tmp_path / "home")
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    (row,) = sqlite3.connect(tmp_path / "home" / "hermes-dash" / "calls.db").execute(
        "SELECT source, status, generation_id FROM calls"
    )
    assert row[0] == "wire" and row[1] == "ok" and row[2].startswith("gen-")  # flushed at exit
