"""The upstream scorecard: how each OpenRouter upstream served one model in a window,
measured from the call log's own rows, beside OpenRouter's published figures.

Every figure is computed from the raw attempts (not the hourly histograms), so a
percentile is an observed value, by the nearest-rank definition of :func:`nearest_rank`:

- ``calls`` counts logical calls (a call and its retries once), ``attempts`` the HTTP
  requests; an attempt belongs to the upstream that served it (``upstream``) or, for a
  refusal, to the upstream that refused (``error_provider``); an attempt neither names
  (OpenRouter's own 429, a connection that never opened) is grouped under ``""``;
- latency and time to first token: successful attempts only (a time to first token
  longer than the attempt's latency is left out);
- throughput: output tokens ÷ wire seconds, summed over successful attempts with both;
- 429 and error shares: of attempts (an error share includes the 429s);
- billed cost per 1M tokens: only rows OpenRouter billed (``cost_source`` ``openrouter``),
  cost ÷ (input + output tokens); None (shown "unknown") when no row was billed.

Under :data:`MIN_SAMPLE` attempts an upstream is marked as a small sample.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from hermes_dash.calllog.records import CallRow, Window
from hermes_dash.calllog.store import CallFilter, CallStore
from hermes_dash.openrouter.records import Endpoint, Provider
from hermes_dash.routing.rules import SLUG
from hermes_dash.text import clean

#: Below this many attempts an upstream's figures carry a confidence note: a p95 of 19
#: values is the largest of them, and one slow call moves it.
MIN_SAMPLE = 20
#: The label of attempts no upstream is named for.
UNKNOWN_UPSTREAM = ""
#: OpenRouter's provider slugs are a word or two; a longer name is nobody's slug.
MAX_SLUG = 64


def nearest_rank(values: Sequence[float], q: float) -> float | None:
    """The q-quantile (0 < q <= 1) of ``values`` by nearest rank: the smallest value
    with at least q of them at or below it (an observed value, never interpolated)."""
    if not values:
        return None
    ordered = sorted(values)
    index = max(0, math.ceil(q * len(ordered)) - 1)
    return ordered[index]


def slug_rule(name: str) -> str | None:
    """The slug of an upstream name OpenRouter does not list: lowercase, every run of
    other characters than ``a-z 0-9 . _`` turned into one ``-`` ("Amazon Bedrock" ->
    ``amazon-bedrock``), from the name as shown (terminal sequences removed). None when
    that leaves no valid slug ("!!!", "...") or one longer than :data:`MAX_SLUG`: such a
    name is no provider's, and a draft must never name a slug nobody has."""
    slug = re.sub(r"[^a-z0-9._]+", "-", clean(name).lower()).strip("-")
    return slug if _valid(slug) else None


def slug_for(
    name: str, providers: Sequence[Provider] = (), endpoints: Sequence[Endpoint] = ()
) -> str | None:
    """The routing slug of an upstream display name: from OpenRouter's provider list
    (by name, case-insensitively), else the model's endpoint of that name, else
    :func:`slug_rule`; a listed slug that is not a valid one is passed over."""
    lowered = name.strip().lower()
    # OpenRouter's answers are outside text too: a slug that is not one ("Deep Infra!",
    # markup, 10k characters) is passed over rather than put in a draft.
    for p in providers:
        if p.name.strip().lower() == lowered and _valid(p.slug):
            return p.slug
    for e in endpoints:
        if e.provider_name.strip().lower() == lowered and _valid(e.slug.split("/", 1)[0]):
            return e.slug.split("/", 1)[0]
    return slug_rule(name)


def _valid(slug: str) -> bool:
    return len(slug) <= MAX_SLUG and SLUG.match(slug) is not None


@dataclass(frozen=True)
class UpstreamScore:
    """One upstream's figures for one model over the window."""

    upstream: str  # as the wire reported it ("DeepInfra"); "" when not known
    slug: str | None  # routing slug; None for the "" group and names that give none
    calls: int
    attempts: int
    ok: int
    errors: int
    rate_limited: int
    latency_p50_s: float | None
    latency_p95_s: float | None
    ttft_p50_s: float | None
    throughput_tps: float | None
    billed_per_mtok: float | None  # USD per 1M tokens, billed rows only
    billed_rows: int
    input_tokens: int
    output_tokens: int
    cost_usd: float | None  # billed and estimated costs; None when no attempt is priced
    published: Endpoint | None = None

    @property
    def error_share(self) -> float:
        """Failed attempts (429s included) of all attempts."""
        return self.errors / self.attempts if self.attempts else 0.0

    @property
    def rate_limited_share(self) -> float:
        """429 attempts of all attempts."""
        return self.rate_limited / self.attempts if self.attempts else 0.0

    @property
    def small_sample(self) -> bool:
        """Too few attempts for the figures to be trusted."""
        return self.attempts < MIN_SAMPLE

    @property
    def note(self) -> str:
        """A confidence note: empty unless the sample is small."""
        if not self.small_sample:
            return ""
        return f"small sample ({self.attempts} attempts, under {MIN_SAMPLE}): figures may not hold"

    @property
    def label(self) -> str:
        """The name to show."""
        return self.upstream or "(upstream not known)"


