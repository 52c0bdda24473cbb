"""Property: the summary's totals, provider rows and model rows equal a plain SQL
computation over the attempts in the window, whatever the rows are."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hermes_dash.calllog.records import Window
from hermes_dash.calllog.store import CallStore
from hermes_dash.services.account import AccountState
from hermes_dash.services.summary import build_summary

T0 = 1_790_000_000.0

attempts = st.fixed_dictionaries(
    {
        "started_at": st.floats(0, 3 * 86400, allow_nan=False).map(lambda o: T0 + o),
        "provider": st.sampled_from(["openrouter", "custom", "anthropic"]),
        "endpoint": st.sampled_from([None, "openrouter.ai", "10.0.0.5:8000", "llm.example:443"]),
        "base_url_host": st.sampled_from([None, "openrouter.ai"]),
        "upstream": st.sampled_from([None, "DeepInfra", "Fireworks"]),
        "model": st.sampled_from(["a/x", "b/y", "qwen3:8b"]),
        "attempt": st.sampled_from([None, 1, 2, 3]),
        "status": st.sampled_from(["ok", "error"]),
        "http_status": st.sampled_from([None, 200, 402, 429, 500]),
        "latency_s": st.floats(0.001, 30, allow_nan=False),
        "ttft_s": st.one_of(st.none(), st.floats(0.001, 5, allow_nan=False)),
        "cost": st.one_of(
            st.none(),
            st.tuples(
                st.sampled_from(["openrouter", "estimate", "none"]),
                st.floats(0, 2, allow_nan=False),
            ),
        ),
        "input_tokens": st.one_of(st.none(), st.integers(0, 10**6)),
        "output_tokens": st.one_of(st.none(), st.integers(0, 10**5)),
    }
)


def _row(a: dict[str, Any]) -> dict[str, Any]:
    row = {k: v for k, v in a.items() if k != "cost"}
    if a["cost"] is not None:
        row["cost_source"], row["cost_usd"] = a["cost"]
    return row


SUMS = ", ".join(
    f"COALESCE(SUM({e}), 0)"
    for e in (
        "COALESCE(attempt, 1) = 1",
        "1",
        "status = 'ok'",
        "status <> 'ok'",
        "COALESCE(http_status, 0) = 429",
        "cost_usd",
        "CASE WHEN cost_source = 'estimate' THEN cost_usd END",
        "cost_source IS NULL",
        "input_tokens",
        "output_tokens",
    )
)


def _expect(entry: dict[str, Any], plain: tuple[Any, ...]) -> None:
    calls, n, ok, errors, limited, cost, estimated, unpriced, tin, tout = plain
    assert entry.get("calls", entry.get("total")) == calls and entry["attempts"] == n
    assert entry["errors"] == errors and entry["rate_limited"] == limited
    assert entry["unpriced"] == unpriced
    if unpriced and cost == 0:
        assert entry["cost_usd"] is None  # unknown, never $0
    else:
        assert entry["cost_usd"] == pytest.approx(cost, abs=1e-5)
    if "ok" in entry:
        assert entry["ok"] == ok
        assert entry["cost_estimated_usd"] == pytest.approx(estimated, abs=1e-5)
    if "input_tokens" in entry:
        assert (entry["input_tokens"], entry["output_tokens"]) == (tin, tout)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(attempts, min_size=1, max_size=80),
    start=st.floats(0, 2 * 86400, allow_nan=False),
    length=st.sampled_from([3600.0, 86400.0, 7 * 86400.0]),
)
def test_summary_sums_equal_plain_sql(
    tmp_path_factory: pytest.TempPathFactory,
    rows: list[dict[str, Any]],
    start: float,
    length: float,
) -> None:
    path = tmp_path_factory.mktemp("sums") / "calls.db"
    store = CallStore(path)
    store.insert([_row(a) for a in rows])
    w = Window(T0 + start, T0 + start + length, "w")
    s = build_summary(store, w, AccountState.offline(), {}, w.end)
    store.close()
    conn = sqlite3.connect(path)
    where = "WHERE started_at >= ? AND started_at < ?"
    span = (w.start, w.end)
    _expect(s["calls"], conn.execute(f"SELECT {SUMS} FROM calls {where}", span).fetchone())
    endpoint = "COALESCE(endpoint, base_url_host, '')"
    plain = {
        (p, e or None, u or None): rest
        for p, e, u, *rest in conn.execute(
            f"SELECT provider, {endpoint}, COALESCE(upstream, ''), {SUMS} FROM calls {where} "
            "GROUP BY 1, 2, 3",
            span,
        )
    }
    shown = {(p["provider"], p["endpoint"], p["upstream"]): p for p in s["providers"]}
    assert set(shown) == set(plain)
    for key, entry in shown.items():
        _expect(entry, tuple(plain[key]))
    models = {
        m: rest
        for m, *rest in conn.execute(f"SELECT model, {SUMS} FROM calls {where} GROUP BY 1", span)
    }
    assert {m["model"] for m in s["models"]} == set(models)
    for entry in s["models"]:
        _expect(entry, tuple(models[entry["model"]]))
    conn.close()
