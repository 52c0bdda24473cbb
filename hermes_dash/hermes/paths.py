"""Where Hermes keeps things, and the secrets hermes-dash reads from there.

Hermes reads ``$HERMES_HOME/.env`` with python-dotenv, so we do too: quotes, ``export``
prefixes and comments then mean exactly what they mean to Hermes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values

DEFAULT_OPENROUTER_URL = "https://openrouter.ai/api/v1"


class HermesHomeError(Exception):
    """HERMES_HOME is missing or not a directory."""


def hermes_root(env: Mapping[str, str] | None = None) -> Path:
    """``HERMES_HOME``, else ``~/.hermes``."""
    env = os.environ if env is None else env
    home = env.get("HERMES_HOME")
    return Path(home).expanduser() if home else Path("~/.hermes").expanduser()


@dataclass(frozen=True)
class HermesPaths:
    """The files hermes-dash reads or writes inside one Hermes home."""

    home: Path

    @classmethod
    def resolve(
        cls,
        home: str | Path | None = None,
        profile: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> HermesPaths:
        """An explicit home, else HERMES_HOME / ~/.hermes; a profile selects profiles/NAME/."""
        root = Path(home).expanduser() if home else hermes_root(env)
        if profile:
            root = root / "profiles" / profile
        return cls(root)

    @property
    def config(self) -> Path:
        """``config.yaml``."""
        return self.home / "config.yaml"

    @property
    def env_file(self) -> Path:
        """``.env`` with OPENROUTER_API_KEY and friends."""
        return self.home / ".env"

    @property
    def state_db(self) -> Path:
        """Hermes' own ``state.db``."""
        return self.home / "state.db"

    @property
    def dash_dir(self) -> Path:
        """hermes-dash's folder inside the Hermes home."""
        return self.home / "hermes-dash"

    @property
    def call_log(self) -> Path:
        """The default call log the recorder writes."""
        return self.dash_dir / "calls.db"

    @property
    def backups(self) -> Path:
        """Backups of config.yaml taken before each write."""
        return self.dash_dir / "backups"

    @property
    def plugins(self) -> Path:
        """Hermes' user plugins folder."""
        return self.home / "plugins"

    def require(self) -> None:
        """Raise HermesHomeError unless the home exists."""
        if not self.home.is_dir():
            raise HermesHomeError(
                f"Hermes home {self.home} does not exist: run 'hermes setup' to make it, or "
                "set HERMES_HOME or pass --hermes-home ('hermes-dash doctor' checks the rest)"
            )


def read_env_file(path: Path) -> dict[str, str]:
    """The variables of a dotenv file (empty when absent or unreadable)."""
    try:
        if not path.is_file():
            return {}
        values = dotenv_values(path)
    except (OSError, UnicodeDecodeError):
        return {}
    return {k: v for k, v in values.items() if v is not None}


@dataclass(frozen=True)
class Secrets:
    """The keys hermes-dash uses; ``repr`` shows them masked."""

    api_key: str | None
    management_key: str | None

    def __repr__(self) -> str:
        return (
            f"Secrets(api_key={'set' if self.api_key else None}, "
            f"management_key={'set' if self.management_key else None})"
        )

    @classmethod
    def load(cls, paths: HermesPaths, env: Mapping[str, str] | None = None) -> Secrets:
        """The environment first, then ``$HERMES_HOME/.env``."""
        env = os.environ if env is None else env
        file_values = read_env_file(paths.env_file)

        def pick(name: str) -> str | None:
            value = env.get(name) or file_values.get(name)
            return value.strip() if value and value.strip() else None

        return cls(pick("OPENROUTER_API_KEY"), pick("OPENROUTER_MANAGEMENT_KEY"))
