"""The history of ``provider_routing``: one record per change, kept beside the call log.

Kept as a JSON-lines file (``routing-history.jsonl`` next to ``calls.db``) rather than a
table of the call log: the call log's schema is shared with the recorder plugin running
inside Hermes, and a new table would mean a schema version an older plugin refuses to
write to; history is small, written rarely, appended only, and readable by a human.

Each record has the time, the block before and after (as Hermes reads it), a diff by key
and the source: ``editor`` (the TUI), ``routing set``, ``routing restore``, ``by hand``
(the file's block differs from the last one recorded: its time is the file's mtime), or
``first seen`` (the block found when no history existed: a baseline, not a change).
Appends and the check for changes by hand hold an exclusive lock on the file, so two
processes never record one change twice; a write of config.yaml through
:meth:`RoutingHistory.write_and_record` holds it too, so writes from several processes are
recorded in the order they happened. The file is ours alone: a symlink, a hard link or
anything but a regular file in its place is refused (never followed: as root, a link to
``/etc/passwd`` would otherwise get our lines appended), and only its newest
:data:`MAX_READ` bytes are read. A history that cannot be read or written never stops a
command: ``problem`` says why nothing was read or recorded.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import math
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import IO, Any, TypeVar

from hermes_dash.hermes.config import (
    ConfigError,
    config_exists,
    load_config,
    parse_config_text,
    routing_block,
)

HISTORY_NAME = "routing-history.jsonl"
BY_HAND = "by hand"
FIRST_SEEN = "first seen"
#: A history line longer than this is not ours: skipped unread.
MAX_LINE = 256 * 1024
#: Only the newest this many bytes are read (thousands of changes): every command checks
#: the file for a change by hand, so a huge one must not make each of them slow.
MAX_READ = 1024 * 1024

T = TypeVar("T")


def history_path(call_log: Path) -> Path:
    """The history file beside the call log."""
    return call_log.parent / HISTORY_NAME


def plain_block(value: Any) -> Any:
    """A block as JSON can carry it, the same way each time: YAML's dates, binary and
    non-string keys become their text, NaN and infinities their name; so a block with
    ``x: 2024-01-01`` is recorded, and compares equal to its record the next time."""
    if isinstance(value, dict):
        return {str(k): plain_block(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_block(v) for v in value]
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return str(value)


def block_diff(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The change by key: ``sort: price -> latency``, ``+ ignore: [chutes]``, ``- order``."""
    lines: list[str] = []
    for key in [*before, *(k for k in after if k not in before)]:
        old, new = before.get(key), after.get(key)
        if key not in after:
            lines.append(f"- {key}: {json.dumps(old)}")
        elif key not in before:
            lines.append(f"+ {key}: {json.dumps(new)}")
        elif old != new:
            lines.append(f"~ {key}: {json.dumps(old)} -> {json.dumps(new)}")
    return lines


@dataclass(frozen=True)
class Change:
    """One recorded state of the block and how it got there."""

    at: float  # unix seconds
    source: str
    config: str  # on disk: relative to the history's folder (a moved home still matches)
    before: dict[str, Any]
    after: dict[str, Any]
    diff: list[str]

    @property
    def is_change(self) -> bool:
        """False for the ``first seen`` baseline."""
        return self.source != FIRST_SEEN

    @classmethod
    def from_json(cls, data: Any) -> Change | None:
        """A record from one parsed line; None when it is not one of ours."""
        if not isinstance(data, dict):
            return None
        at, before, after = data.get("at"), data.get("before"), data.get("after")
        if not isinstance(at, int | float) or isinstance(at, bool) or not 0 <= at < 1e10:
            return None
        if not isinstance(before, dict) or not isinstance(after, dict):
            return None
        diff = data.get("diff")
        return cls(
            at=float(at),
            source=str(data.get("source") or ""),
            config=str(data.get("config") or ""),
            before=before,
            after=after,
            diff=[str(x) for x in diff] if isinstance(diff, list) else block_diff(before, after),
        )


def _open(path: Path, *, write: bool) -> IO[bytes]:
    """The history file, never through a link and only when it is a regular file of ours."""
    flags = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    flags |= os.O_RDWR | os.O_CREAT | os.O_APPEND if write else os.O_RDONLY
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OSError(f"{path} is a symbolic link, not followed") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(f"{path} is not a regular file")
        if st.st_nlink > 1:
            raise OSError(f"{path} has other hard links: not a file of ours")
    except OSError:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb+" if write else "rb")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[IO[bytes]]:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with _open(path, write=True) as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield fh
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _skip_rest_of_line(fh: IO[bytes], line: bytes) -> None:
    while line and not line.endswith(b"\n"):
        line = fh.readline(MAX_LINE + 1)


def _read(fh: IO[bytes]) -> list[Change]:
    size = fh.seek(0, os.SEEK_END)
    start = max(0, size - MAX_READ)
    fh.seek(max(0, start - 1))
    if start and fh.read(1) != b"\n":
        _skip_rest_of_line(fh, fh.readline(MAX_LINE + 1))  # the cut line is not whole
    out: list[Change] = []
    while line := fh.readline(MAX_LINE + 1):
        if len(line) > MAX_LINE:
            _skip_rest_of_line(fh, line)
            continue
        try:
            change = Change.from_json(json.loads(line.decode("utf-8", "replace")))
        except ValueError:
            continue  # a torn or foreign line: skip it, keep the rest
        if change is not None:
            out.append(change)
    return out


