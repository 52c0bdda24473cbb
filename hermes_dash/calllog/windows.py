"""Window queries over the rollups: exact sums, latency percentiles and chart series.

Whole days are read from the daily rollups, whole hours at their edges from the hourly
ones, and only the seconds left over (under an hour at each end of a window) from the
raw ``calls`` rows through the ``started_at`` index, so the answers are exact and their
cost does not grow with the size of the file. A window that ends where no call has
started yet (the usual case: it ends now) reads up to the end of its day, so today is
one daily rollup read instead of an hourly one per hour gone.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hermes_dash.calllog.connection import CallLogConnection
from hermes_dash.calllog.kept import KeptAnswers
from hermes_dash.calllog.recorder import rollups, schema
from hermes_dash.calllog.records import CallTotals, GroupStats, Window
from hermes_dash.calllog.sane import MAX_SANE_COUNT, key_text

#: The rollup measures, and their sums over raw rows (alias ``c``) and over rollup rows.
MEASURES = [name for name, _ in rollups.ROLLUP_MEASURES]
#: Each measure is already a 0/1 test or a number checked by the rollups' own rule, so a
#: value another writer got wrong counts as 0 here exactly as in the rollups. (Checking
#: them once more cost four times as much on every raw edge read.) TOTAL, not SUM: the
#: rule lets whole numbers up to 1e300 through, and SUM of two 64-bit ones stops the whole
#: read with "integer overflow" where TOTAL goes on in floating point.
RAW_MEASURES = ", ".join(f"TOTAL({expr.format(r='c')})" for _, expr in rollups.ROLLUP_MEASURES)


#: A number in [0, 1e300), else 0 (the rollups' own rule; sums read through it too).
_sane = rollups.sane_number


#: The largest count a histogram bucket or a chart sum takes from a rollup row: another
#: writer's inf or 1e300 would make every percentile that one bucket (and inf is no whole
#: number: it stopped the read with OverflowError).
_MAX_N = int(MAX_SANE_COUNT)


def count_sql(expr: str) -> str:
    """``expr`` where it is a count in [0, MAX_SANE_COUNT], else 0: a sum of a few
    thousand of them stays a 64-bit integer (SUM stops with "integer overflow" past it)."""
    return f"(CASE WHEN {expr} BETWEEN 0 AND {_MAX_N} THEN {expr} ELSE 0 END)"


#: The rollup columns' sums for reading: a value another writer got wrong counts as 0
#: instead of turning the whole sum into inf or NaN (TOTAL: see RAW_MEASURES).
_ROLLUP_SUMS = ", ".join(f"TOTAL({_sane(name)})" for name in MEASURES)
_GROUP_EXPR = {
    "provider": ("c.provider", "provider"),
    "endpoint": ("COALESCE(c.endpoint, c.base_url_host, '')", "endpoint"),
    "upstream": ("COALESCE(c.upstream, '')", "upstream"),
    "model": ("c.model", "model"),
}


@dataclass(frozen=True)
class Breakdown:
    """A window's totals with its per-provider and per-model stats."""

    totals: CallTotals
    providers: list[GroupStats]
    models: list[GroupStats]


@dataclass
class _Accumulator:
    sums: dict[tuple[str, ...], list[float]] = field(default_factory=dict)
    _names: dict[tuple[Any, ...], list[float]] = field(default_factory=dict)

    def add(self, key: tuple[Any, ...], values: Iterable[Any]) -> None:
        acc = self._names.get(key)
        if acc is None:
            acc = self._names[key] = self.sums.setdefault(_key_text(key), [0.0] * len(MEASURES))
        for i, v in enumerate(values):
            # Another writer may have left text, blobs, inf or negative numbers in the rows
            # the rollups add up: such a sum (every measure is a count or an amount, never
            # below 0) counts as 0 rather than poisoning every total it joins. (NaN fails
            # both comparisons.)
            if (type(v) is float or type(v) is int) and 0 < v < math.inf:
                acc[i] += v


def _outside(lo: float, hi: float, start: int, length: int) -> list[tuple[float, float]] | None:
    """The stretches of the period [start, start + length) outside [lo, hi) when they are
    shorter than [lo, hi): then the period less them is cheaper to read than [lo, hi)
    itself (one more rollup read, fewer rows). None when not."""
    outside = [(a, b) for a, b in ((float(start), lo), (hi, float(start + length))) if b > a]
    return outside if sum(b - a for a, b in outside) < hi - lo else None


def _key_text(key: tuple[Any, ...]) -> tuple[str, ...]:
    """A grouping key as text, whatever another writer stored in its columns."""
    return tuple(key_text(k) for k in key)


