"""The alert rules over real call logs, the notifier's dedup and retries, the settings
file's channel fields, and the TUI's banner from the same rules."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from hermes_dash.calllog.records import AccountSnapshot
from hermes_dash.calllog.store import CallStore
from hermes_dash.hermes.processes import hermes_running
from hermes_dash.services.account import AccountState
from hermes_dash.services.alerts import Alert, AlertRules, evaluate, gather
from hermes_dash.services.notify import DeliveryError, Event, Notifier
from hermes_dash.services.settings import UserSettings

from .conftest import call
from .tui_helpers import FROZEN_NOW, Notices, frozen_app, frozen_session, settle, wait_for

NOW = 1_795_618_800.0  # 15:00 UTC
OK = AccountState("ok", None)


def keys(store: CallStore, now: float = NOW, **kw: object) -> list[str]:
    account = kw.pop("account", OK)
    assert isinstance(account, AccountState)
    inputs = gather(store, now, account, AlertRules(), **kw)  # type: ignore[arg-type]
    return [a.key for a in evaluate(inputs, AlertRules())]


def loop_rows(
    session: str, n: int, t0: float, out: int = 42, **kw: object
) -> list[dict[str, object]]:
    return [
        call(t0 + i, session_id=session, output_tokens=out, task="main", **kw) for i in range(n)
    ]


def test_request_loop_needs_near_identical_calls_in_a_row(store: CallStore) -> None:
    # Varied answers: a busy session, not a loop.
    store.insert(
        [
            call(NOW - 600 + i, session_id="busy", output_tokens=50 + 40 * i, cost_usd=0.0)
            for i in range(40)
        ]
    )
    assert not [k for k in keys(store) if k.startswith("loop:")]
    # A loop that ended with a different call is over.
    store.insert(
        [
            *loop_rows("ended", 25, NOW - 500, cost_usd=0.0),
            call(NOW - 400, session_id="ended", output_tokens=900, cost_usd=0.0),
        ]
    )
    assert not [k for k in keys(store) if k.startswith("loop:")]
    store.insert(loop_rows("stuck", 20, NOW - 300, cost_usd=0.0))
    assert [k for k in keys(store) if k.startswith("loop:")] == ["loop:stuck"]


def test_runaway_spend_against_the_same_hours_usual_rate(store: CallStore) -> None:
    # The last 7 days at this hour: $0.30/min (one $18 call per hour).
    store.insert(
        [call(NOW - d * 86400 + 60, session_id=f"old-{d}", cost_usd=18.0) for d in range(1, 8)]
    )
    # Now: $0.50/min over 10 minutes, under 4x the usual rate.
    store.insert(
        [
            call(NOW - 500 + i * 50, session_id="normal", output_tokens=i * 100, cost_usd=0.5)
            for i in range(10)
        ]
    )
    assert "runaway-spend" not in keys(store)
    # $15/min: far above it, and the session is named.
    store.insert(
        [
            call(NOW - 100 + i, session_id="cron_report", output_tokens=i * 100, cost_usd=15.0)
            for i in range(10)
        ]
    )
    inputs = gather(store, NOW, OK, AlertRules())
    alert = next(a for a in evaluate(inputs, AlertRules()) if a.key == "runaway-spend")
    assert "session cron_report spent $150.00" in alert.message and "x the usual" in alert.message


def test_storm_free_quota_and_402(store: CallStore) -> None:
    rows = [call(NOW - 100 + i, status="error", http_status=429, cost_usd=None) for i in range(3)]
    rows += [call(NOW - 90 + i, output_tokens=i * 100) for i in range(20)]
    store.insert(rows)
    assert "429-storm" not in keys(store)  # 3 of 23: 13 %
    store.insert(
        [call(NOW - 50 + i, status="error", http_status=429, cost_usd=None) for i in range(5)]
    )
    assert "429-storm" in keys(store)  # 8 of 28
    snap = AccountSnapshot(
        taken_at=NOW, is_free_tier=True, limit=10.0, limit_remaining=5.0, limit_reset="daily"
    )
    store.insert(
        [
            call(NOW - 3000 + i, model="meta/llama:free", output_tokens=i, cost_usd=0.0)
            for i in range(42)
        ]
    )
    got = keys(store, account=AccountState("ok", snap))
    assert "free-quota:80" in got
    store.insert(
        [
            call(
                NOW - 20,
                status="error",
                http_status=402,
                limit_source="openrouter_key_limit",
                cost_usd=None,
            )
        ]
    )
    inputs = gather(store, NOW, AccountState("ok", snap), AlertRules())
    refused = next(a for a in evaluate(inputs, AlertRules()) if a.key == "refused-402")
    assert (
        refused.message
        == "Calls refused (402): key limit reached, resets at 00:00 UTC (in 9 h 0 min)"
    )


def test_recorder_silent_only_while_hermes_runs(store: CallStore, tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    (proc / "100").mkdir(parents=True)
    (proc / "100" / "cmdline").write_bytes(b"/usr/bin/python3\0-m\0hermes_dash\0watch\0")
    (proc / "self").mkdir()
    assert not hermes_running(proc)
    store.insert([call(NOW - 7200)])
    assert "recorder-silent" not in keys(store, hermes_running=hermes_running(proc))
    (proc / "200").mkdir()
    (proc / "200" / "cmdline").write_bytes(
        b"/usr/bin/python3\0/home/u/.local/bin/hermes\0gateway\0"
    )
    assert hermes_running(proc)
    assert "recorder-silent" in keys(store, hermes_running=True)
    store.insert([call(NOW - 60)])
    assert "recorder-silent" not in keys(store, hermes_running=True)


def test_key_failing_and_credits() -> None:
    from hermes_dash.services.alerts import AlertInputs

    failing = AlertInputs(
        now=NOW, account=AccountState("unauthorized", None, "OpenRouter rejected the API key (401)")
    )
    assert [a.key for a in evaluate(failing, AlertRules())] == ["key-failing"]
    broke = AccountSnapshot(taken_at=NOW, credits_total=10.0, credits_used=10.0)
    out = evaluate(AlertInputs(now=NOW, account=AccountState("ok", broke)), AlertRules())
    assert [a.key for a in out] == ["credits"]


class Flaky:
    """A channel that refuses while ``down``."""

    name = "flaky"

    def __init__(self) -> None:
        self.down = False
        self.tries = 0
        self.got: list[tuple[str, str]] = []

    async def send(self, event: Event) -> None:
        self.tries += 1
        if self.down:
            raise DeliveryError("HTTP 503")
        self.got.append((event.kind, event.alert.key))


def test_notifier_dedups_escalates_recovers_and_retries() -> None:
    clock = [0.0]
    channel = Flaky()
    n = Notifier([channel], retry_base_s=1.0, clock=lambda: clock[0], log=lambda _: None)
    warn = Alert("budget-daily:80", "warning", "80", "budget-daily")
    err = Alert("budget-daily:100", "error", "100", "budget-daily")

    def step(alerts: list[Alert]) -> None:
        n.observe(alerts)
        asyncio.run(n.deliver())

    step([warn])
    step([warn])
    step([err])
    step([warn])  # back under 100 %: nothing new to say
    step([])
    assert channel.got == [
        ("alert", "budget-daily:80"),
        ("alert", "budget-daily:100"),
        ("recovered", "budget-daily:80"),
    ]
    channel.down = True
    step([err])
    tries = channel.tries
    asyncio.run(n.deliver())  # not due yet: the backoff holds it
    assert channel.tries == tries
    clock[0] += 1.0
    asyncio.run(n.deliver())
    assert channel.tries == tries + 1
    clock[0] += 1.5
    asyncio.run(n.deliver())  # 2 s after the second failure: still waiting
    assert channel.tries == tries + 1
    channel.down = False
    clock[0] += 1.0
    step([err])
    step([err])
    assert channel.got[3:] == [("alert", "budget-daily:100")]


def test_settings_channel_fields_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    prefs = UserSettings(
        alert_webhooks=["https://hooks.slack.com/x"],
        alert_ntfy_url="https://ntfy.sh/t",
        alert_desktop=False,
    )
    prefs.save(path)
    back = UserSettings.load(path)
    assert (back.alert_webhooks, back.alert_ntfy_url, back.alert_desktop) == (
        ["https://hooks.slack.com/x"],
        "https://ntfy.sh/t",
        False,
    )
    path.write_text(
        json.dumps(
            {
                "alert_webhooks": "not a list",
                "alert_ntfy_url": 3,
                "alert_desktop": "yes",
                "daily_budget_usd": 5,
            }
        )
    )
    back = UserSettings.load(path)
    assert (
        back.alert_webhooks,
        back.alert_ntfy_url,
        back.alert_desktop,
        back.daily_budget_usd,
    ) == ([], None, True, 5.0)


async def test_tui_banner_shows_a_request_loop(tmp_path: Path) -> None:
    """The dashboard's banner comes from the same rules as ``watch``."""
    session = frozen_session(tmp_path, calls=300)
    session.store.insert(loop_rows("cron_stuck-job", 25, FROZEN_NOW - 120, cost_usd=0.0))
    app = frozen_app(session, prefs=UserSettings(runway_alert_hours=None))
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        await wait_for(
            pilot, lambda: any(a.key == "loop:cron_stuck-job" for a in app.alerts), "the loop alert"
        )
        banner = app.screen.query_one("#banner")
        assert banner.has_class("-visible")
        assert "Request loop: session cron_stuck-job made 25 near-identical" in str(banner.render())


