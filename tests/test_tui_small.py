"""Small terminals: one compact line per panel leads, then the charts."""

from __future__ import annotations

from pathlib import Path

import pytest

from .tui_helpers import frozen_app, frozen_session, settle, wait_for

pytestmark = pytest.mark.asyncio


async def test_80x24_leads_with_one_line_per_panel(tmp_path: Path) -> None:
    app = frozen_app(frozen_session(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        data, snap = app.data, app.account.snapshot
        assert data is not None and snap is not None
        compact = app.dashboard.compact
        assert compact.display and compact.region.y <= 2
        lines = str(compact.render()).splitlines()
        assert len(lines) == 3 and all(len(line) <= 78 for line in lines)
        assert lines[0].startswith("Spend") and f"today ${snap.usage_daily:,.2f}" in lines[0]
        assert f"balance ${snap.balance:,.2f}" in lines[0] and "runway" in lines[0]
        assert lines[1].startswith("429s") and f"{data.totals.rate_limited:,} in 24h" in lines[1]
        assert data.last_rate_limit is not None and "last " in lines[1]
        errors = sum(g.totals.errors for g in data.providers)
        assert lines[2].startswith("Providers slowest p95") and f"errors {errors:,}" in lines[2]
        # Then the charts: both on the first screen, the panels' longer numbers left out.
        for panel in (app.dashboard.spend, app.dashboard.rate):
            assert not panel.stats.display or panel.stats.region.height == 0
            assert panel.chart.region.bottom <= 22
        await pilot.resize_terminal(160, 48)
        await wait_for(
            pilot,
            lambda: (
                app.dashboard.compact.region.height == 0
                and app.dashboard.spend.stats.region.height > 0
            ),
            "the wide layout",
        )
