"""The safe config.yaml writer: change one top-level block, leave every other byte alone.

How: the block's lines are located in the text, re-rendered on their own with
ruamel.yaml (which keeps the block's own comments and list styles), and spliced back
between the untouched text before and after it. Before anything is written, the new text
is read back with PyYAML ``safe_load`` (what Hermes uses): the block must equal what was
intended and everything else must equal the old parse, otherwise nothing is written.
Writes are atomic and write through a symlink (see ``hermes.files``), keep the file's
mode, refuse when the file changed on disk since it was read, and leave a timestamped
backup in a private folder (the newest 20 are kept).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import io
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from hermes_dash.hermes.config import (
    ConfigError,
    config_exists,
    expanded_size,
    parse_config_text,
    read_config_bytes,
    read_config_text,
)
from hermes_dash.hermes.files import (
    UnsafeFileError,
    atomic_write_bytes,
    private_dir,
    read_regular_bytes,
    regular_file_mode,
)

KEEP_BACKUPS = 20
#: The names our backups get; pruning deletes nothing else.
_BACKUP_NAME = re.compile(r"^config\.yaml\.\d{8}T\d{12}Z(?:-\d+)?\.bak$")
_TOP_KEY = re.compile(r"^(?P<key>[A-Za-z_][\w.-]*|\"[^\"]*\"|'[^']*')\s*:(?:\s|$)")


class ConfigWriteError(ConfigError):
    """The change was refused; the file on disk is untouched."""


@dataclass(frozen=True)
class BlockSpan:
    """Where a top-level key's block sits: text[start:end] (whole lines)."""

    start: int
    end: int


@dataclass(frozen=True)
class LoadedConfig:
    """config.yaml as read, with what is needed to detect a concurrent change."""

    path: Path
    text: str
    parsed: dict[str, Any]
    mode: int | None

    @property
    def newline(self) -> str:
        """The file's line ending."""
        return "\r\n" if "\r\n" in self.text else "\n"


@dataclass(frozen=True)
class Proposal:
    """A change ready to write: the new text, what Hermes will read, the diff."""

    loaded: LoadedConfig
    key: str
    new_text: str
    intended: Any

    @property
    def changed(self) -> bool:
        """Whether the text differs at all."""
        return self.new_text != self.loaded.text

    def diff(self) -> str:
        """A unified diff of config.yaml."""
        name = str(self.loaded.path)
        return "".join(
            difflib.unified_diff(
                self.loaded.text.splitlines(keepends=True),
                self.new_text.splitlines(keepends=True),
                fromfile=name,
                tofile=name,
            )
        )


def load_for_edit(path: Path) -> LoadedConfig:
    """Read and parse; a missing file is an empty config (it will be created)."""
    if not config_exists(path):
        if not path.parent.is_dir():
            raise ConfigError(f"{path.parent} does not exist")
        return LoadedConfig(path, "", {}, None)
    text = read_config_text(path)
    parsed = parse_config_text(text, path)
    try:
        mode = regular_file_mode(path)
    except OSError as exc:
        raise ConfigError(str(exc)) from None
    return LoadedConfig(path, text, parsed, mode)


def find_block(text: str, key: str) -> BlockSpan | None:
    """The lines of a top-level key: its line, then every blank or indented line after
    it, up to the next line that starts at column 0. Trailing blank and comment lines are
    left out: they often introduce the next section, and are never ours to rewrite."""
    lines = text.splitlines(keepends=True)
    offset = 0
    start_line = None
    for i, line in enumerate(lines):
        m = _TOP_KEY.match(line)
        if m and m.group("key").strip("\"'") == key:
            start_line = i
            break
        offset += len(line)
    if start_line is None:
        return None
    start = offset
    end = offset + len(lines[start_line])
    last_content_end = end
    for line in lines[start_line + 1 :]:
        stripped = line.strip()
        if stripped and not line[0].isspace():
            break
        end += len(line)
        if stripped and not stripped.startswith("#"):
            last_content_end = end
    return BlockSpan(start, last_content_end)


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096  # never fold a long line we did not mean to touch
    return y