def _append(fh: IO[bytes], change: Change) -> None:
    line = json.dumps(asdict(change), sort_keys=False).encode("utf-8") + b"\n"
    end = fh.seek(0, os.SEEK_END)
    if end:
        fh.seek(end - 1)
        if fh.read(1) != b"\n":
            line = b"\n" + line  # a torn last line (a crash mid-write) stays on its own
    fh.write(line)
    fh.flush()
    os.fsync(fh.fileno())


class RoutingHistory:
    """The history file: read, append a write, detect a change made by hand."""

    def __init__(self, path: Path) -> None:
        self.path = path
        #: Why the last read or write of the file did not happen (None when it did).
        self.problem: str | None = None

    def _failed(self, what: str, exc: OSError) -> None:
        self.problem = f"routing history {what}: {exc.strerror or exc}"

    def _key(self, config: Path) -> str:
        """How a config is named in the file: relative to the history's folder, so a
        Hermes home copied or moved elsewhere keeps its history."""
        return os.path.relpath(os.path.abspath(config), os.path.abspath(self.path.parent))

    def _absolute(self, change: Change) -> Change:
        where = os.path.normpath(os.path.join(os.path.abspath(self.path.parent), change.config))
        return replace(change, config=where)

    def records(self) -> list[Change]:
        """Every record, oldest first (the baseline included); [] without a file."""
        self.problem = None
        try:
            with _open(self.path, write=False) as fh:
                return [self._absolute(c) for c in _read(fh)]
        except FileNotFoundError:
            return []
        except OSError as exc:
            self._failed("not read", exc)
            return []

    def changes(self, config: Path | None = None) -> list[Change]:
        """The changes (no baseline), oldest first by time (a record dated by a skewed
        clock or edited by hand sits where its time puts it, so it cannot squeeze its
        neighbours' before/after windows to nothing); only this config's when given."""
        mine = [
            c
            for c in self.records()
            if c.is_change and (config is None or c.config == os.path.abspath(config))
        ]
        return sorted(mine, key=lambda c: c.at)

    def record(
        self,
        config: Path,
        before: dict[str, Any],
        after: dict[str, Any],
        source: str,
        at: float,
    ) -> Change | None:
        """Append one change made through our writer; None when the block is the same
        (or the history could not be written: ``problem`` says why). A change by hand
        made before it (the file's block was not the last recorded) is recorded first."""
        return self.write_and_record(config, source, lambda: (None, before, after), lambda: at)[1]

    def write_and_record(
        self,
        config: Path,
        source: str,
        write: Callable[[], tuple[T, dict[str, Any], dict[str, Any]]],
        clock: Callable[[], float],
    ) -> tuple[T, Change | None]:
        """Run ``write`` (it changes the config and returns its result with the block
        before and after) holding the history's lock, then record the change: writes by
        several processes are recorded in the order they were made, with no change by hand
        imagined between them. A history that cannot be opened or written never stops the
        write: nothing is recorded and ``problem`` says why. ``write``'s errors propagate."""
        self.problem = None
        key = self._key(config)
        with contextlib.ExitStack() as stack:
            try:
                fh = stack.enter_context(_locked(self.path))
            except OSError as exc:
                self._failed("not recorded", exc)
                return write()[0], None
            result, before, after = write()
            before, after = plain_block(before), plain_block(after)
            if before == after:
                return result, None
            change = Change(clock(), source, key, before, after, block_diff(before, after))
            try:
                last = _last_for(_read(fh), key)
                if last is not None and last.after != before:
                    _append(fh, _by_hand(key, last.after, before, min(change.at, last.at)))
                _append(fh, change)
            except OSError as exc:
                self._failed("not recorded", exc)
                return result, None
        return result, self._absolute(change)

    def sync(self, config: Path) -> Change | None:
        """Compare the file's block with the last recorded one and record a difference
        as a change made by hand (at the file's mtime); with no history yet, record the
        block found as the baseline. Returns the new record, if any. A config that cannot
        be read is left alone: nothing is recorded. The config is read holding the
        lock, so a write by another process (recorded under the same lock) is never
        mistaken for a change by hand."""
        key = self._key(config)
        self.problem = None
        try:
            with _locked(self.path) as fh:
                try:
                    block = plain_block(
                        routing_block(load_config(config)) if config_exists(config) else {}
                    )
                    mtime = config.stat().st_mtime if config_exists(config) else 0.0
                except (ConfigError, OSError):
                    return None
                last = _last_for(_read(fh), key)
                if last is None:
                    new = Change(mtime, FIRST_SEEN, key, {}, block, block_diff({}, block))
                elif last.after == block:
                    return None
                else:
                    new = _by_hand(key, last.after, block, max(mtime, last.at))
                _append(fh, new)
        except OSError as exc:
            self._failed("not recorded", exc)
            return None
        return self._absolute(new)


def _by_hand(key: str, before: dict[str, Any], after: dict[str, Any], at: float) -> Change:
    return Change(at, BY_HAND, key, before, after, block_diff(before, after))


def _last_for(records: list[Change], key: str) -> Change | None:
    mine = [c for c in records if c.config == key]
    return mine[-1] if mine else None


def block_of_text(text: str, path: Path) -> dict[str, Any]:
    """The routing block of config text as Hermes reads it ({} when it cannot be read)."""
    try:
        return routing_block(parse_config_text(text, path)) if text else {}
    except ConfigError:
        return {}
