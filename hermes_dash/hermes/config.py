"""Reading Hermes' config.yaml the way Hermes reads it (PyYAML ``safe_load``), bounded.

Hermes itself would happily expand a "billion laughs" document (aliases of aliases of
lists); we must not: the node graph is measured before anything is built, and a document
that would expand to more than :data:`MAX_NODES` nodes, or that refers to itself, is
refused with one line. The measure works on PyYAML's and ruamel.yaml's nodes alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hermes_dash.hermes.files import UnsafeFileError, read_regular_bytes

#: A real config.yaml has hundreds of nodes; this leaves room for generous use of aliases
#: while keeping a hostile one to well under a second.
MAX_NODES = 100_000


class ConfigError(Exception):
    """config.yaml is missing, unreadable or not valid YAML; the message says where."""


def expanded_size(root: Any, limit: int = MAX_NODES) -> int:
    """How many nodes the document rooted at ``root`` has once every alias is expanded,
    computed without expanding (each shared node is sized once). Raises ValueError past
    ``limit`` or on a node that contains itself."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    # Iterative post-order walk: a deeply nested document must not hit the recursion limit.
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        value = node.value
        children: list[Any] = []
        if isinstance(value, list):
            for item in value:
                children.extend(item if isinstance(item, tuple) else (item,))
        if done:
            on_path.discard(key)
            total = 1 + sum(sizes[id(c)] for c in children)
            if total > limit:
                raise ValueError(f"it expands to more than {limit:,} nodes (an alias bomb?)")
            sizes[key] = total
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise ValueError("an alias refers to a node that contains it")
        on_path.add(key)
        stack.append((node, True))
        for child in children:
            if id(child) in on_path:
                raise ValueError("an alias refers to a node that contains it")
            if id(child) not in sizes:
                stack.append((child, False))
    return sizes[id(root)]


def _bounded_loader() -> type:
    import yaml

    class BoundedSafeLoader(yaml.SafeLoader):
        """SafeLoader that measures the composed node graph before constructing it."""

        def get_single_node(self) -> Any:
            node = super().get_single_node()
            if node is not None:
                try:
                    expanded_size(node)
                except ValueError as exc:
                    raise yaml.YAMLError(str(exc)) from None
            return node

    return BoundedSafeLoader


_LOADER: type | None = None


def bounded_safe_load(text: str) -> Any:
    """``yaml.safe_load`` refusing alias bombs and self-references (as yaml.YAMLError)
    and over-deep nesting (as RecursionError)."""
    import yaml  # imported on first use: the dashboard's first frame does not need it

    global _LOADER
    if _LOADER is None:
        _LOADER = _bounded_loader()
    return yaml.load(text, Loader=_LOADER)  # a SafeLoader subclass: safe


def parse_config_text(text: str, path: Path) -> dict[str, Any]:
    """Parse config text as Hermes would; a YAML error names the line and column."""
    import yaml

    try:
        data = bounded_safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(f"{path} is not valid YAML{where}: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is refused: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path} is refused: it is nested too deeply") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping at the top level")
    return data


def read_config_bytes(path: Path) -> bytes:
    """The file's bytes; a clear ConfigError when it is missing or not a regular file
    (a FIFO or a device is refused at once, never waited on)."""
    try:
        return read_regular_bytes(path)
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist") from None
    except UnsafeFileError as exc:
        raise ConfigError(str(exc)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None


def read_config_text(path: Path) -> str:
    """The file's text, line endings untouched; a clear ConfigError when it is missing,
    not a regular file or not UTF-8."""
    try:
        return read_config_bytes(path).decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text") from None


def config_exists(path: Path) -> bool:
    """Whether something is at ``path`` (a dangling symlink counts: reading it says so)."""
    return path.exists() or path.is_symlink()


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
