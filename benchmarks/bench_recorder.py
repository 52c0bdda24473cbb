"""The wire recorder's cost per request, against the same request without it.

    python benchmarks/bench_recorder.py          # 300 requests each way
    python benchmarks/bench_recorder.py --full   # 1,500 requests each way

1. A 50 ms chat completion through a real ``httpx.Client`` to a server on 127.0.0.1 (in
   another process), without and with the recorder, in pairs whose order flips, so that
   the machine's load hits both alike; "added" is the median of the paired differences.
   Target: overhead under 1 % of the request, 0 rows lost.
2. The recorder's own time on the agent's thread, without a network in the way: the same
   request through ``httpx.MockTransport`` (a JSON answer, and an SSE stream of 200
   chunks with the usage last), without and with the recorder.
3. The baseline the recorder replaced (issue #12 item 11): the same row written by a plain
   ``sqlite3`` insert, one transaction per call, on the calling thread.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _common import table

from hermes_dash.calllog import recorder
from hermes_dash.calllog.recorder import schema, wire

SERVER = r"""
import json, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
delay = float(sys.argv[1])
BODY = json.dumps({"id": "gen-1", "provider": "DeepInfra", "model": "m",
    "choices": [{"finish_reason": "stop", "message": {"content": "hello " * 50}}],
    "usage": {"prompt_tokens": 5000, "completion_tokens": 300, "cost": 0.0012,
              "prompt_tokens_details": {"cached_tokens": 1000}}}).encode()
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    def log_message(self, *a): pass
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        time.sleep(delay)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)
srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(srv.server_address[1], flush=True)
srv.serve_forever()
"""

PAYLOAD = {
    "model": "anthropic/claude-sonnet-4.5",
    "messages": [{"role": "user", "content": "x" * 20_000}],  # an agent's context
}


def _json_answer(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "id": "gen-1",
            "provider": "DeepInfra",
            "model": "m",
            "choices": [{"finish_reason": "stop", "message": {"content": "hello " * 50}}],
            "usage": {"prompt_tokens": 5000, "completion_tokens": 300, "cost": 0.0012},
        },
    )


def _sse_answer(request: httpx.Request) -> httpx.Response:
    chunk = {"id": "gen-1", "provider": "Fireworks", "model": "m"}
    events = [
        {**chunk, "choices": [{"delta": {"content": "word "}, "finish_reason": None}]}
        for _ in range(199)
    ]
    events.append({**chunk, "choices": [], "usage": {"prompt_tokens": 5000, "cost": 0.001}})
    body = [b"data: " + json.dumps(e).encode() + b"\n\n" for e in events] + [b"data: [DONE]\n\n"]
    # An iterator: the body arrives as 201 chunks, as a stream does.
    return httpx.Response(200, headers={"Content-Type": "text/event-stream"}, content=iter(body))


def _timed(client: httpx.Client, n: int, stream: bool = False) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        if stream:
            with client.stream("POST", "/chat/completions", json=PAYLOAD) as r:
                for _ in r.iter_bytes():
                    pass
        else:
            client.post("/chat/completions", json=PAYLOAD)
        out.append(time.perf_counter() - t)
    return out


def _paired(client: httpx.Client, n: int, stream: bool = False):  # type: ignore[no-untyped-def]
    """n requests without and n with the recorder, in pairs (the order flips every pair),
    so the machine's load hits both alike; returns (without, with)."""
    plain: list[float] = []
    recorded: list[float] = []
    _timed(client, 10, stream)  # warm the connection and the caches
    for i in range(n):
        for on in (i % 2 == 0, i % 2 == 1):
            if on:
                recorder.install_wire()
                recorded += _timed(client, 1, stream)
            else:
                wire.uninstall()
                plain += _timed(client, 1, stream)
    wire.uninstall()
    return plain, recorded


def _added(plain: list[float], recorded: list[float]) -> float:
    """The median of the paired differences, in seconds."""
    return statistics.median(r - p for p, r in zip(plain, recorded, strict=True))


def _count(path: str) -> int:
    conn = schema.connect(path)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0])
    finally:
        conn.close()


def _plain_inserts(path: str, n: int) -> list[float]:
    """Baseline: one sqlite3 transaction per call on the calling thread."""
    conn = schema.connect(path)
    schema.migrate(conn)
    row = {"started_at": time.time(), "model": "m", "provider": "openrouter", "status": "ok"}
    out = []
    for _ in range(n):
        t = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(schema.INSERT_CALL_SQL, schema.row_values(row))
        conn.execute("COMMIT")
        out.append(time.perf_counter() - t)
    conn.close()
    return out


def _ms(values: list[float], p: float = 0.5) -> float:
    return sorted(values)[min(len(values) - 1, int(p * len(values)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--full", action="store_true")
    n = 1_500 if parser.parse_args().full else 300
    rows = []
    with tempfile.TemporaryDirectory() as d:
        path = str(Path(d) / "calls.db")
        recorder.configure(path)
        server = subprocess.Popen(
            [sys.executable, "-c", SERVER, "0.05"], stdout=subprocess.PIPE, text=True
        )
        try:
            assert server.stdout is not None
            port = int(server.stdout.readline())
            with httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1") as client:
                plain, recorded = _paired(client, n)
        finally:
            server.terminate()
            server.wait()
        assert recorder.flush(60)
        lost = len(recorded) - _count(path) + recorder.dropped_total
        over = _added(plain, recorded)
        rows.append(
            [
                "50 ms request, real httpx + server",
                f"{_ms(plain):.2f}",
                f"{_ms(recorded):.2f}",
                f"{over * 1000:+.3f}",
                f"{over / 0.05 * 100:+.2f} %",
                str(lost),
            ]
        )
        for label, answer, stream in (
            ("agent-thread cost, JSON answer", _json_answer, False),
            ("agent-thread cost, SSE 200 chunks", _sse_answer, True),
        ):
            mock_path = str(Path(d) / f"mock-{stream}.db")
            recorder.configure(mock_path)
            transport = httpx.MockTransport(answer)
            with httpx.Client(base_url="https://openrouter.ai/api/v1", transport=transport) as c:
                plain, recorded = _paired(c, n * 4, stream)
            assert recorder.flush(60)
            lost = len(recorded) - _count(mock_path) + recorder.dropped_total
            over = _added(plain, recorded)
            rows.append(
                [
                    label,
                    f"{_ms(plain):.3f}",
                    f"{_ms(recorded):.3f}",
                    f"{over * 1000:+.3f}",
                    f"{over / 0.05 * 100:+.2f} % of 50 ms",
                    str(lost),
                ]
            )
        inserts = _plain_inserts(str(Path(d) / "plain.db"), n * 4)
        rows.append(
            [
                "baseline: plain sqlite3 insert per call",
                "",
                f"{_ms(inserts):.3f} (p99 {_ms(inserts, 0.99):.3f})",
                f"{_ms(inserts):+.3f}",
                f"{_ms(inserts) / 50 * 100:+.2f} % of 50 ms",
                "",
            ]
        )
        recorder.configure(None)
    table(
        f"recorder overhead per request (medians, ms; {n:,} real requests each way)",
        ["what", "without", "with recorder", "added (paired)", "of the request", "lost rows"],
        rows,
    )


if __name__ == "__main__":
    main()
