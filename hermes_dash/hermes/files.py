"""Reading and writing files that other people and programs may have arranged oddly.

Every file hermes-dash writes (config.yaml, backups, the plugin's files, settings.json,
``export --output``) goes through :func:`atomic_writer`:

- a symlink is written *through*: the link stays a link and its target gets the new bytes
  (dotfile managers keep config.yaml as a link into a repository);
- the temp file gets an unpredictable name and is created with ``O_CREAT|O_EXCL|O_NOFOLLOW``
  (``tempfile.mkstemp``) in the target's own folder, so a link planted there cannot
  redirect the write;
- its mode is set on the open descriptor (``fchmod``), never by path, so no other file's
  mode can be changed by a name swapped in between;
- it is fsynced and renamed over the target, then the folder is fsynced: a crash leaves
  the old file or the new one, never half of one.

Reads go through :func:`read_regular_bytes`, which opens without blocking and refuses
anything but a regular file: a FIFO named config.yaml would otherwise hang the reader
(and, in the dashboard, the thread that quitting waits for).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

#: Refuse files larger than this: config.yaml, plugin.yaml and backups are kilobytes.
MAX_READ_BYTES = 16 * 1024 * 1024


class UnsafeFileError(OSError):
    """A path is not what it must be (not a regular file, a symlinked folder, ...)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        # Callers that report OSError.strerror show the whole sentence.
        self.strerror = message

    def __str__(self) -> str:
        return self.message


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def read_regular_bytes(path: Path, *, limit: int = MAX_READ_BYTES) -> bytes:
    """The bytes of a regular file; UnsafeFileError for anything else (never blocks on a
    FIFO or a device). FileNotFoundError and other OSErrors pass through."""
    # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeFileError(f"{path} is {_kind(st.st_mode)}, not a regular file")
        if st.st_size > limit:
            raise UnsafeFileError(f"{path} is too large ({st.st_size:,} bytes)")
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, 1 << 16):
            size += len(chunk)
            if size > limit:  # it grew while we read it
                raise UnsafeFileError(f"{path} is too large (over {limit:,} bytes)")
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def regular_file_mode(path: Path) -> int | None:
    """The permission bits of the file ``path`` names (through links); None when it does
    not exist; UnsafeFileError when it is not a regular file."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeFileError(f"{path} is {_kind(st.st_mode)}, not a regular file")
    return stat.S_IMODE(st.st_mode)


def write_target(path: Path) -> Path:
    """Where writing ``path`` must land: the final target of a symlink, else the path."""
    if path.is_symlink():
        return Path(os.path.realpath(path))
    return path


def default_file_mode() -> int:
    """0o666 less the process umask: what ``open(path, "w")`` would have created."""
    # Reading the umask with os.umask() sets it too, which races with other threads;
    # Linux reports it in /proc instead.
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o644


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # some filesystems cannot fsync a folder
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


@contextlib.contextmanager
def atomic_writer(
    path: Path, *, mode: int | None = None, new_mode: int = 0o600
) -> Iterator[BinaryIO]:
    """Yield a binary file; on a clean exit it replaces ``path`` (or its symlink's target)
    atomically, on an exception it vanishes and ``path`` is untouched.

    ``mode`` forces the new file's permission bits; otherwise an existing target keeps its
    own, and a new one gets ``new_mode``.
    """
    target = write_target(path)
    existing = regular_file_mode(target)  # refuses to replace a FIFO, a folder, a device
    final_mode = mode if mode is not None else (existing if existing is not None else new_mode)
    directory = target.parent
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        # The hidden temporary name means nothing to the user: name the file they asked for.
        raise UnsafeFileError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        os.fchmod(fd, final_mode)
        with os.fdopen(fd, "wb") as fh:
            fd = -1  # the file object owns it now
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    _fsync_dir(directory)


def atomic_write_bytes(
    path: Path, data: bytes, *, mode: int | None = None, new_mode: int = 0o600
) -> None:
    """Replace ``path`` (or its symlink's target) with ``data`` atomically."""
    with atomic_writer(path, mode=mode, new_mode=new_mode) as fh:
        fh.write(data)


def private_dir(path: Path) -> int:
    """Open a folder only we may use, creating it 0700; returns an ``O_DIRECTORY`` fd
    (the caller closes it). A symlink in its place is refused; an existing folder of ours
    that others can read or write is tightened to 0700; one owned by another user is
    refused."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if path.is_symlink():
            raise UnsafeFileError(
                f"{path} is a symlink; refusing to use it as the backups folder"
            ) from None
        raise UnsafeFileError(f"cannot open {path}: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if st.st_uid != os.geteuid():
            raise UnsafeFileError(f"{path} belongs to another user; refusing to use it")
        if stat.S_IMODE(st.st_mode) & 0o077:
            os.fchmod(fd, 0o700)  # on the fd: the folder we checked, not a swapped name
    except BaseException:
        os.close(fd)
        raise
    return fd
