"""The recorder plugin as installed in a Hermes home: status, install, uninstall."""

from __future__ import annotations

import shlex
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hermes_dash import __version__
from hermes_dash.calllog import recorder
from hermes_dash.calllog.recorder import PLUGIN_NAME
from hermes_dash.calllog.store import CallLogError, CallStore
from hermes_dash.hermes.config import ConfigError, bounded_safe_load, load_config
from hermes_dash.hermes.files import atomic_write_bytes, default_file_mode, read_regular_bytes
from hermes_dash.hermes.paths import HermesHomeError, HermesPaths
from hermes_dash.services.readonly import refuse_if_read_only

if TYPE_CHECKING:
    from hermes_dash.hermes.writer import Proposal

#: Rows newer than this mean the recorder is alive.
RECEIVING_WITHIN_S = 15 * 60


@dataclass(frozen=True)
class PluginStatus:
    """What ``plugin status`` reports and the status line shows."""

    installed: bool
    enabled: bool
    installed_version: str | None
    last_write: float | None
    dropped_rows: int = 0

    @property
    def same_version(self) -> bool:
        """Whether the installed copy is this hermes-dash's recorder."""
        return self.installed_version == __version__

    def state(self, now: float | None = None) -> str:
        """'not installed', 'installed (disabled)', 'installed' or 'receiving rows'."""
        now = time.time() if now is None else now
        if not self.installed:
            return "not installed"
        if not self.enabled:
            return "installed (disabled)"
        if self.last_write is not None and now - self.last_write < RECEIVING_WITHIN_S:
            return "receiving rows"
        return "installed"


def plugin_dir(paths: HermesPaths) -> Path:
    """Where the recorder lives in a Hermes home."""
    return paths.plugins / PLUGIN_NAME


def _installed_version(folder: Path) -> str | None:
    import yaml  # imported on first use: the dashboard's first frame does not need it

    try:
        manifest = bounded_safe_load(read_regular_bytes(folder / "plugin.yaml").decode("utf-8"))
    except (OSError, UnicodeDecodeError, RecursionError, yaml.YAMLError):
        return None
    version = manifest.get("version") if isinstance(manifest, dict) else None
    return str(version) if version is not None else None


def is_enabled(paths: HermesPaths) -> bool:
    """Whether config.yaml lists the recorder in ``plugins.enabled``."""
    try:
        config = load_config(paths.config)
    except ConfigError:
        return False
    plugins = config.get("plugins")
    enabled = plugins.get("enabled") if isinstance(plugins, dict) else None
    return isinstance(enabled, list) and PLUGIN_NAME in enabled


def plugin_status(paths: HermesPaths, store: CallStore | None) -> PluginStatus:
    """Inspect the Hermes home and the call log."""
    folder = plugin_dir(paths)
    installed = (folder / "__init__.py").is_file()
    last_write = None
    dropped = 0
    if store is not None:
        try:
            last_write = store.last_write()
            dropped = store.dropped_rows()
        except CallLogError:
            pass
    return PluginStatus(
        installed=installed,
        enabled=installed and is_enabled(paths),
        installed_version=_installed_version(folder) if installed else None,
        last_write=last_write,
        dropped_rows=dropped,
    )


def recorder_source() -> Path:
    """The recorder package shipped inside hermes-dash."""
    return Path(recorder.__file__).resolve().parent


#: Files that make up the plugin (the schema module travels with it: one definition).
PLUGIN_FILES = (
    "__init__.py",
    "context.py",
    "parse.py",
    "rollups.py",
    "rows.py",
    "schema.py",
    "values.py",
    "wire.py",
    "writer.py",
    "plugin.yaml",
)


def _enable(block: dict[str, Any], on: bool) -> None:
    from hermes_dash.hermes.writer import ConfigWriteError

    enabled = block.get("enabled")
    if on:
        if enabled is None:
            block["enabled"] = [PLUGIN_NAME]
        elif isinstance(enabled, list):
            if PLUGIN_NAME not in enabled:
                enabled.append(PLUGIN_NAME)
        else:
            raise ConfigWriteError("plugins.enabled in config.yaml is not a list; fix it by hand")
    elif isinstance(enabled, list) and PLUGIN_NAME in enabled:
        while PLUGIN_NAME in enabled:
            enabled.remove(PLUGIN_NAME)


