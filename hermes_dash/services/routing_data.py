"""Routing from measured data, for the CLI and the TUI alike: the scorecard with its
suggestions, and the recorded changes with their before/after figures, as plain data."""

from __future__ import annotations

import contextlib
import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hermes_dash.calllog.records import Window
from hermes_dash.calllog.store import CallStore
from hermes_dash.hermes.processes import hermes_start_times
from hermes_dash.openrouter.client import OpenRouterClient
from hermes_dash.openrouter.errors import OpenRouterError
from hermes_dash.openrouter.records import Endpoint, Provider
from hermes_dash.routing.history import Change, RoutingHistory, history_path
from hermes_dash.routing.impact import Impact, Side, impacts
from hermes_dash.routing.rules import RoutingRules
from hermes_dash.routing.scorecard import MIN_SAMPLE, Scorecard, UpstreamScore, load_scorecard
from hermes_dash.routing.suggest import Replay, ReplayFigures, Suggestion, suggest
from hermes_dash.services.settings import DashSettings

#: What the scorecard and the editor say about Hermes 0.19 wherever routing is shown.
HERMES_FACTS = (
    "Hermes 0.19 sends provider_routing only to OpenRouter (its provider 'openrouter', or a "
    "base URL on openrouter.ai), reads it when a process starts (CLI chat, gateway, cron, TUI "
    "gateway), never for one-shot 'hermes -z' runs, and not for auxiliary tasks; it has no "
    "per-model routing: one block applies to every model."
)


@dataclass(frozen=True)
class Published:
    """OpenRouter's provider list and the model's endpoints; empty offline."""

    providers: tuple[Provider, ...] = ()
    endpoints: tuple[Endpoint, ...] = ()


async def fetch_published(api: OpenRouterClient, model: str) -> Published:
    """OpenRouter's figures for the model; whatever failed is left empty."""
    providers: list[Provider] = []
    endpoints: list[Endpoint] = []
    with contextlib.suppress(OpenRouterError):
        providers = await api.providers()
    with contextlib.suppress(OpenRouterError):
        endpoints = await api.endpoints(model)
    return Published(tuple(providers), tuple(endpoints))


@dataclass(frozen=True)
class RoutingReport:
    """The scorecard of a model over a window and the drafts it suggests."""

    card: Scorecard
    suggestions: list[Suggestion]
    rules: RoutingRules


def build_report(
    store: CallStore,
    model: str,
    window: Window,
    rules: RoutingRules,
    published: Published,
    now: float,
) -> RoutingReport:
    """Scorecard over ``window``; suggestions replayed over the last 7 days."""
    card = load_scorecard(store, model, window, published.providers, published.endpoints)
    week = load_scorecard(
        store, model, Window.named("7d", now), published.providers, published.endpoints
    )
    return RoutingReport(card, suggest(card, rules, week, published.endpoints), rules)


def _num(v: float | None, digits: int = 4) -> float | None:
    return None if v is None or not math.isfinite(v) else round(v, digits)


def score_data(s: UpstreamScore) -> dict[str, Any]:
    """One scorecard row as JSON."""
    pub = s.published
    return {
        "upstream": s.upstream or None,
        "slug": s.slug,
        "calls": s.calls,
        "attempts": s.attempts,
        "errors": s.errors,
        "rate_limited": s.rate_limited,
        "error_share": _num(s.error_share),
        "rate_limited_share": _num(s.rate_limited_share),
        "latency_p50_s": _num(s.latency_p50_s),
        "latency_p95_s": _num(s.latency_p95_s),
        "ttft_p50_s": _num(s.ttft_p50_s),
        "throughput_tps": _num(s.throughput_tps, 1),
        "billed_usd_per_mtok": _num(s.billed_per_mtok),
        "billed_attempts": s.billed_rows,
        "small_sample": s.small_sample,
        "note": s.note or None,
        "published": None
        if pub is None
        else {
            "latency_p50_ms": _num(pub.latency_p50_ms, 1),
            "throughput_p50": _num(pub.throughput_p50, 1),
            "uptime_last_30m": _num(pub.uptime_last_30m, 2),
            "prompt_usd_per_mtok": _num(pub.pricing.prompt * 1e6),
            "completion_usd_per_mtok": _num(pub.pricing.completion * 1e6),
        },
    }


