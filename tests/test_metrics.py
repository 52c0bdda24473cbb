"""``hermes-dash metrics``: a real exporter process over real call logs, scraped over HTTP."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hermes_dash.calllog.store import CallStore
from hermes_dash.cli import main
from hermes_dash.services.metrics import HISTOGRAM_EDGES, le_text

from .conftest import FAKE_KEY, call
from .fakeserver import CREDITS_BODY, KEY_BODY, FakeOpenRouter, Reply, prefixed
from .metrics_helpers import exporter, log_totals, scrape, total

#: Every label any family may carry: nothing per session, generation or key.
ALLOWED_LABELS = {
    "provider",
    "endpoint",
    "upstream",
    "model",
    "source",
    "platform",
    "status_class",
    "period",
    "le",
}


@pytest.fixture(scope="module")
def demo_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("metrics") / "calls.db"
    assert main(["demo", "--generate", "3000", "--db", str(path), "--seed", "7"]) == 0
    return path


def _copy(src: Path, dst: Path) -> Path:
    """A copy through SQLite's backup: the demo's rows may still be in its WAL."""
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    a.close()
    b.close()
    return dst


def _assert_totals(samples: dict, expected: dict[str, float]) -> None:
    assert total(samples, "hermes_dash_requests_total") == expected["requests"]
    assert total(samples, "hermes_dash_calls_total") == expected["calls"]
    assert total(samples, "hermes_dash_rate_limited_total") == expected["rate_limited"]
    assert total(samples, "hermes_dash_errors_total") == expected["errors"]
    assert total(samples, "hermes_dash_input_tokens_total") == expected["input"]
    assert total(samples, "hermes_dash_output_tokens_total") == expected["output"]
    assert total(samples, "hermes_dash_unpriced_requests") == expected["unpriced"]
    billed = total(samples, "hermes_dash_cost_usd_total", source="billed")
    estimated = total(samples, "hermes_dash_cost_usd_total", source="estimated")
    assert billed == pytest.approx(expected["billed"], rel=1e-9)
    assert estimated == pytest.approx(expected["estimated"], rel=1e-9)
    # The breakdown by platform and status class adds up to the same attempts.
    assert total(samples, "hermes_dash_requests_by_status_total") == expected["requests"]
    assert (
        total(samples, "hermes_dash_requests_by_status_total", status_class="429")
        == expected["rate_limited"]
    )


def test_scrape_totals_equal_the_log(demo_log: Path, tmp_path: Path) -> None:
    db = _copy(demo_log, tmp_path / "calls.db")
    expected = log_totals(db)
    assert expected["requests"] > 0 and expected["rate_limited"] > 0
    with exporter(db) as (_, url):
        text, samples = scrape(url)
    _assert_totals(samples, expected)
    assert samples[("hermes_dash_calllog_up", ())] == 1.0
    assert all(set(dict(labels)) <= ALLOWED_LABELS for _, labels in samples)
    # Histogram buckets: exact counts of successful attempts under each bound, as the
    # raw latencies in the log say (not the rollups the exporter read them from).
    conn = sqlite3.connect(db)
    for _, bound in HISTOGRAM_EDGES:
        want = conn.execute(
            "SELECT COUNT(*) FROM calls WHERE status = 'ok' AND latency_s < ?", (bound,)
        ).fetchone()[0]
        got = total(samples, "hermes_dash_latency_seconds_bucket", le=le_text(bound))
        assert got == want, bound
    ok_latency = conn.execute(
        "SELECT COUNT(*) FROM calls WHERE status = 'ok' AND latency_s IS NOT NULL"
    ).fetchone()[0]
    ok_ttft = conn.execute(
        "SELECT COUNT(*) FROM calls WHERE status = 'ok' AND ttft_s IS NOT NULL"
    ).fetchone()[0]
    conn.close()
    assert total(samples, "hermes_dash_latency_seconds_count") == ok_latency
    assert total(samples, "hermes_dash_latency_seconds_bucket", le="+Inf") == ok_latency
    assert total(samples, "hermes_dash_ttft_seconds_count") == ok_ttft > 0
    # Unknown is absent, never 0: no key means no account gauges at all.
    assert "hermes_dash_account_balance_usd" not in text
    assert "hermes_dash_runway_hours" not in text


def test_counters_only_grow_while_the_log_grows(demo_log: Path, tmp_path: Path) -> None:
    db = _copy(demo_log, tmp_path / "calls.db")
    with exporter(db) as (_, url):
        _, before = scrape(url)
        now = time.time()
        store = CallStore(db)
        store.insert(
            [
                call(
                    now - 5,
                    model="new/model",
                    http_status=429,
                    status="error",
                    cost_usd=None,
                    cost_source=None,
                    latency_s=None,
                    platform="telegram",
                ),
                call(now - 4, model="new/model", upstream="DeepInfra", platform="telegram"),
                call(now - 3, model="openai/gpt-4o-mini", cost_usd=0.25, cost_source="estimate"),
            ]
        )
        store.close()
        _, after = scrape(url)
    _assert_totals(after, log_totals(db))
    for (name, labels), value in before.items():
        if name.endswith(("_total", "_bucket", "_count")):
            assert after[(name, labels)] >= value, (name, labels)
    assert total(after, "hermes_dash_rate_limited_total", model="new/model") == 1
    assert (
        total(after, "hermes_dash_requests_by_status_total", platform="telegram")
        == total(before, "hermes_dash_requests_by_status_total", platform="telegram") + 2
    )


def test_labels_are_outside_text_made_safe(tmp_path: Path) -> None:
    db = tmp_path / "calls.db"
    store = CallStore(db)
    now = time.time()
    store.insert(
        [
            call(
                now - 9,
                model="evil\x1b]52;c;cm0gLXJmIH4=\x07/model\nx",
                session_id="sess-SECRET-1",
                generation_id="gen-SECRET-2",
                platform="tele\x1b[31mgram",
                upstream="Deep\u202eInfra",
            ),
            call(now - 8, model="evil/model x", session_id="sess-SECRET-1"),
        ]
    )
    store.close()
    with exporter(db) as (_, url):
        text, samples = scrape(url)
    assert "\x1b" not in text and "\u202e" not in text and "\x07" not in text
    assert "SECRET" not in text
    models = {
        dict(labels).get("model")
        for (name, labels) in samples
        if name == "hermes_dash_requests_total"
    }
    # Two stored names that read the same once cleaned are one series, not two.
    assert models == {"evil/model x"}
    assert total(samples, "hermes_dash_requests_total") == 2
    assert total(samples, "hermes_dash_requests_by_status_total", platform="telegram") == 1
    assert total(samples, "hermes_dash_requests_total", upstream="DeepInfra") == 1


def test_account_gauges_from_openrouter_and_the_key_never_shown(
    demo_log: Path, tmp_path: Path
) -> None:
    db = _copy(demo_log, tmp_path / "calls.db")
    routes = prefixed({"/key": Reply(200, KEY_BODY), "/credits": Reply(200, CREDITS_BODY)})
    with (
        FakeOpenRouter(routes) as srv,
        exporter(db, "--openrouter-url", srv.url, env={"OPENROUTER_API_KEY": FAKE_KEY}) as (
            proc,
            url,
        ),
    ):
        deadline = time.monotonic() + 60
        text, samples = scrape(url)
        while ("hermes_dash_account_poll_ok", ()) not in samples and time.monotonic() < deadline:
            time.sleep(0.2)
            text, samples = scrape(url)
        assert srv.requests and srv.requests[0][1]["authorization"] == f"Bearer {FAKE_KEY}"
    out, err = proc.communicate(timeout=30)
    assert samples[("hermes_dash_account_poll_ok", ())] == 1.0
    assert samples[("hermes_dash_account_balance_usd", ())] == pytest.approx(74.75)
    assert samples[("hermes_dash_key_usage_usd", ())] == 37.5
    assert samples[("hermes_dash_key_limit_usd", ())] == 100.0
    assert samples[("hermes_dash_key_limit_remaining_usd", ())] == 62.5
    assert samples[("hermes_dash_runway_hours", ())] > 0
    for secret in (FAKE_KEY, FAKE_KEY[-8:], "sk-or-v1-abc"):
        assert secret not in text and secret not in out + err


def test_account_unknowns_are_absent_not_zero(demo_log: Path, tmp_path: Path) -> None:
    db = _copy(demo_log, tmp_path / "calls.db")
    body = {"data": {**KEY_BODY["data"], "limit": None, "limit_remaining": None}}
    routes = prefixed({"/key": Reply(200, body), "/credits": Reply(403, {"error": {"code": 403}})})
    with (
        FakeOpenRouter(routes) as srv,
        exporter(db, "--openrouter-url", srv.url, env={"OPENROUTER_API_KEY": FAKE_KEY}) as (_, url),
    ):
        deadline = time.monotonic() + 60
        text, samples = scrape(url)
        while ("hermes_dash_account_poll_ok", ()) not in samples and time.monotonic() < deadline:
            time.sleep(0.2)
            text, samples = scrape(url)
    assert samples[("hermes_dash_key_usage_usd", ())] == 37.5
    for absent in (
        "account_balance_usd",
        "key_limit_usd",
        "key_limit_remaining_usd",
        "runway_hours",
    ):
        assert f"hermes_dash_{absent} " not in text


def test_recorder_health_and_budgets(tmp_path: Path) -> None:
    db = tmp_path / "calls.db"
    store = CallStore(db)
    store.insert([call(time.time() - 120)])
    store.conn.execute("INSERT INTO recorder_state (key, value) VALUES ('dropped', 3)")
    store.close()
    settings = tmp_path / "settings.json"
    settings.write_text('{"daily_budget_usd": 5, "monthly_budget_usd": 50}')
    with exporter(db, env={"HERMES_DASH_SETTINGS": str(settings)}) as (_, url):
        _, samples = scrape(url)
    assert 110 <= samples[("hermes_dash_recorder_last_row_age_seconds", ())] < 3600
    assert samples[("hermes_dash_recorder_dropped_rows_total", ())] == 3
    assert samples[("hermes_dash_plugin_installed", ())] == 0
    assert samples[("hermes_dash_budget_usd", (("period", "daily"),))] == 5
    assert samples[("hermes_dash_budget_usd", (("period", "monthly"),))] == 50
    assert samples[("hermes_dash_spend_usd", (("period", "daily"),))] == pytest.approx(0.01)


def test_port_taken_is_one_line_and_exit_1(tmp_path: Path) -> None:
    db = tmp_path / "calls.db"
    CallStore(db).close()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "hermes_dash",
                "metrics",
                "--db",
                str(db),
                "--listen",
                f"127.0.0.1:{port}",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in r.stderr


@pytest.mark.parametrize("listen", ["9464", "host:port", "127.0.0.1:70000", ":9464"])
def test_bad_listen_is_a_usage_error(tmp_path: Path, listen: str) -> None:
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "hermes_dash",
            "metrics",
            "--db",
            str(tmp_path / "c.db"),
            "--listen",
            listen,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and "--listen" in r.stderr and "Traceback" not in r.stderr


def test_sigterm_exits_0(tmp_path: Path) -> None:
    db = tmp_path / "calls.db"
    CallStore(db).close()
    with exporter(db) as (proc, url):
        scrape(url)
    assert proc.returncode == 0
    assert "stopped" in proc.stderr.read() if proc.stderr else False


def test_a_log_that_cannot_be_read_is_calllog_up_0_not_a_failed_scrape(tmp_path: Path) -> None:
    db = tmp_path / "calls.db"
    store = CallStore(db)
    store.insert([call(time.time() - 60)])
    store.close()
    with exporter(db) as (_, url):
        _, samples = scrape(url)
        assert samples[("hermes_dash_calllog_up", ())] == 1.0
        # Replaced by something that is not a call log: the exporter reopens it and fails.
        replacement = tmp_path / "garbage"
        replacement.write_bytes(b"this is not a database" * 100)
        replacement.replace(db)
        _, samples = scrape(url)
        assert samples[("hermes_dash_calllog_up", ())] == 0.0
        assert total(samples, "hermes_dash_requests_total") == 0
        assert ("hermes_dash_plugin_installed", ()) in samples
