"""``hermes-dash routing suggest`` and ``routing history``: routing from measured data."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hermes_dash.calllog.records import WINDOWS, Window
from hermes_dash.calllog.store import CallLogError, CallStore
from hermes_dash.cli.common import make_client, settings_from
from hermes_dash.cli.errors import RuntimeFailure, UsageError
from hermes_dash.hermes.config import config_exists, default_model, load_config, routing_block
from hermes_dash.routing.rules import RoutingRules
from hermes_dash.services import routing_data as data
from hermes_dash.services.settings import DashSettings
from hermes_dash.text import clean, clean_data


def add_routing_data_parsers(
    rsub: argparse._SubParsersAction[argparse.ArgumentParser],
    config_arg: Callable[[argparse.ArgumentParser], None],
) -> None:
    """Register ``routing suggest`` and ``routing history``."""
    p = rsub.add_parser("suggest", help="upstream scorecard and routing drafts from your calls")
    config_arg(p)
    p.add_argument("--model", metavar="M", help="the model (default: model.default)")
    p.add_argument("--window", choices=list(WINDOWS), default="24h")
    p.add_argument("--json", action="store_true")
    p.add_argument("--offline", action="store_true", help="no OpenRouter: measured figures only")
    p.set_defaults(handler=cmd_suggest)

    p = rsub.add_parser("history", help="recorded changes of provider_routing, before/after")
    config_arg(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_history)


def _config(args: argparse.Namespace, settings: DashSettings) -> Path:
    return Path(args.config) if getattr(args, "config", None) else settings.paths.config


def _store(settings: DashSettings, *, required: bool) -> CallStore | None:
    path = settings.db_path
    if not path.is_file():
        if required:
            raise RuntimeFailure(
                f"no call log at {path}: run 'hermes-dash plugin install' and let Hermes make "
                "a call, or pass --db"
            )
        return None
    try:
        return CallStore(path, readonly=True)
    except CallLogError as exc:
        if required:
            raise
        print(
            clean(f"warning: {exc}: changes listed without before/after figures"), file=sys.stderr
        )
        return None


def cmd_suggest(args: argparse.Namespace) -> int:
    """Print the scorecard and the suggestions."""
    settings = settings_from(args)
    config = _config(args, settings)
    parsed = load_config(config) if config_exists(config) else {}
    if args.model is not None and not args.model.strip():
        raise UsageError("--model needs a model id, such as deepseek/deepseek-chat-v3.1")
    model = args.model or default_model(parsed)
    if not model:
        raise UsageError(f"no model: pass --model, or set model.default in {config}")
    rules = RoutingRules.from_block(routing_block(parsed))
    store = _store(settings, required=True)
    assert store is not None
    published = data.Published()
    if not args.offline:
        published = asyncio.run(_published(settings, model))
    now = time.time()
    report = data.build_report(store, model, Window.named(args.window, now), rules, published, now)
    out = clean_data(data.report_data(report, now))
    if args.json:
        print(json.dumps(out, indent=2, allow_nan=False, default=str))
    else:
        _print_report(out)
    return 0


async def _published(settings: DashSettings, model: str) -> data.Published:
    api = make_client(settings)
    try:
        return await data.fetch_published(api, model)
    finally:
        await api.aclose()


def _s(v: Any) -> str:
    return "-" if v is None else f"{v:.2f}s"


def _pct(v: Any) -> str:
    return "-" if v is None else f"{v * 100:.0f}%"


def _print_report(r: dict[str, Any]) -> None:
    print(clean(f"Upstreams of {r['model']} over {r['window']}", 200), end="")
    print(f" (figures under {r['min_sample']} ", end="")
    print("attempts are a small sample)")
    print(
        f"  {'upstream':<22} {'calls':>6} {'tries':>6} {'p50':>7} {'p95':>7} {'ttft':>7} "
        f"{'tok/s':>6} {'429%':>5} {'err%':>5} {'$/1M billed':>11}  published p50 / tok/s"
    )
    for u in r["upstreams"]:
        pub = u["published"]
        published = (
            "-"
            if pub is None
            else f"{pub['latency_p50_ms'] or '-'} ms / {pub['throughput_p50'] or '-'}"
        )
        billed = (
            "unknown" if u["billed_usd_per_mtok"] is None else f"${u['billed_usd_per_mtok']:.2f}"
        )
        tps = "-" if u["throughput_tps"] is None else f"{u['throughput_tps']:.0f}"
        print(
            f"  {clean(u['upstream'] or '(not known)', 22):<22} {u['calls']:>6} {u['attempts']:>6} "
            f"{_s(u['latency_p50_s']):>7} {_s(u['latency_p95_s']):>7} {_s(u['ttft_p50_s']):>7} "
            f"{tps:>6} {_pct(u['rate_limited_share']):>5} {_pct(u['error_share']):>5} "
            f"{billed:>11}  {published}" + ("  (small sample)" if u["small_sample"] else "")
        )
    if not r["upstreams"]:
        print()
        print(clean(f"No call to {r['model']} in the call log over {r['window']}", 200), end="")
        print(": nothing to score.")
    elif not r["suggestions"]:
        print("\nNo suggestion: the data shows no clear reason to change provider_routing.")
    for s in r["suggestions"]:
        print(f"\n* {s['title']}: {s['reason']}")
        wi = s["what_if"]
        if wi and wi["draft"]:
            logged, draft = wi["logged"], wi["draft"]
            print(
                f"  what-if, last 7 days ({logged['calls']} calls): cost "
                f"{_usd(logged['cost_usd'])} -> {_usd(draft['cost_usd'])}, p95 "
                f"{_s(logged['latency_p95_s'])} -> {_s(draft['latency_p95_s'])}, 429s "
                f"{_pct(logged['rate_limited_share'])} -> {_pct(draft['rate_limited_share'])} "
                f"(served by {draft['served_by']})"
            )
        print(f"  apply: {s['apply']}")
    print(f"\n{r['note']}")


def _usd(v: Any) -> str:
    return "unknown" if v is None else f"${v:.4f}"


def cmd_history(args: argparse.Namespace) -> int:
    """List the recorded changes, newest last, with their before/after figures."""
    settings = settings_from(args)
    config = _config(args, settings)
    history = data.history_for(settings)
    changes = history.changes(config)
    if history.problem:
        print(clean(f"warning: {history.problem}"), file=sys.stderr)
    store = _store(settings, required=False)
    try:
        found = data.change_impacts(store, changes, time.time(), settings.paths.home)
    except CallLogError as exc:
        # The history is worth listing even when the call log breaks while it is read.
        print(
            clean(f"warning: {exc}: changes listed without before/after figures"), file=sys.stderr
        )
        found = list(changes)
    items = [data.change_data(i) for i in found]
    items = clean_data(items)
    if args.json:
        print(json.dumps(items, indent=2, allow_nan=False, default=str))
        return 0
    if not items:
        print(f"no change of provider_routing in {clean(config)} recorded yet")
    for item in items:
        print(clean(f"{item['at']}  {item['source']}"))
        for line in item["diff"]:
            print(clean(f"    {line}"))
        figures = item.get("figures")
        if figures:
            for name in ("before", "after"):
                f = figures[name]
                per_call = _usd(f["cost_per_call_usd"])
                print(
                    f"    {name:<6} {f['calls']:>5} calls  p50 {_s(f['latency_p50_s'])}  "
                    f"p95 {_s(f['latency_p95_s'])}  ttft {_s(f['ttft_p50_s'])}  "
                    f"429s {_pct(f['rate_limited_share'])}  cost/call {per_call}"
                )
        if item.get("note"):
            print(clean(f"    note: {item['note']}"))
    return 0


def sync_routing_history(args: argparse.Namespace) -> None:
    """Record a change made by hand to provider_routing since the last command ran (the
    dashboard does it itself once its first frame is on screen). Demo runs have no Hermes
    config; a failure here never stops the command itself."""
    if args.command == "demo" or getattr(args, "demo", False):
        return
    try:
        settings = settings_from(args)
        config = getattr(args, "config", None)
        data.sync_history(settings, Path(config) if config else None)
    except Exception:  # the command reports its own problems with these settings
        return