def to_plain(value: Any) -> Any:
    """A ruamel value as the plain Python PyYAML would produce."""
    if isinstance(value, dict):
        return {to_plain(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value


def _indent_of(block_text: str) -> int:
    for line in block_text.splitlines()[1:]:
        if line.strip() and not line.lstrip().startswith("#"):
            return len(line) - len(line.lstrip())
    return 2


def _render_block(
    key: str, block_text: str, mutate: Callable[[CommentedMap], None]
) -> tuple[str, Any]:
    """Re-render one block after ``mutate``; returns (text, plain value)."""
    y = _yaml()
    if block_text.strip():
        try:
            # Measure before building: ruamel.yaml, like PyYAML, would expand an alias bomb.
            expanded_size(y.compose(block_text))
            doc = y.load(block_text)
        except ValueError as exc:
            raise ConfigWriteError(f"cannot edit the {key} block: {exc}") from None
        except RecursionError:
            raise ConfigWriteError(f"cannot edit the {key} block: nested too deeply") from None
        except YAMLError as exc:
            raise ConfigWriteError(f"cannot edit the {key} block: {exc}") from None
        value = doc.get(key) if isinstance(doc, CommentedMap) else None
        if value is not None and not isinstance(value, CommentedMap):
            raise ConfigWriteError(f"{key} in config.yaml is not a mapping; fix it by hand first")
        if value is not None and value.anchor.value:
            raise ConfigWriteError(f"{key} uses a YAML anchor; edit it by hand")
    else:
        doc = CommentedMap()
        value = None
    if value is None:
        value = CommentedMap()
        doc[key] = value
    mutate(value)
    indent = _indent_of(block_text)
    y.indent(mapping=indent, sequence=indent + 2, offset=indent)
    out = io.StringIO()
    if len(value) == 0:
        # An empty block mapping renders as "key:" (null); say {} explicitly.
        value.fa.set_flow_style()
    y.dump(doc, out)
    return out.getvalue(), to_plain(doc[key])


def propose_block(
    loaded: LoadedConfig, key: str, mutate: Callable[[CommentedMap], None]
) -> Proposal:
    """The new file text with only ``key``'s block changed by ``mutate``."""
    text = loaded.text
    nl = loaded.newline
    span = find_block(text, key)
    if span is None:
        if key in loaded.parsed:
            raise ConfigWriteError(f"cannot find the {key} block in {loaded.path}; edit it by hand")
        block_text, intended = _render_block(key, "", mutate)
        block_text = block_text.replace("\n", nl)
        if not text:
            new_text = block_text
        else:
            ends_with_nl = text.endswith(("\n", "\r"))
            sep = "" if ends_with_nl else nl
            if not ends_with_nl:
                block_text = block_text.removesuffix(nl)
            new_text = text + sep + nl + block_text
    else:
        old_block = text[span.start : span.end].replace("\r\n", "\n")
        block_text, intended = _render_block(key, old_block, mutate)
        if not old_block.endswith("\n"):
            block_text = block_text.removesuffix("\n")
        new_text = text[: span.start] + block_text.replace("\n", nl) + text[span.end :]
    proposal = Proposal(loaded, key, new_text, intended)
    verify(proposal)
    return proposal


def verify(proposal: Proposal) -> None:
    """Refuse unless PyYAML reads the intended block and everything else unchanged."""
    loaded = proposal.loaded
    try:
        new = parse_config_text(proposal.new_text, loaded.path)
    except ConfigError as exc:
        raise ConfigWriteError(f"refusing to write: the result would not parse ({exc})") from None
    if new.get(proposal.key) != proposal.intended:
        raise ConfigWriteError(
            f"refusing to write: Hermes would read {proposal.key} differently than intended"
        )
    rest_old = {k: v for k, v in loaded.parsed.items() if k != proposal.key}
    rest_new = {k: v for k, v in new.items() if k != proposal.key}
    if rest_old != rest_new:
        raise ConfigWriteError("refusing to write: other settings would change")


def _backup_data(data: bytes, backups: Path) -> Path:
    """Store ``data`` as a new backup and prune old ones, all inside the private folder."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    dir_fd = private_dir(backups)
    try:
        for attempt in range(100):
            name = f"config.yaml.{stamp}{f'-{attempt}' if attempt else ''}.bak"
            try:
                fd = os.open(
                    name,
                    os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                    0o600,
                    dir_fd=dir_fd,
                )
            except FileExistsError:
                continue
            break
        else:
            raise UnsafeFileError(f"cannot create a backup in {backups}")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        for old in _backup_names(dir_fd)[KEEP_BACKUPS:]:
            # unlink by name inside the open folder never follows a link; a backup we
            # cannot prune (gone, or swapped for a folder) must not block the write.
            with contextlib.suppress(OSError):
                os.unlink(old, dir_fd=dir_fd)
    finally:
        os.close(dir_fd)
    return backups / name


def _backup_names(dir_fd: int) -> list[str]:
    """Our backups in the open folder (regular files with our name pattern), newest first."""
    with os.scandir(dir_fd) as entries:
        names = [
            e.name
            for e in entries
            if _BACKUP_NAME.match(e.name) and e.is_file(follow_symlinks=False)
        ]
    return sorted(names, reverse=True)


def _backup(loaded: LoadedConfig, backups: Path) -> Path | None:
    if not loaded.text and not config_exists(loaded.path):
        return None
    return _backup_data(read_config_bytes(loaded.path), backups)


def list_backups(backups: Path) -> list[Path]:
    """Backups, newest first: regular files with our name pattern, never through a
    symlinked folder."""
    try:
        dir_fd = os.open(backups, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return []
    try:
        return [backups / name for name in _backup_names(dir_fd)]
    finally:
        os.close(dir_fd)


def atomic_write(path: Path, text: str, mode: int) -> None:
    """Replace ``path`` (through a symlink) with ``text`` atomically, with this mode."""
    atomic_write_bytes(path, text.encode("utf-8"), mode=mode)


def commit(proposal: Proposal, backups: Path) -> Path | None:
    """Write the proposal; returns the backup's path (None when nothing changed)."""
    loaded = proposal.loaded
    if not proposal.changed:
        return None
    try:
        current = read_config_text(loaded.path) if config_exists(loaded.path) else ""
    except ConfigError as exc:
        raise ConfigWriteError(str(exc)) from None
    if current != loaded.text:
        raise ConfigWriteError(
            f"{loaded.path} changed on disk since it was read (edited by you or by Hermes); "
            "nothing was written: load it again"
        )
    try:
        backup = _backup(loaded, backups)
        atomic_write(
            loaded.path, proposal.new_text, loaded.mode if loaded.mode is not None else 0o600
        )
    except UnsafeFileError as exc:
        raise ConfigWriteError(f"{exc}; {loaded.path} is unchanged") from None
    except OSError as exc:
        raise ConfigWriteError(
            f"could not write {loaded.path}: {exc.strerror or exc}; the file is unchanged"
        ) from None
    return backup


def restore_backup(backup: Path, config: Path, backups: Path) -> Path | None:
    """Put a backup's exact bytes back in place, whatever the current file holds (broken
    YAML, nothing, no file at all); the current file, when readable, is backed up first.
    Returns that backup (None when there was nothing to keep or nothing changed)."""
    try:
        data = read_regular_bytes(backup)
    except OSError as exc:
        raise ConfigWriteError(f"cannot read backup {backup}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigWriteError(f"backup {backup} is not UTF-8 text; not restored") from None
    parse_config_text(text, backup)  # never restore something Hermes cannot read
    try:
        mode = regular_file_mode(config)
    except OSError as exc:
        raise ConfigWriteError(f"{exc}; not restored") from None
    current: bytes | None = None
    if mode is not None:
        # What it replaces is kept if it can be read at all (it need not parse).
        with contextlib.suppress(OSError):
            current = read_regular_bytes(config)
    if current == data:
        return None
    try:
        saved = _backup_data(current, backups) if current is not None else None
        atomic_write_bytes(config, data, mode=mode if mode is not None else 0o600)
    except OSError as exc:
        raise ConfigWriteError(
            f"could not restore {config}: {exc.strerror or exc}; the file is unchanged"
        ) from None
    return saved


def set_flow(seq: CommentedSeq) -> CommentedSeq:
    """Mark a list to render as ``[a, b]``."""
    seq.fa.set_flow_style()
    return seq
