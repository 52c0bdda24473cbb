"""What every command builds from its flags: settings and the real OpenRouter client."""

from __future__ import annotations

import argparse
import os

from hermes_dash.cli.errors import UsageError
from hermes_dash.openrouter.client import DEFAULT_TIMEOUT_S, OpenRouterClient
from hermes_dash.services.settings import DashSettings


def settings_from(args: argparse.Namespace) -> DashSettings:
    """DashSettings from parsed flags (those a command has) and the environment."""
    return DashSettings.build(
        hermes_home=getattr(args, "hermes_home", None),
        profile=getattr(args, "profile", None),
        db=getattr(args, "db", None),
        openrouter_url=getattr(args, "openrouter_url", None),
        refresh=getattr(args, "refresh", None),
        read_only=getattr(args, "read_only", False),
    )


def refuse_if_read_only(args: argparse.Namespace, what: str) -> None:
    """``--read-only`` refuses every write from the command line as in the dashboard; the
    flag is accepted before every command, so a command that writes must say no."""
    if getattr(args, "read_only", False):
        raise UsageError(f"{what} refused: --read-only refuses every write; nothing was changed")


#: Test hook: a shorter wait for a server that does not answer than the product's, so a
#: test of a stalled server need not sit the real timeout out.
TIMEOUT_ENV = "HERMES_DASH_HTTP_TIMEOUT_S"


def _timeout() -> float:
    try:
        value = float(os.environ.get(TIMEOUT_ENV) or DEFAULT_TIMEOUT_S)
    except ValueError:
        return DEFAULT_TIMEOUT_S
    return value if 0 < value < DEFAULT_TIMEOUT_S else DEFAULT_TIMEOUT_S


def make_client(settings: DashSettings) -> OpenRouterClient:
    """The real OpenRouter client."""
    return OpenRouterClient(
        settings.secrets.api_key,
        base_url=settings.openrouter_url,
        management_key=settings.secrets.management_key,
        timeout=_timeout(),
    )
