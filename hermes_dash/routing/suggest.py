"""Drafts of ``provider_routing`` from the scorecard, each with its reason and a replay.

The rules are deterministic (same scorecard, same drafts) and only ever use the keys
Hermes 0.19 sends (``ignore``, ``order``, ``sort``), with lowercase slugs:

1. **ignore** an upstream whose failures stand out: at least :data:`MIN_SAMPLE` attempts
   and an error share of :data:`BAD_ERROR_SHARE` or a 429 share of :data:`BAD_429_SHARE`,
   as long as another upstream served the model well;
2. **order** the healthy upstreams by p95 latency when the fastest p95 is at most
   :data:`CLEAR_GAP` of the slowest (each with at least :data:`MIN_SAMPLE` successes);
3. **sort by latency** when the fastest upstream (p50) is not the cheapest billed one
   and answers in at most :data:`CLEAR_GAP` of its time; **sort by price** when the
   cheapest billed upstream costs at most :data:`CLEAR_GAP` of the dearest and its p95 is
   within :data:`SIMILAR` of the fastest one's.

Each draft is replayed over the model's last 7 days of calls (:func:`replay`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from hermes_dash.calllog.records import Window
from hermes_dash.openrouter.records import Endpoint, Pricing
from hermes_dash.routing.rules import RoutingRules, errors_in, validate
from hermes_dash.routing.scorecard import MIN_SAMPLE, Scorecard, UpstreamScore
from hermes_dash.routing.simulate import first_choice, simulate, what_if

#: An upstream failing this share of its attempts (429s included) is worth ignoring.
BAD_ERROR_SHARE = 0.20
#: ...or being refused with a 429 this often.
BAD_429_SHARE = 0.10
#: A difference counts when one figure is at most this fraction of the other.
CLEAR_GAP = 0.8
#: Two figures are alike when within this factor.
SIMILAR = 1.2


@dataclass(frozen=True)
class ReplayFigures:
    """The model's calls over the replay window, as logged or under a draft."""

    calls: int
    cost_usd: float | None
    latency_p50_s: float | None
    latency_p95_s: float | None
    rate_limited_share: float | None
    served_by: str  # who served them: "as logged", or the draft's first choice


@dataclass(frozen=True)
class Replay:
    """A draft's what-if over the last 7 days: logged figures beside the draft's."""

    window: Window
    logged: ReplayFigures
    draft: ReplayFigures | None  # None when the draft leaves no upstream with data


@dataclass(frozen=True)
class Suggestion:
    """One draft of provider_routing with the sentence that justifies it."""

    kind: str  # ignore | order | sort
    title: str
    reason: str
    draft: RoutingRules
    keys: tuple[str, ...]  # the keys it changes: only these are written
    replay: Replay | None = None


def _s(seconds: float | None) -> str:
    return "?" if seconds is None else f"{seconds:.1f} s"


def _usd(per_m: float | None) -> str:
    return "unknown" if per_m is None else f"${per_m:.2f}"


def _healthy(card: Scorecard, rules: RoutingRules | None = None) -> list[UpstreamScore]:
    """Upstreams that served the model well (and are not ignored by ``rules``)."""
    ignored = rules.ignore if rules is not None else ()
    return [r for r in card.rows if r.slug and r.ok and not _bad(r) and r.slug not in ignored]


def _bad(r: UpstreamScore) -> bool:
    return (
        r.attempts >= MIN_SAMPLE
        and bool(r.slug)
        and (r.error_share >= BAD_ERROR_SHARE or r.rate_limited_share >= BAD_429_SHARE)
    )


