"""Settings: where things are (from the command line and environment) and the user's
own preferences (budgets, theme) kept in a small JSON file under the user config dir."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import platformdirs

from hermes_dash.hermes.files import atomic_write_bytes, default_file_mode, read_regular_bytes
from hermes_dash.hermes.paths import DEFAULT_OPENROUTER_URL, HermesPaths, Secrets
from hermes_dash.services.backoff import DEFAULT_REFRESH_S

__all__ = ["DEFAULT_REFRESH_S", "DashSettings", "UserSettings", "user_settings_file"]


@dataclass(frozen=True)
class DashSettings:
    """Where hermes-dash reads from; built once by the CLI and passed in."""

    paths: HermesPaths
    """The Hermes home (config.yaml, .env, state.db, plugins)."""
    db_path: Path
    """The call log (``--db``, ``HERMES_DASH_DB``, else inside the Hermes home)."""
    openrouter_url: str = DEFAULT_OPENROUTER_URL
    """OpenRouter's API base URL (``--openrouter-url``, ``HERMES_DASH_OPENROUTER_URL``)."""
    refresh_s: float = DEFAULT_REFRESH_S
    """Seconds between OpenRouter polls."""
    calllog_poll_s: float = 1.5
    """Seconds between reads of new call-log rows."""
    enrich_s: float = 20.0
    """Seconds between rounds that price calls whose cost is not known yet."""
    demo: bool = False
    """Whether this is ``--demo`` (synthetic data, fake OpenRouter)."""
    secrets: Secrets = field(default_factory=lambda: Secrets(None, None), repr=False)
    """The API keys; never printed."""
    user_settings_path: Path | None = None
    """Where budgets live (defaults to the platformdirs user config dir)."""
    read_only: bool = False
    """Whether every write (config.yaml, a key's limit, settings) is refused (``serve``)."""

    @classmethod
    def build(
        cls,
        *,
        hermes_home: str | None = None,
        profile: str | None = None,
        db: str | None = None,
        openrouter_url: str | None = None,
        refresh: float | None = None,
        read_only: bool = False,
        env: Mapping[str, str] | None = None,
    ) -> DashSettings:
        """Resolve every path and key from flags, then the environment, then defaults."""
        env = os.environ if env is None else env
        paths = HermesPaths.resolve(hermes_home, profile, env)
        db_path = Path(db or env.get("HERMES_DASH_DB") or paths.call_log).expanduser()
        url = openrouter_url or env.get("HERMES_DASH_OPENROUTER_URL") or DEFAULT_OPENROUTER_URL
        return cls(
            paths=paths,
            db_path=db_path,
            openrouter_url=url,
            refresh_s=refresh if refresh is not None else DEFAULT_REFRESH_S,
            secrets=Secrets.load(paths, env),
            read_only=read_only,
        )


def user_settings_file() -> Path:
    """The JSON file that holds budgets and preferences."""
    override = os.environ.get("HERMES_DASH_SETTINGS")
    if override:
        return Path(override)
    return Path(platformdirs.user_config_dir("hermes-dash")) / "settings.json"


#: Alert channel fields: not numbers, so loaded by :func:`_load_channel_field`.
_CHANNEL_FIELDS = ("alert_webhooks", "alert_ntfy_url", "alert_desktop")


def _load_channel_field(settings: UserSettings, name: str, value: object) -> None:
    """A channel field of the right type is taken; anything else keeps the default."""
    if name == "alert_webhooks" and isinstance(value, list):
        settings.alert_webhooks = [v for v in value if isinstance(v, str) and v.strip()]
    elif name == "alert_ntfy_url" and (value is None or isinstance(value, str)):
        settings.alert_ntfy_url = value or None
    elif name == "alert_desktop" and isinstance(value, bool):
        settings.alert_desktop = value


@dataclass
class UserSettings:
    """Preferences a user edits from the settings screen."""

    daily_budget_usd: float | None = None
    """Warn at 80 % and 100 % of this much spend in a UTC day."""
    monthly_budget_usd: float | None = None
    """Warn at 80 % and 100 % of this much spend in a UTC month."""
    runway_alert_hours: float | None = 24.0
    """Warn when the money left lasts fewer hours than this at the current burn."""
    theme: str = "textual-dark"
    """The Textual theme."""
    local_endpoints: list[str] = field(default_factory=list)
    """Endpoints (host or host:port) whose calls cost nothing, whatever else says."""
    paid_endpoints: list[str] = field(default_factory=list)
    """Endpoints that bill, even on a private address (a company gateway)."""
    alert_webhooks: list[str] = field(default_factory=list)
    """Webhook URLs ``watch`` posts alerts to (Slack, Discord, or anything taking JSON)."""
    alert_ntfy_url: str | None = None
    """An ntfy topic URL ``watch`` posts alerts to (``https://ntfy.sh/TOPIC``)."""
    alert_desktop: bool = True
    """Whether ``watch`` also shows alerts as desktop notifications (where notify-send is)."""
    active_hours_from: float | None = 7
    """Start of the user's active hours (local, 0-23); spend outside them is overnight."""
    active_hours_to: float | None = 24
    """End of the user's active hours (local, 1-24)."""

    @classmethod
    def load(cls, path: Path) -> UserSettings:
        """Read the file; a missing or unreadable file gives the defaults, and each field
        that is not a sane value (a string for a budget, NaN, a 400-digit number, a
        negative amount) keeps its default while the others are read."""
        try:
            data = json.loads(
                # Never a plain read: a FIFO in its place would hang every command.
                read_regular_bytes(path).decode("utf-8"),
                parse_int=_int_or_inf,
                parse_constant=lambda _name: math.nan,
            )
        except (OSError, ValueError, RecursionError):
            return cls()
        settings = cls()
        if not isinstance(data, dict):
            return settings
        for f in fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            if f.name == "theme":
                if isinstance(value, str):
                    settings.theme = value
            elif f.name in ("local_endpoints", "paid_endpoints"):
                if isinstance(value, list):
                    setattr(settings, f.name, [v for v in value if isinstance(v, str)])
            elif f.name in _CHANNEL_FIELDS:
                _load_channel_field(settings, f.name, value)
            elif value is None:
                setattr(settings, f.name, None)
            else:
                amount = _amount(value)
                if amount is not None:
                    setattr(settings, f.name, amount)
        return settings

    def save(self, path: Path) -> None:
        """Write atomically (through a symlink; an existing file keeps its mode)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        data = (json.dumps(asdict(self), indent=2) + "\n").encode("utf-8")
        atomic_write_bytes(path, data, new_mode=default_file_mode())


def _int_or_inf(text: str) -> float | int:
    # Python will not read an int of more than 4300 digits (a ValueError that would drop
    # the whole file), and a budget of more than 20 digits means nothing: such a number
    # becomes one the field check refuses, so only that field falls back.
    return int(text) if len(text) <= 20 else math.inf


def _amount(value: object) -> float | None:
    """A finite, non-negative number as float; None for anything else."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) and number >= 0 else None