def test_signal_queries_never_scan_the_whole_log(store: CallStore) -> None:
    """Every query the rules make reads a time range through the started_at index; through
    the session index (which the planner picks for GROUP BY session_id) a poll read the
    whole log: a second per million rows."""
    from hermes_dash.services.alerts import signals_for

    store.insert([call(NOW - i * 60, session_id=f"s{i % 7}") for i in range(5000)])
    store.conn.execute("ANALYZE")  # with statistics, as a long-lived log has them
    seen: list[str] = []
    store.conn.set_trace_callback(seen.append)
    try:
        signals_for(store, NOW, AlertRules())
    finally:
        store.conn.set_trace_callback(None)
    selects = [q for q in seen if q.lstrip().upper().startswith("SELECT") and "FROM calls" in q]
    assert len(selects) >= 5
    for sql in selects:
        plan = " ".join(str(r[-1]) for r in store.conn.execute("EXPLAIN QUERY PLAN " + sql))
        if "FROM calls_hourly" in sql:  # the usual rate: whole past hours of the rollup
            assert "PRIMARY KEY (hour=?)" in plan and "SCAN" not in plan, (sql, plan)
        else:
            assert "calls_started" in plan and "SCAN calls" not in plan, (sql, plan)


async def test_session_names_in_alerts_are_shown_literally(tmp_path: Path) -> None:
    """Session ids come from the call log: square brackets in one must neither style the
    banner nor break it."""
    session = frozen_session(tmp_path, calls=300)
    name = "cron_[/oops]_[bold]x"
    app = frozen_app(session, prefs=UserSettings(runway_alert_hours=None))
    notices = Notices()
    async with app.run_test(size=(160, 48), message_hook=notices) as pilot:
        await settle(pilot, app)
        session.store.insert(loop_rows(name, 25, FROZEN_NOW - 120, cost_usd=0.0))
        await pilot.press("r")
        await wait_for(pilot, lambda: any(a.key == f"loop:{name}" for a in app.alerts), "the alert")
        await pilot.pause()
        banner = app.screen.query_one("#banner")
        assert f"session {name} made 25" in str(banner.render())
        assert any(name in m for m in notices.messages())
