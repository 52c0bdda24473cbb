"""Reading Hermes' config.yaml the way Hermes reads it (PyYAML ``safe_load``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class ConfigError(Exception):
    """config.yaml is missing, unreadable or not valid YAML; the message says where."""


def parse_config_text(text: str, path: Path) -> dict[str, Any]:
    """Parse config text as Hermes would; a YAML error names the line and column."""
    import yaml  # imported on first use: the dashboard's first frame does not need it

    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(f"{path} is not valid YAML{where}: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping at the top level")
    return data


def read_config_text(path: Path) -> str:
    """The file's text; a clear ConfigError when it is missing or not a file."""
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            return fh.read()
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"{path} is a directory, not a config file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None


def load_config(path: Path) -> dict[str, Any]:
    """config.yaml as Hermes reads it."""
    return parse_config_text(read_config_text(path), path)


def routing_block(config: dict[str, Any]) -> dict[str, Any]:
    """The ``provider_routing`` block, ``{}`` when absent or not a mapping."""
    block = config.get("provider_routing")
    return dict(block) if isinstance(block, dict) else {}


def default_model(config: dict[str, Any]) -> str | None:
    """``model.default`` (or a plain string ``model``)."""
    model = config.get("model")
    if isinstance(model, str):
        return model or None
    if isinstance(model, dict):
        value = model.get("default") or model.get("model")
        return value if isinstance(value, str) and value else None
    return None
