"""Settings: where things are (from the command line and environment) and the user's
own preferences (budgets, theme) kept in a small JSON file under the user config dir."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import platformdirs

from hermes_dash.hermes.paths import DEFAULT_OPENROUTER_URL, HermesPaths, Secrets

DEFAULT_REFRESH_S = 30.0


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
    demo: bool = False
    """Whether this is ``--demo`` (synthetic data, fake OpenRouter)."""
    secrets: Secrets = field(default_factory=lambda: Secrets(None, None), repr=False)
    """The API keys; never printed."""
    user_settings_path: Path | None = None
    """Where budgets live (defaults to the platformdirs user config dir)."""

    @classmethod
    def build(
        cls,
        *,
        hermes_home: str | None = None,
        profile: str | None = None,
        db: str | None = None,
        openrouter_url: str | None = None,
        refresh: float | None = None,
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
        """Read the file; a missing or broken file gives the defaults."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls()
        if not isinstance(data, dict):
            return cls()
        settings = cls()
        for f in fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            if f.name == "theme":
                if isinstance(value, str):
                    settings.theme = value
            elif f.name in _CHANNEL_FIELDS:
                _load_channel_field(settings, f.name, value)
            elif value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
                setattr(settings, f.name, None if value is None else float(value))
        return settings

    def save(self, path: Path) -> None:
        """Write atomically."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
