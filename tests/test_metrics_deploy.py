"""The shipped Prometheus config, alert rules and Grafana dashboard against what the
exporter really emits, and the README's metrics table against both."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from hermes_dash.calllog.store import CallStore

from .conftest import FAKE_KEY, call
from .fakeserver import CREDITS_BODY, KEY_BODY, FakeOpenRouter, Reply, prefixed
from .metrics_helpers import exporter

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
NAME = re.compile(r"\bhermes_dash_[a-z0-9_]+")


@pytest.fixture(scope="module")
def emitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[set[str], set[str]]:
    """(family names as the TYPE lines give them, sample names) of an exporter with
    everything present: calls, an account, budgets."""
    tmp = tmp_path_factory.mktemp("deploy")
    db = tmp / "calls.db"
    store = CallStore(db)
    now = time.time()
    store.insert([call(now - 60, ttft_s=0.2), call(now - 30, status="error", http_status=429)])
    store.close()
    settings = tmp / "settings.json"
    settings.write_text('{"daily_budget_usd": 5, "monthly_budget_usd": 50}')
    routes = prefixed({"/key": Reply(200, KEY_BODY), "/credits": Reply(200, CREDITS_BODY)})
    env = {"OPENROUTER_API_KEY": FAKE_KEY, "HERMES_DASH_SETTINGS": str(settings)}
    with (
        FakeOpenRouter(routes) as srv,
        exporter(db, "--openrouter-url", srv.url, env=env) as (
            _,
            url,
        ),
    ):
        import httpx

        deadline = time.monotonic() + 60
        text = httpx.get(url, timeout=30).text
        while "hermes_dash_account_balance_usd " not in text and time.monotonic() < deadline:
            time.sleep(0.2)
            text = httpx.get(url, timeout=30).text
    families = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
    samples = {
        line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and line[0] != "#"
    }
    assert "hermes_dash_account_balance_usd" in samples
    return families, samples


def _readme_metrics() -> set[str]:
    text = (ROOT / "README.md").read_text()
    table = [line for line in text.splitlines() if line.startswith("| `hermes_dash_")]
    return {NAME.search(line).group(0) for line in table}  # type: ignore[union-attr]


def test_every_emitted_metric_is_in_the_readme_table(emitted: tuple[set[str], set[str]]) -> None:
    families, _ = emitted
    documented = _readme_metrics()
    assert families <= documented, families - documented
    # ...and the table names nothing the exporter does not emit.
    assert documented <= families, documented - families


def _expressions() -> list[str]:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    dash = json.loads((DEPLOY / "grafana" / "hermes-dash.json").read_text())
    exprs += [t["expr"] for p in dash["panels"] for t in p["targets"]]
    exprs += [v["definition"] for v in dash["templating"]["list"] if "definition" in v]
    return exprs


def test_alerts_and_dashboard_name_only_emitted_metrics(emitted: tuple[set[str], set[str]]) -> None:
    _, samples = emitted
    exprs = _expressions()
    assert len(exprs) > 10
    named = {n for e in exprs for n in NAME.findall(e)}
    assert named and named <= samples, named - samples
    dash = (DEPLOY / "grafana" / "hermes-dash.json").read_text()
    # The dashboard shows what the issue asks of it.
    for wanted in (
        "cost_usd_total",
        "rate_limited_total",
        "histogram_quantile(0.95",
        "recorder_last_row_age",
    ):
        assert wanted in dash


def test_alert_rules_cover_budget_429_storm_and_silent_recorder() -> None:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    by_name = {r["alert"]: r["expr"] for g in rules["groups"] for r in g["rules"]}
    assert "hermes_dash_budget_usd" in by_name["HermesDashBudgetReached"]
    assert "hermes_dash_rate_limited_total" in by_name["HermesDash429Storm"]
    assert "hermes_dash_recorder_last_row_age_seconds" in by_name["HermesDashRecorderSilent"]


def _promtool() -> str:
    tool = shutil.which("promtool") or (
        "/usr/bin/promtool" if Path("/usr/bin/promtool").exists() else None
    )
    if tool is None:
        pytest.skip(
            "promtool not installed (Debian's prometheus package; scripts/test.sh installs it as root)"
        )
    return tool


def test_promtool_accepts_the_rules_and_the_config() -> None:
    tool = _promtool()
    r = subprocess.run(
        [tool, "check", "rules", str(DEPLOY / "prometheus" / "alerts.yml")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run(
        [tool, "check", "config", str(DEPLOY / "prometheus" / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_promtool_fires_the_429_storm_and_budget_rules(tmp_path: Path) -> None:
    """The rules' logic, not only their syntax: promtool's unit tests over series."""
    tool = _promtool()
    shutil.copy(DEPLOY / "prometheus" / "alerts.yml", tmp_path / "alerts.yml")
    tests = {
        "rule_files": ["alerts.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {
                        "series": 'hermes_dash_requests_total{host="a",instance="a:9464",model="m"}',
                        "values": "0+10x20",
                    },
                    {
                        "series": 'hermes_dash_rate_limited_total{host="a",instance="a:9464",model="m"}',
                        "values": "0+5x20",
                    },
                    {
                        "series": 'hermes_dash_requests_total{host="b",instance="b:9464",model="m"}',
                        "values": "0+10x20",
                    },
                    {
                        "series": 'hermes_dash_rate_limited_total{host="b",instance="b:9464",model="m"}',
                        "values": "0+0x20",
                    },
                    {
                        "series": 'hermes_dash_spend_usd{host="a",instance="a:9464",period="daily"}',
                        "values": "4 6",
                    },
                    {
                        "series": 'hermes_dash_budget_usd{host="a",instance="a:9464",period="daily"}',
                        "values": "5 5",
                    },
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "15m",
                        "alertname": "HermesDash429Storm",
                        "exp_alerts": [
                            {
                                "exp_labels": {"host": "a", "severity": "warning"},
                                "exp_annotations": {
                                    "summary": "a: 429 storm (50% of attempts rate limited)"
                                },
                            }
                        ],
                    },
                    {"eval_time": "0m", "alertname": "HermesDashBudgetReached", "exp_alerts": []},
                    {
                        "eval_time": "1m",
                        "alertname": "HermesDashBudgetReached",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "host": "a",
                                    "instance": "a:9464",
                                    "period": "daily",
                                    "severity": "critical",
                                },
                                "exp_annotations": {
                                    "summary": "a: daily budget reached",
                                    "description": "Logged spend 6.00 USD is at or over the daily budget.",
                                },
                            }
                        ],
                    },
                ],
            }
        ],
    }
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(tests))
    r = subprocess.run(
        [tool, "test", "rules", str(tmp_path / "tests.yml")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stdout + r.stderr
