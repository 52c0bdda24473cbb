"""``hermes-dash routing show|set|validate|restore``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from hermes_dash.cli.common import make_client, refuse_if_read_only, settings_from
from hermes_dash.cli.errors import UsageError
from hermes_dash.cli.routing_data import add_routing_data_parsers
from hermes_dash.hermes.config import config_exists, load_config, routing_block
from hermes_dash.openrouter.client import OpenRouterClient
from hermes_dash.routing.rules import (
    DATA_COLLECTION,
    KNOWN_KEYS,
    SORTS,
    RoutingRules,
    errors_in,
    parse_slugs,
    validate,
)
from hermes_dash.services.settings import DashSettings
from hermes_dash.text import clean, clean_data, clean_lines

# The editing modules pull in ruamel.yaml: they are imported by the commands that edit,
# so starting the dashboard does not pay for them.


def add_routing_parser(
    parser: argparse.ArgumentParser, add_common: Callable[[argparse.ArgumentParser], None]
) -> None:
    """The options of ``routing`` and its subcommands."""
    rsub = parser.add_subparsers(dest="routing_command", metavar="ACTION", required=True)

    def config_arg(p: argparse.ArgumentParser) -> None:
        add_common(p)
        p.add_argument(
            "--config", metavar="FILE", help="config.yaml (default: $HERMES_HOME/config.yaml)"
        )

    p = rsub.add_parser("show", help="print the block as Hermes reads it")
    config_arg(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_show)

    p = rsub.add_parser("set", help="change the block (comments and other keys untouched)")
    config_arg(p)
    p.add_argument("--sort", choices=[*SORTS, "none"])
    p.add_argument("--only", metavar="A,B", help="only these providers ('' to unset)")
    p.add_argument("--ignore", metavar="A,B", help="never these providers ('' to unset)")
    p.add_argument("--order", metavar="A,B", help="try these first, in order ('' to unset)")
    rp = p.add_mutually_exclusive_group()
    rp.add_argument(
        "--require-parameters", dest="require_parameters", action="store_true", default=None
    )
    rp.add_argument("--no-require-parameters", dest="require_parameters", action="store_false")
    p.add_argument("--data-collection", choices=[*DATA_COLLECTION, "unset"])
    p.add_argument("--dry-run", action="store_true", help="print the diff, write nothing")
    p.add_argument(
        "--check-providers",
        action="store_true",
        help="warn about slugs OpenRouter does not list (needs the network)",
    )
    p.set_defaults(handler=cmd_set)

    p = rsub.add_parser("validate", help="check the block; exit 2 when it is invalid")
    config_arg(p)
    p.set_defaults(handler=cmd_validate)

    add_routing_data_parsers(rsub, config_arg)

    p = rsub.add_parser("restore", help="list backups or put one back")
    config_arg(p)
    p.add_argument("--list", action="store_true", help="list backups, newest first")
    p.add_argument("backup", nargs="?", help="a backup file (name or path)")
    p.set_defaults(handler=cmd_restore)


def _paths(args: argparse.Namespace) -> tuple[DashSettings, Path]:
    settings = settings_from(args)
    config = Path(args.config) if getattr(args, "config", None) else settings.paths.config
    return settings, config


def cmd_show(args: argparse.Namespace) -> int:
    """Print the block."""
    _, config = _paths(args)
    block = routing_block(load_config(config)) if config_exists(config) else {}
    # config.yaml is outside text: values are printed without terminal control.
    if args.json:
        print(json.dumps(clean_data(block), indent=2, sort_keys=False, default=str))
    elif not block:
        print(f"no provider_routing in {clean(config)}: OpenRouter's defaults apply")
    else:
        for key, value in block.items():
            shown = (
                ", ".join(map(str, value))
                if isinstance(value, list)
                else json.dumps(value, default=str)
            )
            print(clean(f"{key}: {shown}"))
    return 0


def _list(value: str | None, current: tuple[str, ...]) -> tuple[str, ...]:
    return current if value is None else parse_slugs(value)


def draft_from_args(rules: RoutingRules, args: argparse.Namespace) -> RoutingRules:
    """Apply the flags given to the current rules."""
    sort = rules.sort if args.sort is None else (None if args.sort == "none" else args.sort)
    dc = rules.data_collection
    if args.data_collection is not None:
        dc = None if args.data_collection == "unset" else args.data_collection
    rp = rules.require_parameters if args.require_parameters is None else args.require_parameters
    return replace(
        rules,
        sort=sort,
        only=_list(args.only, rules.only),
        ignore=_list(args.ignore, rules.ignore),
        order=_list(args.order, rules.order),
        require_parameters=rp,
        data_collection=dc,
        raw_problems=(),
    )


def cmd_set(args: argparse.Namespace) -> int:
    """Change the block."""
    from hermes_dash.services import routing as svc
    from hermes_dash.services import routing_data as data

    settings, config = _paths(args)
    paths = settings.paths
    doc = svc.load_routing(config)
    draft = draft_from_args(doc.rules, args)
    known = None
    if args.check_providers:
        # The same --profile and --openrouter-url as the rest of the command.
        known = asyncio.run(_slugs(make_client(settings)))
    issues = validate(draft, known)
    for issue in issues:
        if issue.severity == "warning":
            print(clean(f"warning: {issue}"), file=sys.stderr)
    errors = errors_in(issues)
    if errors:
        raise UsageError("; ".join(str(e) for e in errors))
    # Only the keys named by a flag are written: the others stay exactly as they are.
    keys = [k for k in KNOWN_KEYS if getattr(args, k) is not None]
    proposal = svc.propose_routing(doc, draft, keys) if keys else None
    if proposal is None or not proposal.changed or not svc.changes_block(proposal):
        print("provider_routing already says that: nothing to change", file=sys.stderr)
        return 0
    if args.dry_run:
        sys.stdout.write(clean_lines(proposal.diff()))
        return 0
    refuse_if_read_only(args, "saving config.yaml")
    history = data.history_for(settings)
    backup = svc.save(proposal, paths, history, "routing set")
    sys.stdout.write(clean_lines(proposal.diff()))
    print(clean(f"saved {config}" + (f" (backup: {backup})" if backup else "")), file=sys.stderr)
    if history.problem:
        print(clean(f"warning: {history.problem}"), file=sys.stderr)
    print(svc.RESTART_NOTE, file=sys.stderr)
    return 0


async def _slugs(api: OpenRouterClient) -> list[str] | None:
    from hermes_dash.services import routing as svc

    try:
        return await svc.provider_slugs(api)
    finally:
        await api.aclose()


def cmd_validate(args: argparse.Namespace) -> int:
    """Check the block as it is on disk."""
    from hermes_dash.services import routing as svc

    _, config = _paths(args)
    doc = svc.load_routing(config)
    issues = validate(doc.rules)
    for issue in issues:
        print(clean(f"{issue.severity}: {issue}"), file=sys.stderr)
    if errors_in(issues):
        raise UsageError(
            f"provider_routing in {config} is invalid ({len(errors_in(issues))} errors)"
        )
    print(f"provider_routing in {clean(config)} is valid")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """List backups or restore one."""
    from hermes_dash.hermes.writer import list_backups
    from hermes_dash.services import routing as svc
    from hermes_dash.services import routing_data as data

    settings, config = _paths(args)
    paths = settings.paths
    backups = list_backups(paths.backups)
    if args.list or not args.backup:
        if not backups:
            print(f"no backups in {clean(paths.backups)}")
        for b in backups:
            print(clean(b.name))
        return 0
    chosen = Path(args.backup)
    if not chosen.is_file():
        chosen = paths.backups / args.backup
    if not chosen.is_file():
        raise UsageError(f"no backup named {args.backup}: see 'hermes-dash routing restore --list'")
    refuse_if_read_only(args, "restoring config.yaml")
    history = data.history_for(settings)
    saved = svc.restore(chosen, config, paths, history)
    print(
        clean(
            f"restored {config} from {chosen.name}"
            + (f" (previous version: {saved.name})" if saved else "")
        )
    )
    if history.problem:
        print(clean(f"warning: {history.problem}"), file=sys.stderr)
    print(svc.RESTART_NOTE, file=sys.stderr)
    return 0
