"""The wire recorder's context (Hermes' worker threads, auxiliary tasks, retries), its
writer under threads, processes and a locked log, the plugin as installed, and the demo
written in the recorder's shape."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from hermes_dash.calllog import recorder
from hermes_dash.calllog.recorder import context, values, writer
from hermes_dash.calllog.store import CallStore

from . import wire_helpers
from .openrouter_wire import WireServer
from .wire_helpers import ROOT, chat, rows

# The shared fixtures, bound here so that pytest finds them for this module.
log = wire_helpers.log
server = wire_helpers.server

# --- context: Hermes' own structure, reproduced (module names and frame layout) ----------

HERMES_LIKE = """
import threading

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
assert sorted(hooks) == [
    "api_request_error", "on_session_end", "post_api_request", "pre_api_request"]
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


# --- the demo writes what the recorder writes ------------------------------------------


def test_demo_rows_are_shaped_like_the_wire_recorders() -> None:
    from hermes_dash.demo.generator import generate_rows

    now = 1_795_618_800.0
    got = list(generate_rows(20_000, seed=3, days=7, now=now))
    assert len(got) == 20_000  # --generate N writes N rows (attempts)
    assert [r["started_at"] for r in got] == sorted(r["started_at"] for r in got)
    assert all(r["source"] == "wire" and r["started_at"] < now for r in got)
    calls: dict[str, list[dict[str, Any]]] = {}
    for r in got:
        calls.setdefault(r["call_key"], []).append(r)
    retried = [a for a in calls.values() if len(a) > 1]
    assert retried and all([r["attempt"] for r in a] == list(range(1, len(a) + 1)) for a in retried)
    assert all(a[i]["wait_s"] > 0 for a in retried for i in range(1, len(a)))
    limited = [r for r in got if r["http_status"] == 429]
    assert any(r.get("error_provider") for r in limited)  # an upstream's own 429
    assert any(r.get("ratelimit_limit") for r in limited)  # OpenRouter's, with its headers
    assert all(r.get("error_provider") or r.get("ratelimit_limit") for r in limited)
    assert any(r.get("limit_source") for r in got if r["http_status"] == 402)
    assert {"stream_error", "stream_cut"} <= {r.get("error_reason") for r in got}
    ok = [r for r in got if r["status"] == "ok"]
    assert all(0 < r["ttft_s"] < r["latency_s"] and r["endpoint"] for r in ok)
    billed = [r for r in ok if r["provider"] == "openrouter"]
    assert all(
        r["generation_id"] and r["upstream"] and r["cost_source"] == "openrouter" for r in billed
    )
    assert {r["task"] for r in got} >= {"main", "subagent", "compression", "title_generation"}
    for r in got[:2000]:  # what the demo writes is already what the recorder would store
        cleaned = values.clean_row(r, now)
        assert {k: cleaned[k] for k in r} == r


def test_demo_feed_records_each_attempt_when_it_ends(log: Path) -> None:
    from hermes_dash.demo.live import DemoFeed

    feed = DemoFeed(seed=5)
    t = time.time()
    for i in range(50):
        feed.emit(t + i)
    feed.due(t + 10_000)  # every attempt, retries included, has ended by then
    got = rows(log)
    assert len(got) >= 50 and len({r["call_key"] for r in got}) == 50
    assert all(r["source"] == "wire" for r in got)