def _figures(f: ReplayFigures | None) -> dict[str, Any] | None:
    if f is None:
        return None
    return {
        "served_by": f.served_by,
        "calls": f.calls,
        "cost_usd": _num(f.cost_usd, 6),
        "latency_p50_s": _num(f.latency_p50_s),
        "latency_p95_s": _num(f.latency_p95_s),
        "rate_limited_share": _num(f.rate_limited_share),
    }


def _replay(r: Replay | None) -> dict[str, Any] | None:
    if r is None:
        return None
    return {"days": 7, "logged": _figures(r.logged), "draft": _figures(r.draft)}


def set_command(s: Suggestion) -> str:
    """The ``hermes-dash routing set`` that applies a draft."""
    parts = ["hermes-dash routing set"]
    for key in s.keys:
        value = getattr(s.draft, key)
        flag = "--" + key.replace("_", "-")
        if key in ("only", "ignore", "order"):
            parts.append(f"{flag} {','.join(value) if value else repr('')}")
        else:
            parts.append(f"{flag} {value if value is not None else 'none'}")
    return " ".join(parts)


def iso(t: float) -> str:
    """Unix seconds as ISO-8601 UTC."""
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="seconds")


def report_data(report: RoutingReport, now: float) -> dict[str, Any]:
    """The whole report as JSON (``routing suggest --json``)."""
    card = report.card
    return {
        "generated_at": iso(now),
        "model": card.model,
        "window": card.window.name,
        "min_sample": MIN_SAMPLE,
        "published_available": card.published_available,
        "routing": report.rules.as_block(),
        "upstreams": [score_data(s) for s in card.rows],
        "suggestions": [
            {
                "kind": s.kind,
                "title": s.title,
                "reason": s.reason,
                "draft": s.draft.as_block(),
                "changes": list(s.keys),
                "apply": set_command(s),
                "what_if": _replay(s.replay),
            }
            for s in report.suggestions
        ],
        "note": HERMES_FACTS,
    }


def side_data(side: Side) -> dict[str, Any]:
    """One side of a change as JSON."""
    f = side.figures
    return {
        "start": iso(side.window.start),
        "end": iso(side.window.end),
        "calls": f.calls,
        "attempts": f.attempts,
        "latency_p50_s": _num(f.latency_p50_s),
        "latency_p95_s": _num(f.latency_p95_s),
        "ttft_p50_s": _num(f.ttft_p50_s),
        "rate_limited_share": _num(f.rate_limited_share) if f.attempts else None,
        "cost_per_call_usd": _num(side.cost_per_call_usd, 6),
        "upstreams": dict(sorted(side.upstreams.items())),
    }


def change_data(i: Impact | Change) -> dict[str, Any]:
    """One change (with its before/after when measured) as JSON."""
    c = i.change if isinstance(i, Impact) else i
    out: dict[str, Any] = {
        "at": iso(c.at),
        "source": c.source,
        "config": c.config,
        "before": c.before,
        "after": c.after,
        "diff": c.diff,
    }
    if isinstance(i, Impact):
        out["figures"] = {"before": side_data(i.before), "after": side_data(i.after)}
        out["note"] = i.note or None
        out["excluded_after"] = i.excluded_after
    return out


def change_impacts(
    store: CallStore | None, changes: Sequence[Change], now: float, home: Path | None = None
) -> list[Impact | Change]:
    """Every change with its before/after (bare changes when there is no call log); the
    Hermes processes that may still send old routing are those of ``home``."""
    if store is None:
        return list(changes)
    return list(impacts(store, changes, now, hermes_start_times(home=home)))


def history_for(settings: DashSettings) -> RoutingHistory:
    """The routing history kept beside this call log."""
    return RoutingHistory(history_path(settings.db_path))


def sync_history(settings: DashSettings, config: Path | None = None) -> Change | None:
    """Record a change made by hand to the block (or the first block seen), when the call
    log's folder exists: without a call log there is nothing to compare a change with,
    and a command must not make folders in a Hermes home that has none."""
    if not settings.db_path.parent.is_dir():
        return None
    try:
        return history_for(settings).sync(config or settings.paths.config)
    except OSError:
        return None  # an unwritable history never stops a command