@dataclass(frozen=True)
class Scorecard:
    """Every upstream seen for ``model`` in ``window``, most attempts first."""

    model: str
    window: Window
    rows: tuple[UpstreamScore, ...]
    total: UpstreamScore  # every attempt of the model in the window, as one group
    published_available: bool = False
    skipped: int = field(default=0, compare=False)

    def by_slug(self) -> dict[str, UpstreamScore]:
        """The named upstreams by routing slug."""
        return {r.slug: r for r in self.rows if r.slug}


def upstream_of(row: CallRow) -> str:
    """Who an attempt is counted for: the upstream that served it or refused it."""
    return row.upstream or row.error_provider or UNKNOWN_UPSTREAM


def _published(name: str, endpoints: Sequence[Endpoint]) -> Endpoint | None:
    lowered = name.lower()
    for e in endpoints:
        if e.provider_name.lower() == lowered:
            return e
    return None


def score_rows(
    name: str,
    rows: Sequence[CallRow],
    providers: Sequence[Provider] = (),
    endpoints: Sequence[Endpoint] = (),
) -> UpstreamScore:
    """The figures of one upstream's attempts."""
    ok_rows = [r for r in rows if r.status == "ok"]
    latencies = [r.latency_s for r in ok_rows if r.latency_s is not None]
    # A first token after the last byte is a clock error, not a figure.
    ttfts = [
        r.ttft_s
        for r in ok_rows
        if r.ttft_s is not None and (r.latency_s is None or r.ttft_s <= r.latency_s)
    ]
    timed = [
        (r.output_tokens, r.latency_s)
        for r in ok_rows
        if r.output_tokens is not None and r.latency_s is not None and r.latency_s > 0
    ]
    seconds = sum(s for _, s in timed)
    billed = [r for r in rows if r.cost_source == "openrouter" and r.cost_usd is not None]
    priced = [r.cost_usd for r in rows if r.cost_source is not None and r.cost_usd is not None]
    billed_tokens = sum((r.input_tokens or 0) + (r.output_tokens or 0) for r in billed)
    billed_cost = sum(r.cost_usd or 0.0 for r in billed)
    return UpstreamScore(
        upstream=name,
        slug=slug_for(name, providers, endpoints) if name else None,
        calls=sum(1 for r in rows if (r.attempt or 1) == 1),
        attempts=len(rows),
        ok=len(ok_rows),
        errors=len(rows) - len(ok_rows),
        rate_limited=sum(1 for r in rows if r.http_status == 429),
        latency_p50_s=nearest_rank(latencies, 0.5),
        latency_p95_s=nearest_rank(latencies, 0.95),
        ttft_p50_s=nearest_rank(ttfts, 0.5),
        throughput_tps=sum(t for t, _ in timed) / seconds if seconds > 0 else None,
        billed_per_mtok=billed_cost / billed_tokens * 1e6 if billed_tokens > 0 else None,
        billed_rows=len(billed),
        input_tokens=sum(r.input_tokens or 0 for r in rows),
        output_tokens=sum(r.output_tokens or 0 for r in rows),
        cost_usd=sum(priced) if priced else None,
        published=_published(name, endpoints) if name else None,
    )


def build_scorecard(
    model: str,
    window: Window,
    rows: Iterable[CallRow],
    providers: Sequence[Provider] = (),
    endpoints: Sequence[Endpoint] = (),
) -> Scorecard:
    """The scorecard of these rows (already limited to the model and the window)."""
    groups: dict[str, list[CallRow]] = {}
    rows = list(rows)
    for row in rows:
        groups.setdefault(upstream_of(row), []).append(row)
    scores = [score_rows(name, rs, providers, endpoints) for name, rs in groups.items()]
    scores.sort(key=lambda s: (s.upstream == UNKNOWN_UPSTREAM, -s.attempts, s.upstream))
    total = score_rows(UNKNOWN_UPSTREAM, rows)
    return Scorecard(model, window, tuple(scores), total, published_available=bool(endpoints))


def model_rows(store: CallStore, model: str, window: Window) -> list[CallRow]:
    """Every attempt of ``model`` in the window, oldest first."""
    return list(store.iter_calls(CallFilter(model=model, window=window)))


def load_scorecard(
    store: CallStore,
    model: str,
    window: Window,
    providers: Sequence[Provider] = (),
    endpoints: Sequence[Endpoint] = (),
) -> Scorecard:
    """The scorecard of ``model`` over ``window`` from the call log."""
    before = store.skipped_rows
    rows = model_rows(store, model, window)
    card = build_scorecard(model, window, rows, providers, endpoints)
    return Scorecard(
        card.model,
        card.window,
        card.rows,
        card.total,
        card.published_available,
        skipped=store.skipped_rows - before,
    )


def models_in_log(store: CallStore, limit: int = 200) -> list[str]:
    """The models the call log has seen, for a model picker."""
    return store.distinct("model", limit)