def propose_enable(paths: HermesPaths) -> Proposal | None:
    """The change to config.yaml that enables the recorder (its diff is what a user
    confirms); None when ``plugins.enabled`` already lists it."""
    # The comment-preserving writer (ruamel.yaml) is loaded only when a write happens,
    # not every time the dashboard starts.
    from hermes_dash.hermes.writer import load_for_edit, propose_block

    paths.require()
    if is_enabled(paths):
        return None
    return propose_block(load_for_edit(paths.config), "plugins", lambda b: _enable(b, True))


def _still_as_confirmed(paths: HermesPaths, proposal: Proposal | None) -> None:
    """ConfigWriteError when config.yaml is no longer what the confirmation was made from:
    then nothing is copied and nothing written (the user saw another diff)."""
    from hermes_dash.hermes.config import config_exists, read_config_text
    from hermes_dash.hermes.writer import ConfigWriteError

    if proposal is None:
        # Confirmed as "only the files": the config must still enable the recorder.
        changed = not is_enabled(paths)
    else:
        try:
            path = proposal.loaded.path
            changed = (read_config_text(path) if config_exists(path) else "") != (
                proposal.loaded.text
            )
        except ConfigError:
            changed = True
    if changed:
        raise ConfigWriteError(
            f"{paths.config} changed on disk since the confirmation; nothing was installed: "
            "try again to see the new diff"
        )


def _refuse_folder_in_the_way(path: Path, wrong: bool) -> None:
    """HermesHomeError naming what to move aside when ``path`` (the plugin's folder or one
    of its files) is something install must not delete: a folder's content is not ours."""
    if wrong and (path.exists() or path.is_symlink()):
        raise HermesHomeError(
            f"{path} is in the way of the recorder's files: move it aside "
            f"(mv {shlex.quote(str(path))} {shlex.quote(str(path))}.old), then install again"
        )


def install(
    paths: HermesPaths,
    proposal: Proposal | None = None,
    *,
    confirmed: bool = False,
    read_only: bool = False,
) -> tuple[Path, Path | None]:
    """Copy the plugin in and enable it; returns (plugin dir, config backup). Idempotent.

    ``proposal`` is the change a user confirmed (see :func:`propose_enable`; with
    ``confirmed``, None means the confirmation showed no config change): it is written as
    shown, or nothing at all is done when config.yaml changed since it was read. With
    neither, the change is worked out here. Either way config.yaml is read before any file
    is copied, so a config that cannot be edited leaves no half-installed plugin behind.
    ReadOnlyError (nothing written) when writes are off."""
    from hermes_dash.hermes.writer import commit

    refuse_if_read_only(read_only, "installing the recorder")
    paths.require()
    if proposal is None and not confirmed:
        proposal = propose_enable(paths)
    else:
        _still_as_confirmed(paths, proposal)
    target = plugin_dir(paths)
    _refuse_folder_in_the_way(target, not target.is_dir())
    target.mkdir(parents=True, exist_ok=True)
    src = recorder_source()
    for name in PLUGIN_FILES:
        data = (src / name).read_bytes()
        dest = target / name
        _refuse_folder_in_the_way(dest, dest.is_dir() and not dest.is_symlink())
        if not dest.is_file() or dest.is_symlink() or dest.read_bytes() != data:
            # A symlink, FIFO or socket in the plugin folder is replaced, never written
            # through or waited on: the plugin's files are ours, what a link points at is not.
            if dest.is_symlink() or dest.exists():
                dest.unlink()
            atomic_write_bytes(dest, data, mode=default_file_mode() & 0o755)
    backup = commit(proposal, paths.backups) if proposal is not None else None
    return target, backup


def uninstall(paths: HermesPaths) -> tuple[bool, Path | None]:
    """Disable and remove the plugin (the call log stays); returns (removed, backup)."""
    from hermes_dash.hermes.writer import commit, load_for_edit, propose_block

    paths.require()
    backup = None
    if is_enabled(paths):
        proposal = propose_block(
            load_for_edit(paths.config), "plugins", lambda b: _enable(b, False)
        )
        backup = commit(proposal, paths.backups)
    target = plugin_dir(paths)
    removed = target.exists()
    if removed:
        shutil.rmtree(target)
    return removed, backup
