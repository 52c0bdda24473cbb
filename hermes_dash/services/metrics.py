"""Prometheus metrics from the call log, the account and the recorder's health.

One collector builds every family on each scrape. Counters are totals over the whole log
(Prometheus computes rates), read from the rollups so a scrape costs a few milliseconds
whatever the size of the file. No label ever holds a session id, a generation id or
anything of the API key; the host is Prometheus' to add (its ``instance`` label, or a
relabel to ``host``), so the same exporter runs unchanged on every machine.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from hermes_dash.calllog.lifetime import (
    StatusCounter,
    lifetime_groups,
    lifetime_histograms,
)
from hermes_dash.calllog.recorder import schema
from hermes_dash.calllog.records import AccountSnapshot, Window
from hermes_dash.calllog.store import CallLogError, CallStore
from hermes_dash.services.dashboard import utc_month_start
from hermes_dash.services.limits import utc_day_start
from hermes_dash.services.plugin import PluginStatus
from hermes_dash.services.summary import burn
from hermes_dash.text import clean

PREFIX = "hermes_dash_"
#: Longest label value: model names are short; anything longer is someone else's text.
LABEL_LIMIT = 120
GROUP_LABELS = ["provider", "endpoint", "upstream", "model"]
UPSTREAM_LABELS = ["provider", "endpoint", "upstream"]

#: Histogram bounds in seconds, near round numbers but each exactly on a boundary of the
#: log's own buckets (``LATENCY_BUCKET_BASE ** k`` ms): the counts under them are exact.
_TARGET_BOUNDS_S = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300)


def _edges() -> list[tuple[int, float]]:
    base = schema.LATENCY_BUCKET_BASE
    out = []
    for target in _TARGET_BOUNDS_S:
        k = round(math.log(target * 1000.0) / math.log(base))
        out.append((k, base**k / 1000.0))
    return out


#: (log bucket edge k, bound in seconds) for each histogram bucket but +Inf.
HISTOGRAM_EDGES: list[tuple[int, float]] = _edges()


def le_text(bound: float) -> str:
    """A bucket's ``le`` label: its bound to four significant digits."""
    return f"{bound:.4g}"


def _label(value: object) -> str:
    return clean(value, LABEL_LIMIT)


@dataclass(frozen=True)
class AccountReading:
    """The newest answer of OpenRouter's ``/key`` and ``/credits``, and whether the last
    poll worked (the numbers are the last good ones either way)."""

    snapshot: AccountSnapshot | None
    ok: bool


@dataclass(frozen=True)
class Budgets:
    """The user's budgets (USD), None when unset."""

    daily_usd: float | None = None
    monthly_usd: float | None = None