def _ignore(card: Scorecard, rules: RoutingRules) -> list[Suggestion]:
    out: list[Suggestion] = []
    if not _healthy(card, rules):
        return out
    healthy = {r.slug for r in _healthy(card)}
    for r in card.rows:
        # Another name with the same slug served well: ignoring the slug would lose it.
        if not _bad(r) or r.slug in rules.ignore or r.slug in healthy:
            continue
        assert r.slug is not None
        draft = replace(
            rules,
            ignore=(*rules.ignore, r.slug),
            order=tuple(s for s in rules.order if s != r.slug),
            only=tuple(s for s in rules.only if s != r.slug),
            raw_problems=(),
        )
        changed = [k for k in ("order", "only") if getattr(draft, k) != getattr(rules, k)]
        keys = ("ignore", *changed)
        reason = (
            f"{r.label}: {r.errors} errors, {r.rate_limited} of them 429s, in {r.attempts} "
            f"attempts over {card.window.name or 'the window'} ({r.error_share:.0%} failed)"
        )
        out.append(Suggestion("ignore", f"ignore {r.slug}", reason, draft, keys))
    return out


def _order(card: Scorecard, rules: RoutingRules) -> list[Suggestion]:
    timed = [r for r in _healthy(card, rules) if r.ok >= MIN_SAMPLE and r.latency_p95_s is not None]
    if len(timed) < 2:
        return []
    timed.sort(key=lambda r: (r.latency_p95_s, r.slug))
    best, worst = timed[0], timed[-1]
    assert best.latency_p95_s is not None and worst.latency_p95_s is not None
    if best.latency_p95_s > CLEAR_GAP * worst.latency_p95_s:
        return []
    # Two names may give one slug ("Deep Infra", "deep-infra"): it is listed once.
    order = tuple(dict.fromkeys(r.slug for r in timed if r.slug))
    if order == rules.order:
        return []
    draft = replace(rules, order=order, raw_problems=())
    reason = (
        f"p95 latency {_s(best.latency_p95_s)} for {best.label} vs "
        f"{_s(worst.latency_p95_s)} for {worst.label}, over {best.ok} and {worst.ok} calls"
    )
    return [Suggestion("order", f"order: {', '.join(order)}", reason, draft, ("order",))]


def _sort(card: Scorecard, rules: RoutingRules) -> list[Suggestion]:
    healthy = [
        r for r in _healthy(card, rules) if r.ok >= MIN_SAMPLE and r.latency_p50_s is not None
    ]
    priced = [r for r in healthy if r.billed_per_mtok is not None]
    if len(healthy) < 2 or len(priced) < 2:
        return []
    fastest = min(healthy, key=lambda r: (r.latency_p50_s, r.slug))
    fastest95 = min(healthy, key=lambda r: (r.latency_p95_s or float("inf"), r.slug))
    cheapest = min(priced, key=lambda r: (r.billed_per_mtok, r.slug))
    dearest = max(priced, key=lambda r: (r.billed_per_mtok or 0.0, r.slug))
    assert fastest.latency_p50_s is not None and cheapest.latency_p50_s is not None
    assert cheapest.billed_per_mtok is not None and dearest.billed_per_mtok is not None
    out: list[Suggestion] = []
    if fastest is not cheapest and fastest.latency_p50_s <= CLEAR_GAP * cheapest.latency_p50_s:
        if rules.sort != "latency":
            reason = (
                f"{fastest.label} answers in {_s(fastest.latency_p50_s)} (p50) vs "
                f"{_s(cheapest.latency_p50_s)} for the cheapest, {cheapest.label} "
                f"({_usd(fastest.billed_per_mtok)} vs {_usd(cheapest.billed_per_mtok)} per 1M "
                "tokens billed)"
            )
            draft = replace(rules, sort="latency", raw_problems=())
            out.append(Suggestion("sort", "sort by latency", reason, draft, ("sort",)))
    elif (
        cheapest is not dearest
        and cheapest.billed_per_mtok <= CLEAR_GAP * dearest.billed_per_mtok
        and (cheapest.latency_p95_s or float("inf"))
        <= SIMILAR * (fastest95.latency_p95_s or float("inf"))
        and rules.sort != "price"
    ):
        reason = (
            f"{cheapest.label} bills {_usd(cheapest.billed_per_mtok)} per 1M tokens vs "
            f"{_usd(dearest.billed_per_mtok)} for {dearest.label}, at a p95 of "
            f"{_s(cheapest.latency_p95_s)} vs the fastest {_s(fastest95.latency_p95_s)}"
        )
        draft = replace(rules, sort="price", raw_problems=())
        out.append(Suggestion("sort", "sort by price", reason, draft, ("sort",)))
    return out


