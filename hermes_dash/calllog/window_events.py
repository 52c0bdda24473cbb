"""A window's 429s and 402s, its chart series, and the per-day and per-task reads the
cost views ask for: the window queries beside :class:`~.windows.WindowQueries`'s sums and
percentiles, over the same connection and the same kept answers.
"""

from __future__ import annotations

import math
from typing import Any

from hermes_dash.calllog.connection import LIMITED_WHERE
from hermes_dash.calllog.recorder import rollups
from hermes_dash.calllog.recorder.rollups import sane_number
from hermes_dash.calllog.records import LimitEvents, SeriesPoint, Window
from hermes_dash.calllog.sane import MAX_SANE_COUNT, finite, key_text, sane_count, sane_time
from hermes_dash.calllog.windows import WindowQueries, count_sql


class WindowEvents:
    """The events and series of a window, read through a :class:`WindowQueries`'s
    connection, kept answers and window plan."""

    def __init__(self, windows: WindowQueries) -> None:
        self.windows = windows
        self.db = windows.db
        self.kept = windows.kept

    def limit_events(self, window: Window) -> LimitEvents:
        """The window's 429s by origin and 402s by limit source (a partial index keeps
        this off the window's other rows)."""
        counts = (
            "SELECT http_status, COALESCE(error_provider, ''), COALESCE(limit_source, ''), "
            f"COUNT(*) FROM calls WHERE {LIMITED_WHERE} AND {{t}} >= ? AND {{t}} < ?"
        )
        sql = counts.format(t="started_at")
        # Whole hours up to the end of the day are kept from poll to poll when no call has
        # started after the window's end (the usual case): the same answer, read once. The
        # hour the window starts in is read whole less its part before the start when that
        # is the shorter stretch (these are counts: they subtract exactly).
        group = " GROUP BY 1, 2, 3"
        start, end = window.start, window.end
        first = math.ceil(start / 3600) * 3600
        quiet = self.windows.end_of_quiet(end, (("", "", 86400),))
        signed: list[tuple[int, list[tuple[Any, ...]]]] = []
        if first < end < quiet:
            hour = math.floor(start / 3600) * 3600
            if start - hour < first - start:
                first = hour
                signed.append((-1, self.db.query(sql + group, (hour, start))))
            else:
                signed.append((1, self.db.query(sql + group, (start, first))))
            # The new calls through the primary key (the unary + keeps the planner off the
            # time index, which walks the kept stretch's every 402 and 429: 0.30 ms for a
            # month against 0.01 ms).
            delta = counts.format(t="+started_at")
            kept = self.kept.rows(
                sql + group, f"{delta} AND id > ? AND id <= ?{group}", first, int(quiet), 3
            )
            signed.append((1, kept))
        else:
            signed.append((1, self.db.query(sql + group, (start, end))))
        upstream: dict[str, int] = {}
        own = 0
        payment: dict[str, int] = {}
        for sign, rows in signed:
            for status, raw_provider, raw_source, raw_n in rows:
                # Another writer's odd values are read as text and counts, never trusted.
                provider, source = key_text(raw_provider), key_text(raw_source)
                n = sane_count(raw_n)
                if not n:
                    continue
                if status == 429 and provider:
                    upstream[provider] = upstream.get(provider, 0) + sign * n
                elif status == 429:
                    own += sign * n
                else:
                    payment[source] = payment.get(source, 0) + sign * n
        # Nothing below 0 (only a row changed between two reads could make it so).
        upstream = {k: n for k, n in upstream.items() if n > 0}
        payment = {k: n for k, n in payment.items() if n > 0}
        own = max(0, own)
        last = self.db.rows(
            f"WHERE {LIMITED_WHERE} AND started_at >= ? AND started_at < ? AND http_status = 402 "
            "ORDER BY started_at DESC LIMIT 1",
            (window.start, window.end),
        )
        ok = self.db.query(
            "SELECT started_at FROM calls WHERE started_at >= ? AND status = 'ok' "
            "ORDER BY started_at DESC LIMIT 1",
            (window.start,),
        )
        return LimitEvents(
            upstream, own, payment, last[0] if last else None, sane_time(ok[0][0]) if ok else None
        )

    def daily_costs(self, start: float, end: float) -> list[tuple[int, str, str, str, float]]:
        """(day, provider, endpoint, model, cost) per whole UTC day in [start, end)."""
        return [
            (int(d), p, e, m, float(c or 0.0))
            for d, p, e, m, c in self.db.query(
                "SELECT day, provider, endpoint, model, SUM(cost_usd) FROM calls_daily "
                "WHERE day >= ? AND day < ? GROUP BY 1, 2, 3, 4",
                (start, end),
            )
        ]

    def task_counts(self, window: Window) -> dict[str, dict[str, int]]:
        """Logical calls per model and task (main, subagent, auxiliary tasks) in the
        window, read from the rows (tasks are not in the rollups): for the cost check."""
        out: dict[str, dict[str, int]] = {}
        for model, task, n in self.db.query(
            "SELECT model, COALESCE(NULLIF(task, ''), 'main'), "
            "SUM(COALESCE(attempt, 1) = 1) FROM calls "
            "WHERE started_at >= ? AND started_at < ? GROUP BY 1, 2",
            (window.start, window.end),
        ):
            if n:
                out.setdefault(model, {})[task] = int(n)
        return out

    def series(self, window: Window, points: int = 60) -> list[SeriesPoint]:
        """Spend and 429s over the window in equal buckets (hourly data for long windows)."""
        span = window.end - window.start
        step = max(60.0, span / points)
        if span >= 6 * 3600:  # hourly rollups: never scan a day of raw rows for a chart
            step = max(3600, round(step / 3600) * 3600)
            # Kept from poll to poll up to the end of the day (the hours after the window's
            # end are left out below), so one answer serves every poll of the hour.
            first, last = int(window.start) // 3600 * 3600, math.floor(window.end / 3600) * 3600
            rows = [
                r
                for r in self.kept.rows(
                    f"SELECT hour, SUM({sane_number('cost_usd')}), "
                    f"SUM({count_sql('rate_limited')}), SUM({count_sql('calls')}) "
                    "FROM calls_hourly WHERE hour >= ? AND hour < ? GROUP BY hour",
                    f"SELECT {rollups.period_sql('c', 3600)}, SUM({sane_number('c.cost_usd')}), "
                    "SUM(COALESCE(c.http_status, 0) = 429), COUNT(*) FROM calls c "
                    "WHERE c.started_at >= ? AND c.started_at < ? AND c.id > ? AND c.id <= ? "
                    "GROUP BY 1",
                    first,
                    last // 86400 * 86400 + 86400,
                    1,
                )
                if r[0] <= last
            ]
        else:
            rows = self.db.query(
                f"SELECT CAST(started_at / 60 AS INTEGER) * 60, SUM({sane_number('cost_usd')}), "
                "SUM(COALESCE(http_status, 0) = 429), COUNT(*) FROM calls "
                "WHERE started_at >= ? AND started_at <= ? GROUP BY 1",
                (window.start, window.end),
            )
        n = max(1, int(-(-span // step)))
        cost = [0.0] * n
        limited = [0] * n
        calls = [0] * n
        for t, c, rl, k in rows:
            # The types the sums above make are taken as they are; anything else (another
            # writer's rollup rows) goes through the checks. A month is 720 rows a poll.
            start = t if type(t) is int else finite(t)
            if start is None:
                continue
            i = min(n - 1, max(0, int((start - window.start) // step)))
            cost[i] += c if type(c) is float and 0 <= c < math.inf else max(0.0, finite(c) or 0.0)
            limited[i] += (
                rl if type(rl) is int and 0 <= rl <= MAX_SANE_COUNT else sane_count(rl) or 0
            )
            calls[i] += k if type(k) is int and 0 <= k <= MAX_SANE_COUNT else sane_count(k) or 0
        return [
            SeriesPoint(window.start + i * step, cost[i], limited[i], calls[i]) for i in range(n)
        ]
