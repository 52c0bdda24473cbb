"""Routing changes marked on the dashboard's time charts: the changes recorded beside the
call log that fall in the window, placed on the chart's time axis."""

from __future__ import annotations

from pathlib import Path

from hermes_dash.calllog.records import SeriesPoint
from hermes_dash.calllog.store import CallStore
from hermes_dash.routing.history import RoutingHistory, history_path
from hermes_dash.services.dashboard import build_dashboard
from hermes_dash.tui.widgets.charts import SeriesChart

from .conftest import call

NOW = 1_790_000_000.0
DAY = 86400.0


def test_changes_in_the_window_reach_the_dashboard_data(tmp_path: Path) -> None:
    store = CallStore(tmp_path / "calls.db")
    store.insert([call(NOW - 100)])
    config = tmp_path / "config.yaml"
    history = RoutingHistory(history_path(store.path))
    history.record(config, {}, {"sort": "price"}, "routing set", NOW - 3 * DAY)
    history.record(config, {"sort": "price"}, {"sort": "latency"}, "editor", NOW - 2 * 3600)
    assert build_dashboard(store, "24h", NOW, None).routing_changes == (NOW - 2 * 3600,)
    assert build_dashboard(store, "7d", NOW, None).routing_changes == (
        NOW - 3 * DAY,
        NOW - 2 * 3600,
    )
    assert build_dashboard(store, "1h", NOW, None).routing_changes == ()
    store.close()


def test_marks_sit_on_the_charts_time_axis() -> None:
    chart = SeriesChart(lambda p: p.cost_usd, "spend", "green")
    series = [SeriesPoint(NOW - 7 * DAY + i * DAY, 1.0, 0, 1) for i in range(8)]
    chart.show(series, NOW, marks=(NOW - 3 * DAY,))
    bars = chart._bars()
    assert bars.marks == (-3.0,) and bars.x_label == "days ago"
    assert "routing change" in bars.title
    chart.show(series, NOW)
    assert chart._bars().marks == () and "routing change" not in chart._bars().title
