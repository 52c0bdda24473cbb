"""Editing ``provider_routing``: load, merge draft rules into the block, propose, save."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString

from hermes_dash.calllog.records import Window
from hermes_dash.calllog.store import CallStore
from hermes_dash.hermes.config import default_model, routing_block
from hermes_dash.hermes.paths import HermesPaths
from hermes_dash.hermes.writer import (
    LoadedConfig,
    Proposal,
    commit,
    load_for_edit,
    propose_block,
    restore_backup,
    set_flow,
    to_plain,
)
from hermes_dash.openrouter.client import OpenRouterClient
from hermes_dash.openrouter.errors import OpenRouterError
from hermes_dash.openrouter.records import Endpoint
from hermes_dash.routing.history import RoutingHistory, block_of_text, plain_block
from hermes_dash.routing.rules import KNOWN_KEYS, RoutingRules
from hermes_dash.routing.simulate import WhatIf, what_if
from hermes_dash.services.readonly import refuse_if_read_only

BLOCK = "provider_routing"
RESTART_NOTE = "Running Hermes processes (gateway, cron, CLI) pick up the change when they restart."


@dataclass(frozen=True)
class RoutingDoc:
    """The config as loaded for editing, with its routing rules and default model."""

    loaded: LoadedConfig
    rules: RoutingRules
    block: dict[str, Any]
    model: str | None


def load_routing(config: Path) -> RoutingDoc:
    """Read config.yaml for editing."""
    loaded = load_for_edit(config)
    block = routing_block(loaded.parsed)
    return RoutingDoc(loaded, RoutingRules.from_block(block), block, default_model(loaded.parsed))


def _same_style(old: Any, new: Any) -> Any:
    """Keep a scalar's quoting when its value changes."""
    if isinstance(old, DoubleQuotedScalarString) and isinstance(new, str):
        return DoubleQuotedScalarString(new)
    if isinstance(old, SingleQuotedScalarString) and isinstance(new, str):
        return SingleQuotedScalarString(new)
    return new


def merge_rules(
    block: CommentedMap, rules: RoutingRules, keys: Iterable[str] | None = None
) -> None:
    """Write the rules into the block in place: unchanged values keep their text and
    style, unset keys are removed, unknown keys are never touched. With ``keys``, only
    those keys are written: the others stay exactly as the file has them, even in a form
    the rules cannot express (a plain string for a list, a misspelt value)."""
    wanted = rules.as_block()
    for key in KNOWN_KEYS if keys is None else [k for k in KNOWN_KEYS if k in set(keys)]:
        if key not in wanted:
            if key in block:
                del block[key]
            continue
        value = wanted[key]
        old = block.get(key)
        if old is not None and to_plain(old) == value:
            continue
        if isinstance(value, list):
            if isinstance(old, CommentedSeq):
                old.clear()
                old.extend(value)
            else:
                block[key] = set_flow(CommentedSeq(value))
        else:
            block[key] = _same_style(old, value)


def propose_routing(
    doc: RoutingDoc, rules: RoutingRules, keys: Iterable[str] | None = None
) -> Proposal:
    """The new config text with the draft rules, only ``keys`` when given (raises
    ConfigWriteError when unsafe)."""
    return propose_block(doc.loaded, BLOCK, lambda block: merge_rules(block, rules, keys))


def changes_block(proposal: Proposal) -> bool:
    """Whether writing ``proposal`` changes provider_routing as Hermes reads it, not only
    the text (``--sort none`` on a file without the block would add an empty one)."""
    loaded = proposal.loaded
    before = plain_block(routing_block(loaded.parsed))
    return before != plain_block(block_of_text(proposal.new_text, loaded.path))


def save(
    proposal: Proposal,
    paths: HermesPaths,
    history: RoutingHistory | None = None,
    source: str = "editor",
    clock: Callable[[], float] = time.time,
    *,
    read_only: bool = False,
) -> Path | None:
    """Write with a backup and record the change in ``history`` (its ``problem`` says why
    it could not be: the write stands all the same); returns the backup.
    ReadOnlyError (nothing written) when writes are off."""
    refuse_if_read_only(read_only, "saving config.yaml")
    loaded = proposal.loaded

    def write() -> tuple[Path | None, dict[str, Any], dict[str, Any]]:
        backup = commit(proposal, paths.backups)
        return backup, routing_block(loaded.parsed), block_of_text(proposal.new_text, loaded.path)

    if history is None:
        return write()[0]
    return history.write_and_record(loaded.path, source, write, clock)[0]


def restore(
    backup: Path,
    config: Path,
    paths: HermesPaths,
    history: RoutingHistory | None = None,
    source: str = "routing restore",
    clock: Callable[[], float] = time.time,
    *,
    read_only: bool = False,
) -> Path | None:
    """Put a backup back and record what it did to the block in ``history`` (its
    ``problem`` says why it could not be).
    ReadOnlyError (nothing written) when writes are off."""
    refuse_if_read_only(read_only, "restoring config.yaml")

    def write() -> tuple[Path | None, dict[str, Any], dict[str, Any]]:
        before = _block_on_disk(config)
        saved = restore_backup(backup, config, paths.backups)
        return saved, before, _block_on_disk(config)

    if history is None:
        return write()[0]
    return history.write_and_record(config, source, write, clock)[0]


def _block_on_disk(config: Path) -> dict[str, Any]:
    from hermes_dash.hermes.config import ConfigError, read_config_text

    try:
        return block_of_text(read_config_text(config), config) if config.exists() else {}
    except ConfigError:
        return {}


async def provider_slugs(api: OpenRouterClient) -> list[str] | None:
    """Slugs from ``/providers``; None when OpenRouter cannot be reached."""
    try:
        return sorted({p.slug for p in await api.providers()})
    except OpenRouterError:
        return None


async def model_endpoints(api: OpenRouterClient, model: str | None) -> list[Endpoint]:
    """The model's endpoints; [] offline or for models OpenRouter does not serve."""
    if not model:
        return []
    try:
        return await api.endpoints(model)
    except OpenRouterError:
        return []


def what_if_for(
    store: CallStore, model: str, endpoints: list[Endpoint], rules: RoutingRules, now: float
) -> WhatIf | None:
    """Last 7 days of the model's logged OpenRouter calls at the draft's first choice."""
    stats = [g for g in store.by_model(Window.named("7d", now)) if g.key[0] == model]
    if not stats or not endpoints:
        return None
    t = stats[0].totals
    return what_if(model, t.input_tokens, t.output_tokens, t.cost_usd, endpoints, rules)