def measured_endpoints(card: Scorecard, published: Sequence[Endpoint]) -> list[Endpoint]:
    """OpenRouter's endpoints of the model, plus one made from our own figures for each
    upstream we saw that OpenRouter did not list (billed price, p50, throughput), so a
    route can be simulated offline too. An unknown price sorts last."""
    listed = {e.provider_name.lower() for e in published}
    out = list(published)
    for r in card.rows:
        if not r.slug or r.upstream.lower() in listed:
            continue
        per_token = r.billed_per_mtok / 1e6 if r.billed_per_mtok is not None else float("inf")
        out.append(
            Endpoint(
                provider_name=r.upstream,
                tag=r.slug,
                pricing=Pricing(prompt=per_token, completion=per_token),
                quantization=None,
                context_length=None,
                uptime_last_30m=None,
                latency_p50_ms=None if r.latency_p50_s is None else r.latency_p50_s * 1000,
                throughput_p50=r.throughput_tps,
                status=None,
            )
        )
    return out


def _logged(week: Scorecard) -> ReplayFigures:
    t = week.total
    return ReplayFigures(
        calls=t.calls,
        cost_usd=t.cost_usd,
        latency_p50_s=t.latency_p50_s,
        latency_p95_s=t.latency_p95_s,
        rate_limited_share=t.rate_limited_share if t.attempts else None,
        served_by="as logged",
    )


def replay(
    week: Scorecard,
    rules: RoutingRules,
    published: Sequence[Endpoint] = (),
) -> Replay:
    """The last 7 days of the model's calls replayed under ``rules``: OpenRouter sends
    them to the draft's first choice (``simulate`` ranks the endpoints), so they take that
    upstream's measured latency and 429 share, and its price: its billed price per token
    when we have one, else OpenRouter's published price (``what_if``)."""
    endpoints = measured_endpoints(week, published)
    measured = week.by_slug()
    ranked = [row for row in simulate(endpoints, rules) if row.eligible]
    choice = next(
        (row.endpoint for row in ranked if row.endpoint.slug.split("/")[0] in measured), None
    )
    base = _logged(week)
    if choice is None:
        return Replay(week.window, base, None)
    score = measured[choice.slug.split("/")[0]]
    tokens_in, tokens_out = week.total.input_tokens, week.total.output_tokens
    cost: float | None
    if score.billed_per_mtok is not None:
        cost = score.billed_per_mtok * (tokens_in + tokens_out) / 1e6
    elif published and first_choice(list(published), rules) is not None:
        cost = what_if(week.model, tokens_in, tokens_out, 0.0, list(published), rules).draft_usd
    else:
        cost = None
    return Replay(
        week.window,
        base,
        ReplayFigures(
            calls=base.calls,
            cost_usd=cost,
            latency_p50_s=score.latency_p50_s,
            latency_p95_s=score.latency_p95_s,
            rate_limited_share=score.rate_limited_share,
            served_by=score.label,
        ),
    )


def suggest(
    card: Scorecard,
    rules: RoutingRules,
    week: Scorecard | None = None,
    published: Sequence[Endpoint] = (),
) -> list[Suggestion]:
    """Every draft the rules find, ignore first, each replayed over ``week`` when given
    (the model's last 7 days). A draft that would not validate is dropped."""
    drafts = [*_ignore(card, rules), *_order(card, rules), *_sort(card, rules)]
    kept = [s for s in drafts if not errors_in(validate(s.draft))]
    if week is None:
        return kept
    return [replace(s, replay=replay(week, s.draft, published)) for s in kept]