class CallLogCollector(Collector):
    """Every ``hermes_dash_*`` family, built anew on each scrape."""

    def __init__(
        self,
        store: CallStore,
        *,
        account: Callable[[], AccountReading | None] = lambda: None,
        plugin: Callable[[], PluginStatus | None] = lambda: None,
        budgets: Callable[[], Budgets] = Budgets,
        clock: Callable[[], float] = time.time,
        report: Callable[[str], None] = lambda _line: None,
    ) -> None:
        self.store = store
        #: Told when the log stops or starts again being readable (once per change, not
        #: per scrape): calllog_up 0 alone would leave the exporter's user guessing why.
        self._report = report
        self._log_error: str | None = None
        self._account = account
        self._plugin = plugin
        self._budgets = budgets
        self._clock = clock
        self._statuses = StatusCounter()
        # Scrapes come from the server's threads; one read of the log at a time.
        self._lock = threading.Lock()

    def describe(self) -> list[Metric]:
        """Nothing up front: registering must not read the log."""
        return []

    def collect(self) -> Iterator[Metric]:
        """The families of one scrape."""
        with self._lock:
            yield from self._collect()

    def _collect(self) -> Iterator[Metric]:
        now = self._clock()
        up = GaugeMetricFamily(
            PREFIX + "calllog_up", "1 when the call log could be read on this scrape, else 0"
        )
        try:
            if self.store.reopen_if_replaced():
                self._statuses.reset()
            families = [
                *self._call_families(),
                *self._histograms(),
                self._status_family(),
                *self._log_health(now),
                *self._spend(now),
            ]
        except CallLogError as exc:
            families = []
            if str(exc) != self._log_error:
                self._report(f"cannot read the call log: {exc}")
            self._log_error = str(exc)
        else:
            if self._log_error is not None:
                self._report("the call log can be read again")
            self._log_error = None
        up.add_metric([], 1.0 if families else 0.0)
        yield up
        yield from families
        yield from self._account_families(now)
        yield from self._plugin_families()
        yield from self._budget_families()

    # -- the call log ----------------------------------------------------------------

    def _call_families(self) -> list[Metric]:
        specs = [
            ("requests", "HTTP attempts sent on the wire (retries count each)", "calls"),
            ("calls", "logical calls (a call and its retries count once)", "logical_calls"),
            ("rate_limited", "attempts answered with HTTP 429", "rate_limited"),
            ("errors", "attempts that failed (any status, or no response)", "errors"),
            ("input_tokens", "prompt tokens reported by the APIs", "input_tokens"),
            ("output_tokens", "completion tokens reported by the APIs", "output_tokens"),
        ]
        sums: dict[tuple[str, ...], dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for g in lifetime_groups(self.store):
            # Two stored values may read the same once cleaned: one series, summed.
            key = tuple(_label(v) for v in (g.provider, g.endpoint, g.upstream, g.model))
            for measure, value in g.measures.items():
                sums[key][measure] += value
        out: list[Metric] = []
        for name, doc, measure in specs:
            fam = CounterMetricFamily(PREFIX + name, doc, labels=GROUP_LABELS)
            for key, m in sums.items():
                fam.add_metric(list(key), m[measure])
            out.append(fam)
        cost = CounterMetricFamily(
            PREFIX + "cost_usd",
            "cost in USD: source=billed as OpenRouter reported it (or 0 for local calls), "
            "source=estimated priced by hermes-dash from the model's prices",
            labels=[*GROUP_LABELS, "source"],
        )
        unpriced = GaugeMetricFamily(
            PREFIX + "unpriced_requests",
            "attempts whose cost is not known yet (not counted in cost_usd; never $0)",
            labels=GROUP_LABELS,
        )
        for key, m in sums.items():
            cost.add_metric([*key, "billed"], max(0.0, m["cost_usd"] - m["cost_estimated_usd"]))
            cost.add_metric([*key, "estimated"], m["cost_estimated_usd"])
            unpriced.add_metric(list(key), m["unpriced"])
        return [*out, cost, unpriced]

    def _histograms(self) -> list[Metric]:
        edges = [k for k, _ in HISTOGRAM_EDGES]
        out: list[Metric] = []
        for name, table, doc in (
            ("latency_seconds", "latency_daily", "latency of successful attempts"),
            ("ttft_seconds", "ttft_daily", "time to first token of successful attempts"),
        ):
            fam = HistogramMetricFamily(
                PREFIX + name,
                doc + " (bucket counts exact from the log; _count but no _sum)",
                labels=UPSTREAM_LABELS,
            )
            merged: dict[tuple[str, ...], list[int]] = {}
            for h in lifetime_histograms(self.store, table, edges):
                key = tuple(_label(v) for v in (h.provider, h.endpoint, h.upstream))
                counts = [*h.cumulative, h.count]
                if key in merged:
                    counts = [a + b for a, b in zip(merged[key], counts, strict=True)]
                merged[key] = counts
            for key, counts in merged.items():
                buckets = [
                    (le_text(bound), float(n))
                    for (_, bound), n in zip(HISTOGRAM_EDGES, counts, strict=False)
                ]
                buckets.append(("+Inf", float(counts[-1])))
                fam.add_metric(list(key), buckets, None)
                # The log keeps buckets, not the latencies' sum: _count without _sum
                # (histogram_quantile and rates of _count need nothing more).
                labels = dict(zip(UPSTREAM_LABELS, key, strict=True))
                fam.samples.append(Sample(fam.name + "_count", labels, float(counts[-1])))
            out.append(fam)
        return out

    def _status_family(self) -> Metric:
        fam = CounterMetricFamily(
            PREFIX + "requests_by_status",
            "HTTP attempts by the platform Hermes ran on and the outcome's class "
            "(ok, 429, 4xx, 5xx, stream_error, no_response, other)",
            labels=["platform", "status_class"],
        )
        merged: dict[tuple[str, str], int] = defaultdict(int)
        for (platform, status_class), n in self._statuses.read(self.store).items():
            merged[(_label(platform), status_class)] += n
        for key, n in merged.items():
            fam.add_metric(list(key), float(n))
        return fam

    def _log_health(self, now: float) -> list[Metric]:
        out: list[Metric] = []
        last = self.store.last_write()
        if last is not None:
            age = GaugeMetricFamily(
                PREFIX + "recorder_last_row_age_seconds",
                "seconds since the newest call row started (absent while the log is empty)",
            )
            age.add_metric([], max(0.0, now - last))
            out.append(age)
        dropped = CounterMetricFamily(
            PREFIX + "recorder_dropped_rows", "rows the recorder had to drop and reported"
        )
        dropped.add_metric([], float(self.store.dropped_rows()))
        out.append(dropped)
        return out

    def _spend(self, now: float) -> list[Metric]:
        fam = GaugeMetricFamily(
            PREFIX + "spend_usd",
            "known cost of the logged calls in the current UTC day or month (absent while "
            "it is unknown)",
            labels=["period"],
        )
        for period, start in (("daily", utc_day_start(now)), ("monthly", utc_month_start(now))):
            known = self.store.totals(Window(start, now)).known_cost_usd
            if known is not None:
                fam.add_metric([period], known)
        return [fam]

    # -- the account, the plugin, the budgets -----------------------------------------

    def _account_families(self, now: float) -> Iterator[Metric]:
        reading = self._account()
        if reading is None:
            return
        ok = GaugeMetricFamily(
            PREFIX + "account_poll_ok", "1 when the last poll of OpenRouter's /key worked"
        )
        ok.add_metric([], 1.0 if reading.ok else 0.0)
        yield ok
        snap = reading.snapshot
        if snap is None:
            return
        runway = None
        # A log that cannot be read leaves the runway unknown; the account's own numbers
        # are still good.
        with contextlib.suppress(CallLogError):
            day = Window.named("24h", now)
            runway = burn(self.store, day, self.store.totals(day), snap).runway_hours
        values = [
            ("account_balance_usd", "credits left on the account (/credits)", snap.balance),
            ("key_usage_usd", "all-time spend on the API key (/key usage)", snap.usage),
            ("key_usage_daily_usd", "spend on the key today, UTC (/key)", snap.usage_daily),
            ("key_usage_weekly_usd", "spend on the key this UTC week (/key)", snap.usage_weekly),
            ("key_usage_monthly_usd", "spend on the key this UTC month (/key)", snap.usage_monthly),
            ("key_limit_usd", "the key's spending limit (/key)", snap.limit),
            (
                "key_limit_remaining_usd",
                "what the key may still spend (/key)",
                snap.limit_remaining,
            ),
            (
                "runway_hours",
                "hours until the money left runs out at the last 24 h's rate",
                runway,
            ),
            (
                "account_poll_age_seconds",
                "seconds since the account numbers were read",
                now - snap.taken_at,
            ),
        ]
        for name, doc, value in values:
            if value is None or not math.isfinite(value):
                continue  # unknown: absent, never 0
            fam = GaugeMetricFamily(PREFIX + name, doc + " (absent when unknown)")
            fam.add_metric([], value)
            yield fam

    def _plugin_families(self) -> Iterator[Metric]:
        status = self._plugin()
        if status is None:
            return
        for name, doc, value in (
            (
                "plugin_installed",
                "1 when the recorder plugin is in the Hermes home",
                status.installed,
            ),
            ("plugin_enabled", "1 when config.yaml enables the recorder plugin", status.enabled),
        ):
            fam = GaugeMetricFamily(PREFIX + name, doc)
            fam.add_metric([], 1.0 if value else 0.0)
            yield fam

    def _budget_families(self) -> Iterator[Metric]:
        budgets = self._budgets()
        fam = GaugeMetricFamily(
            PREFIX + "budget_usd",
            "the user's budget per UTC day or month (hermes-dash budget set; absent when unset)",
            labels=["period"],
        )
        for period, value in (("daily", budgets.daily_usd), ("monthly", budgets.monthly_usd)):
            if value is not None:
                fam.add_metric([period], value)
        yield fam
