"""Cost from the bill: estimates, local-or-paid, and summary/export pricing as real processes
against a fake OpenRouter on 127.0.0.1."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from hermes_dash.calllog.records import AccountSnapshot, CallRow
from hermes_dash.calllog.store import CallStore
from hermes_dash.cli.common import TIMEOUT_ENV
from hermes_dash.openrouter.records import Pricing
from hermes_dash.services.endpoints import EndpointPolicy, endpoint_of, is_private_address
from hermes_dash.services.enrich import estimate_cost
from tests.conftest import FAKE_KEY, call
from tests.fakeserver import CREDITS_BODY, KEY_BODY, FakeOpenRouter, Reply, prefixed
from tests.test_robustness import run

MODEL = "deepseek/deepseek-chat-v3.1"
#: List price and DeepInfra's own (cheaper) endpoint price, USD per token.
LIST = {"prompt": "0.000001", "completion": "0.000004", "input_cache_read": "0.0000001"}
DEEPINFRA = {"prompt": "0.0000005", "completion": "0.000002", "input_cache_read": "0.00000005"}
MODELS_BODY = {"data": [{"id": MODEL, "name": "DeepSeek", "pricing": LIST}]}
ENDPOINTS_BODY = {
    "data": {
        "id": MODEL,
        "endpoints": [
            {"provider_name": "DeepInfra", "tag": "deepinfra", "pricing": DEEPINFRA},
            {"provider_name": "Fireworks", "tag": "fireworks", "pricing": LIST},
        ],
    }
}


def _row(**kw: Any) -> CallRow:
    base: dict[str, Any] = dict.fromkeys(CallRow.COLUMNS)
    base.update(id=1, started_at=0.0, provider="openrouter", model=MODEL, status="ok")
    base.update(kw)
    return CallRow(**base)


def test_estimate_counts_cached_tokens_once() -> None:
    # 10,000 prompt tokens of which 8,000 were cache reads: 2,000 fresh at the prompt
    # price, 8,000 at the cache price. Subtracting the cache from a count that already
    # excluded it priced such calls several times too low.
    price = Pricing.parse(LIST)
    row = _row(input_tokens=10_000, cache_read_tokens=8_000, output_tokens=100)
    assert estimate_cost(row, price) == pytest.approx(2_000e-6 + 8_000e-7 + 100 * 4e-6)
    # cache writes (part of the prompt's count) at their own rate; reasoning at its own
    # rate; a per-request fee
    price = Pricing.parse(
        {
            **LIST,
            "input_cache_write": "0.0000012",
            "internal_reasoning": "0.00001",
            "request": "0.002",
        }
    )
    row = _row(input_tokens=1_000, cache_write_tokens=500, output_tokens=300, reasoning_tokens=200)
    assert estimate_cost(row, price) == pytest.approx(
        500e-6 + 500 * 1.2e-6 + 100 * 4e-6 + 200 * 1e-5 + 0.002
    )


def test_estimate_uses_the_prompt_length_tier() -> None:
    price = Pricing.parse(
        {
            **LIST,
            "overrides": [
                {"min_prompt_tokens": 200_000, "prompt": "0.000002", "completion": "0.000008"},
                {"utc_start": "00:00", "utc_end": "08:00", "prompt": "0"},  # not a tier
            ],
        }
    )
    short = _row(input_tokens=199_999, output_tokens=1)
    long = _row(input_tokens=200_000, output_tokens=1)
    assert estimate_cost(short, price) == pytest.approx(199_999e-6 + 4e-6)
    assert estimate_cost(long, price) == pytest.approx(200_000 * 2e-6 + 8e-6)


@pytest.mark.parametrize(
    ("endpoint", "local"),
    [
        ("10.0.0.5:8000", True),  # was billed: only 192.168.* counted as local
        ("192.168.1.20:11434", True),
        ("172.20.0.3", True),
        ("[::1]:8080", True),
        ("localhost:1234", True),
        ("169.254.10.1", True),
        ("api.together.xyz", False),
        ("192.169.1.1", False),  # looks like a private prefix, is a public address
        ("8.8.8.8:443", False),
    ],
)
def test_local_from_the_address(endpoint: str, local: bool) -> None:
    assert is_private_address(endpoint) is local
    assert EndpointPolicy().is_local(endpoint) is local


def test_local_or_paid_from_config_and_settings() -> None:
    config = {
        "model": {"provider": "lmstudio", "base_url": "http://gpu-box:1234/v1"},
        "custom_providers": [
            {"name": "ollama-lan", "base_url": "http://ollama.home:11434/v1"},
            {"name": "gateway", "base_url": "http://10.1.2.3:4000/v1", "api_key_env": "GW_KEY"},
        ],
        "providers": {"meta": {"base_url": "https://api.meta.ai/v1", "api_key": "x"}},
    }
    policy = EndpointPolicy.build(
        config,
        paid=["10.9.9.9"],
        local=["box.example.com:9000"],
        openrouter_url="http://127.0.0.1:5555/api/v1",
    )
    assert policy.is_local("gpu-box:1234")  # a local-server provider, known by name only
    assert policy.is_local("ollama.home:11434")  # a configured endpoint with no credential
    assert not policy.is_local("api.meta.ai")  # configured with a key, public
    assert policy.is_local("10.1.2.3:4000")  # a key, but a private address
    assert not policy.is_local("10.9.9.9:8000")  # the user says it bills
    assert policy.is_local("box.example.com:9000")  # the user says it does not
    assert not policy.is_local("127.0.0.1:5555")  # OpenRouter's URL is paid wherever it is
    assert endpoint_of("HTTP://Ollama.Home:11434/v1") == "ollama.home:11434"


def _log(path: Path, now: float) -> None:
    """Wire-level attempts of a few calls, one of each kind the pricing must handle."""
    store = CallStore(path)
    store.insert(
        [
            # billed on the wire: the cost, never touched
            call(
                now - 600,
                endpoint="openrouter.ai",
                upstream="Fireworks",
                cost_usd=0.05,
                cost_source="openrouter",
                call_key="a",
                attempt=1,
                ttft_s=0.2,
                source="wire",
            ),
            # 2 x 429 (upstream and OpenRouter's own) then a success the wire could not price
            call(
                now - 500,
                endpoint="openrouter.ai",
                status="error",
                http_status=429,
                error_provider="DeepInfra",
                cost_usd=None,
                cost_source=None,
                call_key="b",
                attempt=1,
                latency_s=0.05,
            ),
            call(
                now - 498,
                endpoint="openrouter.ai",
                status="error",
                http_status=429,
                cost_usd=None,
                cost_source=None,
                call_key="b",
                attempt=2,
                wait_s=1.5,
                latency_s=0.05,
            ),
            call(
                now - 495,
                endpoint="openrouter.ai",
                model=MODEL,
                upstream="DeepInfra",
                input_tokens=10_000,
                cache_read_tokens=8_000,
                output_tokens=100,
                cost_usd=None,
                cost_source=None,
                call_key="b",
                attempt=3,
                wait_s=1.4,
                latency_s=0.05,
            ),
            # a stream cut after it began: billed, priced from its tokens at list price
            call(
                now - 400,
                endpoint="openrouter.ai",
                model=MODEL,
                status="error",
                http_status=200,
                finish_reason="error",
                input_tokens=1_000,
                output_tokens=50,
                cost_usd=None,
                cost_source=None,
                call_key="c",
            ),
            # a 402 at the key limit
            call(
                now - 300,
                endpoint="openrouter.ai",
                status="error",
                http_status=402,
                limit_source="openrouter_key_limit",
                cost_usd=None,
                cost_source=None,
                call_key="d",
            ),
            # two local servers and a paid custom endpoint nobody can price
            call(
                now - 200,
                provider="custom",
                endpoint="10.0.0.5:8000",
                model="qwen3:8b",
                cost_usd=None,
                cost_source=None,
                call_key="e",
            ),
            call(
                now - 190,
                provider="custom",
                endpoint="192.168.1.20:11434",
                model="qwen3:8b",
                cost_usd=None,
                cost_source=None,
                call_key="f",
            ),
            call(
                now - 180,
                provider="custom",
                endpoint="llm.corp.example:443",
                model="corp-model",
                cost_usd=None,
                cost_source=None,
                call_key="g",
            ),
        ]
    )
    # /key's usage 20 hours ago: the bill since then is the difference to now.
    store.add_snapshot(AccountSnapshot(now - 20 * 3600, usage=KEY_BODY["data"]["usage"] - 0.5))
    store.close()


def _server(**extra: Any) -> FakeOpenRouter:
    key = {
        "data": {
            **KEY_BODY["data"],
            "free_model_daily_requests": {"used": 7, "limit": 1000, "remaining": 993},
        }
    }
    routes = {
        "/key": Reply(200, key),
        "/credits": Reply(200, CREDITS_BODY),
        "/models": Reply(200, MODELS_BODY),
        "/models/deepseek/deepseek-chat-v3.1/endpoints": Reply(200, ENDPOINTS_BODY),
        **extra,
    }
    return FakeOpenRouter(prefixed(routes))


def test_summary_prices_what_is_unpriced_and_reconciles(tmp_path: Path) -> None:
    now = time.time()
    db = tmp_path / "calls.db"
    _log(db, now)
    activity = {
        "data": [
            {
                "date": "2020-01-01",
                "model": MODEL,
                "provider_name": "DeepInfra",
                "usage": 1.0,
                "requests": 3,
            }
        ]
    }
    with _server(**{"/activity": Reply(200, activity)}) as srv:
        r = run(
            "summary",
            "--json",
            "--db",
            str(db),
            "--openrouter-url",
            srv.url,
            env={"OPENROUTER_API_KEY": FAKE_KEY, "OPENROUTER_MANAGEMENT_KEY": FAKE_KEY + "m"},
        )
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    calls = s["calls"]
    assert (calls["total"], calls["attempts"]) == (7, 9)
    assert calls["rate_limited"] == 2 and calls["unpriced"] == 1  # the corp endpoint
    deepinfra = 2_000 * 5e-7 + 8_000 * 5e-8 + 100 * 2e-6  # DeepInfra's own price
    cut = 1_000e-6 + 50 * 4e-6  # no upstream known: list price
    assert calls["cost_usd"] == pytest.approx(0.05 + deepinfra + cut, abs=1e-6)
    assert calls["cost_estimated_usd"] == pytest.approx(deepinfra + cut, abs=1e-6)
    providers = {(p["provider"], p["endpoint"], p["upstream"]): p for p in s["providers"]}
    # two custom endpoints are two rows; local ones cost a known 0, the paid one is unknown
    assert providers[("custom", "10.0.0.5:8000", None)]["cost_usd"] == 0.0
    assert providers[("custom", "10.0.0.5:8000", None)]["local"] is True
    assert providers[("custom", "192.168.1.20:11434", None)]["cost_usd"] == 0.0
    corp = providers[("custom", "llm.corp.example:443", None)]
    assert corp["cost_usd"] is None and corp["unpriced"] == 1 and corp["local"] is False
    assert providers[("openrouter", "openrouter.ai", "Fireworks")]["ttft_p50_s"] == pytest.approx(
        0.2, rel=0.1
    )
    limits = s["rate_limits"]
    assert limits["upstream_429"] == {"DeepInfra": 1} and limits["openrouter_429"] == 1
    assert limits["payment_required_402"] == {"openrouter_key_limit": 1}
    assert limits["last_402"]["message"].startswith("key limit reached, resets at 00:00 UTC")
    assert limits["free_model_daily_requests"] == {"used": 7, "limit": 1000, "source": "openrouter"}
    rec = s["reconciliation"]
    assert rec["billed_usd"] == pytest.approx(0.5)
    assert rec["logged_usd"] == pytest.approx(calls["cost_usd"], abs=1e-6)
    assert rec["difference_usd"] == pytest.approx(0.5 - calls["cost_usd"], abs=1e-6)
    assert rec["difference_is"] == "other apps or machines on this key"
    assert rec["coverage_pct"] == pytest.approx(100 * calls["cost_usd"] / 0.5, abs=0.1)
    assert rec["by_day_model"] == []  # /activity's day lies outside the window
    # billed rows untouched, every other row priced once
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT cost_usd FROM calls WHERE call_key = 'a'").fetchone() == (0.05,)
    sources = dict(
        conn.execute(
            "SELECT call_key || COALESCE(attempt, 1), cost_source FROM calls WHERE call_key IN ('b', 'e')"
        ).fetchall()
    )
    assert sources == {"b1": "none", "b2": "none", "b3": "estimate", "e1": "none"}


def test_summary_offline_leaves_the_network_alone(tmp_path: Path) -> None:
    now = time.time()
    db = tmp_path / "calls.db"
    _log(db, now)
    with _server() as srv:
        r = run(
            "summary",
            "--json",
            "--offline",
            "--db",
            str(db),
            "--openrouter-url",
            srv.url,
            env={"OPENROUTER_API_KEY": FAKE_KEY},
        )
        assert srv.requests == []
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    # local calls and refusals are known to cost nothing without asking anyone; the
    # rest stays unknown
    assert s["calls"]["unpriced"] == 3
    assert s["calls"]["cost_usd"] == pytest.approx(0.05)
    unknown = [p for p in s["providers"] if p["cost_usd"] is None]
    assert {(p["endpoint"], p["upstream"]) for p in unknown} == {
        ("llm.corp.example:443", None),
        ("openrouter.ai", "DeepInfra"),
        ("openrouter.ai", None),
    }
    assert s["reconciliation"]["billed_usd"] is None and s["reconciliation"]["coverage_pct"] is None
    r = run("summary", "--offline", "--db", str(db))
    assert "+3 unpriced" in r.stdout and "unknown" in r.stdout


def test_summary_ends_in_time_when_pricing_hangs(tmp_path: Path) -> None:
    now = time.time()
    db = tmp_path / "calls.db"
    _log(db, now)
    stall = Reply(200, MODELS_BODY, stall_s=12)  # longer than the client's timeout (1 s here)
    with _server(
        **{"/models": stall, "/models/deepseek/deepseek-chat-v3.1/endpoints": stall}
    ) as srv:
        started = time.monotonic()
        r = run(
            "summary",
            "--json",
            "--db",
            str(db),
            "--openrouter-url",
            srv.url,
            env={"OPENROUTER_API_KEY": FAKE_KEY, TIMEOUT_ENV: "1"},
        )
        took = time.monotonic() - started
    assert r.returncode == 0, r.stderr
    assert took < 60
    s = json.loads(r.stdout)
    assert s["calls"]["unpriced"] >= 2  # what could not be priced is unknown, not $0


def test_export_prices_first_unless_offline(tmp_path: Path) -> None:
    now = time.time()
    db = tmp_path / "calls.db"
    _log(db, now)
    with _server() as srv:
        env = {"OPENROUTER_API_KEY": FAKE_KEY}
        r = run(
            "export",
            "--format",
            "json",
            "--offline",
            "--db",
            str(db),
            "--openrouter-url",
            srv.url,
            env=env,
        )
        assert srv.requests == []
        rows = json.loads(r.stdout)
        assert sum(row["cost_source"] is None for row in rows) == 3
        r = run("export", "--format", "json", "--db", str(db), "--openrouter-url", srv.url, env=env)
    rows = json.loads(r.stdout)
    assert len(rows) == 9 and {"call_key", "attempt", "wait_s", "ttft_s", "endpoint"} <= set(
        rows[0]
    )
    assert [row["call_key"] for row in rows if row["cost_source"] is None] == ["g"]


def test_reconciliation_per_day_and_model_from_activity(tmp_path: Path) -> None:
    now = time.time()
    yesterday = now - now % 86400 - 86400
    day = time.strftime("%Y-%m-%d", time.gmtime(yesterday))
    db = tmp_path / "calls.db"
    store = CallStore(db)
    store.insert([call(yesterday + 43200, endpoint="openrouter.ai", cost_usd=0.3)])
    store.close()
    activity = {
        "data": [
            {
                "date": f"{day}T00:00:00Z",
                "model": "openai/gpt-4o-mini",
                "usage": 0.4,
                "requests": 2,
            },
            {"date": f"{day}T00:00:00Z", "model": "x/other", "usage": 0.1, "requests": 1},
            {"date": "2020-01-01", "model": "openai/gpt-4o-mini", "usage": 9.0, "requests": 9},
        ]
    }
    with _server(**{"/activity": Reply(200, activity)}) as srv:
        env = {"OPENROUTER_API_KEY": FAKE_KEY, "OPENROUTER_MANAGEMENT_KEY": FAKE_KEY + "m"}
        r = run(
            "summary",
            "--json",
            "--window",
            "7d",
            "--db",
            str(db),
            "--openrouter-url",
            srv.url,
            env=env,
        )
        # /activity is asked with the management key, never the API key
        (_path, headers), *_ = [q for q in srv.requests if q[0].endswith("/activity")]
        assert headers["authorization"] == f"Bearer {FAKE_KEY}m"
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["reconciliation"]["by_day_model"] == [
        {
            "date": day,
            "model": "openai/gpt-4o-mini",
            "billed_usd": 0.4,
            "requests": 2,
            "logged_usd": 0.3,
        },
        {"date": day, "model": "x/other", "billed_usd": 0.1, "requests": 1, "logged_usd": 0.0},
    ]
    # without a management key there is nothing to compare per day: null, not []
    with _server() as srv:
        r = run(
            "summary",
            "--json",
            "--window",
            "7d",
            "--db",
            str(db),
            "--openrouter-url",
            srv.url,
            env={"OPENROUTER_API_KEY": FAKE_KEY},
        )
    assert json.loads(r.stdout)["reconciliation"]["by_day_model"] is None