class WindowQueries:
    """Aggregates for a time window over one call-log connection.

    The answers a poll asks again and again (histograms, the chart, the month's 429s) are
    kept between polls and brought up to date from the new rows (see
    :mod:`hermes_dash.calllog.kept`); sums and counts are read afresh each time.
    """

    def __init__(self, db: CallLogConnection) -> None:
        self.db = db
        self.kept = KeptAnswers(db)

    def forget(self) -> None:
        """Drop every kept answer (after a write, or when the file was replaced)."""
        self.kept.forget()

    def end_of_quiet(self, end: float, tables: tuple[tuple[str, str, int], ...]) -> float:
        """``end`` moved up to the end of its coarsest period (day, else hour) when no call
        started in between: the window's answer is the same, and reads whole periods."""
        for _, _, length in tables:
            top = math.ceil(end / length) * length
            if top == end:
                return end
            later = self.db.query(
                "SELECT 1 FROM calls WHERE started_at >= ? AND started_at < ? LIMIT 1",
                (end, top),
            )
            if not later:
                return float(top)
        return end

    def _plan(
        self, window: Window, tables: tuple[tuple[str, str, int], ...], *, subtract: bool
    ) -> tuple[list[tuple[str, str, int, int, int]], list[tuple[float, float, int]]]:
        """Which rollup periods cover the window, and the seconds left for raw rows, each
        with the sign its rows count with.

        Whole days come from the daily table, whole hours at their edges from the hourly
        one, and only what is left over from ``calls``. With ``subtract`` (whole counts
        only: floats would round) an edge that covers most of its period is read as the
        whole period less the rest of it, so at most half an hour is read from raw rows
        at each end.
        """
        parts: list[tuple[str, str, int, int, int]] = []
        pending = [(window.start, self.end_of_quiet(window.end, tables), 1)]
        for table, period, length in tables:
            rest: list[tuple[float, float, int]] = []
            for lo, hi, sign in pending:
                p0, p1 = math.ceil(lo / length) * length, math.floor(hi / length) * length
                if p0 < p1:
                    parts.append((table, period, p0, p1, sign))
                # The edges: the stretches before p0 and after p1 (or, when [lo, hi) is
                # inside one period, all of it).
                edges = [(lo, hi, p1)] if p0 > p1 else [(lo, float(p0), p0 - length)]
                if p0 <= p1:
                    edges.append((float(p1), hi, p1))
                for a, b, start in edges:
                    if b <= a:
                        continue
                    outside = _outside(a, b, start, length) if subtract else None
                    if outside is None:
                        rest.append((a, b, sign))
                    else:
                        parts.append((table, period, start, start + length, sign))
                        rest += [(x, y, -sign) for x, y in outside]
            pending = rest
        return parts, pending

    def _grouped(
        self, window: Window, group: tuple[str, ...]
    ) -> dict[tuple[str, ...], list[float]]:
        """Sums of every rollup measure per group over the window, exact to the second."""
        acc = _Accumulator()
        width = len(group) or 1
        raw_group = ", ".join(_GROUP_EXPR[g][0] for g in group) or "'all'"
        rollup_group = ", ".join(_GROUP_EXPR[g][1] for g in group) or "'all'"
        # Costs are floats: a period less its rows outside the window would not come out
        # exact, so sums read only what is inside.
        parts, raw = self._plan(window, rollups.CALLS_TABLES, subtract=False)
        for table, period, p0, p1, _ in parts:
            for row in self.db.query(
                f"SELECT {rollup_group}, {_ROLLUP_SUMS} FROM {table} "
                f"WHERE {period} >= ? AND {period} < ? GROUP BY {rollup_group}",
                (p0, p1),
            ):
                acc.add(row[:width], row[width:])
        for lo, hi, _ in raw:
            for row in self.db.query(
                f"SELECT {raw_group}, {RAW_MEASURES} FROM calls c "
                f"WHERE c.started_at >= ? AND c.started_at < ? GROUP BY {raw_group}",
                (lo, hi),
            ):
                acc.add(row[:width], row[width:])
        return acc.sums

    def _latency_hist(
        self,
        window: Window,
        group: tuple[str, ...],
        tables: tuple[tuple[str, str, int], ...] = rollups.LATENCY_TABLES,
        column: str = "latency_bucket",
    ) -> dict[tuple[str, ...], dict[int, int]]:
        """Latency (or, with the TTFT tables, time-to-first-token) histogram per group
        over the window (successful attempts only)."""
        hist: dict[tuple[str, ...], dict[int, int]] = {}
        width = len(group)
        cols = ", ".join(_GROUP_EXPR[g][1] for g in group)
        raw_cols = ", ".join(_GROUP_EXPR[g][0] for g in group)
        # Only whole buckets in range and positive counts (what our writers make): checked
        # in SQL, so the Python loop below can trust the numbers.
        good = f"BETWEEN 0 AND {schema.MAX_LATENCY_BUCKET}"
        raw_where = (
            "c.started_at >= ? AND c.started_at < ? AND c.status = 'ok' "
            f"AND typeof(c.{column}) = 'integer' AND c.{column} {good}"
        )
        raw_select = f"SELECT {raw_cols}, c.{column}, COUNT(*) FROM calls c WHERE {raw_where}"
        raw_group = f"GROUP BY {raw_cols}, c.{column}"
        # The calls added to a kept period since it was read: an id range of the rows.
        delta_sql = f"{raw_select} AND c.id > ? AND c.id <= ? {raw_group}"
        parts, raw = self._plan(window, tables, subtract=True)
        lengths = {table: length for table, _, length in tables}
        signed: list[tuple[int, list[tuple[Any, ...]]]] = []
        for table, period, p0, p1, sign in parts:
            where = (
                f"FROM {table} WHERE {period} >= ? AND {period} < ? "
                f"AND typeof(bucket) = 'integer' AND bucket {good}"
            )
            if p1 - p0 == lengths[table]:
                # One period holds one row per key already (its primary key): no GROUP BY
                # to sort them, which cost twice the read. ``n + 0`` is what SUM makes of
                # another writer's text or blob.
                sql = f"SELECT {cols}, bucket, n + 0 {where} AND n + 0 BETWEEN 1 AND {_MAX_N}"
            else:
                sql = (
                    f"SELECT {cols}, bucket, TOTAL(n) {where} "
                    f"GROUP BY {cols}, bucket HAVING TOTAL(n) > 0 AND TOTAL(n) <= {_MAX_N}"
                )
            signed.append((sign, self.kept.rows(sql, delta_sql, p0, p1, width + 1)))
        for lo, hi, sign in raw:
            signed.append((sign, self.db.query(f"{raw_select} {raw_group}", (lo, hi))))
        # One histogram per stored key; another writer's odd names (numbers, blobs) are
        # read as text, so two spellings of one name share it.
        named: dict[tuple[Any, ...], dict[int, int]] = {}
        for sign, rows in signed:
            for row in rows:
                key = row[:width]
                bucket = named.get(key)
                if bucket is None:
                    bucket = named[key] = hist.setdefault(_key_text(key), {})
                b, n = row[width], row[width + 1]
                bucket[b] = bucket.get(b, 0) + sign * int(n)
        # A count a subtraction took below 0 can only come from rows another writer
        # changed between two reads: nothing to draw a percentile from.
        for bucket in hist.values():
            for b in [b for b, n in bucket.items() if n <= 0]:
                del bucket[b]
        return {key: bucket for key, bucket in hist.items() if bucket}

    def totals(self, window: Window) -> CallTotals:
        """Counts, cost and tokens of every call in the window."""
        sums = self._grouped(window, ())
        values = next(iter(sums.values()), [0.0] * len(MEASURES))
        return CallTotals.from_measures(dict(zip(MEASURES, values, strict=True)))

    def requests_to(self, window: Window, model_suffix: str) -> int:
        """Requests (429s excluded) in the window to models whose id ends with a suffix,
        e.g. ':free'."""
        # Attempts, not logical calls: OpenRouter counts every request it answered.
        calls, limited = MEASURES.index("calls"), MEASURES.index("rate_limited")
        return int(
            sum(
                v[calls] - v[limited]
                for (model,), v in self._grouped(window, ("model",)).items()
                if model.endswith(model_suffix)
            )
        )

    def breakdown(self, window: Window) -> Breakdown:
        """Totals, per-provider and per-model stats from one pass over the rollups."""
        endpoint = ("provider", "endpoint", "upstream")
        sums = self._grouped(window, (*endpoint, "model"))
        hist = self._latency_hist(window, endpoint)
        ttft = self._latency_hist(window, endpoint, rollups.TTFT_TABLES, "ttft_bucket")
        total = _Accumulator()
        providers = _Accumulator()
        models = _Accumulator()
        for (provider, host, upstream, model), values in sums.items():
            total.add(("all",), values)
            providers.add((provider, host, upstream), values)
            models.add((model,), values)

        def stats(acc: _Accumulator, with_latency: bool) -> list[GroupStats]:
            out = [
                GroupStats.from_measures(
                    key,
                    dict(zip(MEASURES, values, strict=True)),
                    hist.get(key, {}) if with_latency else {},
                    ttft.get(key, {}) if with_latency else {},
                )
                for key, values in acc.sums.items()
            ]
            # A group may hold only retries (no first attempt): it still has attempts to show.
            return sorted((g for g in out if g.totals.attempts), key=lambda g: (-g.calls, g.key))

        values = total.sums.get(("all",), [0.0] * len(MEASURES))
        return Breakdown(
            CallTotals.from_measures(dict(zip(MEASURES, values, strict=True))),
            stats(providers, True),
            stats(models, False),
        )

    def by_endpoint(self, window: Window) -> dict[tuple[str, str], CallTotals]:
        """Totals per (provider, endpoint), without latency (cheaper than breakdown)."""
        return {
            (provider, endpoint): CallTotals.from_measures(dict(zip(MEASURES, v, strict=True)))
            for (provider, endpoint), v in self._grouped(window, ("provider", "endpoint")).items()
        }

    def by_provider(self, window: Window) -> list[GroupStats]:
        """Per (Hermes provider, endpoint, upstream) stats with p50/p95 latency, busiest first."""
        return self.breakdown(window).providers

    def by_model(self, window: Window) -> list[GroupStats]:
        """Per model stats, busiest first."""
        return self.breakdown(window).models
