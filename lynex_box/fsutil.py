"""How the appliance writes local files: private modes, and the fsync and rename steps that make a file durable.

Like Prometheus' `fileutil`, this is the one module every layer uses for those two concerns, so each rule lives in
one place.

Private modes: directories 0700, files 0600, whatever the umask. The data directory holds every span, the accounts
database and the keys' hashes; no other local user may read any of it. Every directory and file the appliance
creates goes through this module, which passes the private mode to `mkdir`/`open` (the umask can only take bits away
from a mode, never add them, so the result is private under any umask) rather than changing the umask, which is
shared by every thread of the process. Files that another library creates by name (SQLite's database, pyarrow's
Parquet writer) are created empty here first: they keep the mode of the existing file, and SQLite gives its `-wal`
and `-shm` files the database's mode. Start-up tightens a data directory that is looser than 0700 (the directory
itself: then nothing inside can be reached by another user) and warns; `lynex-box doctor` lists the paths inside
that are looser (`loose_paths`).

Durability: a file's bytes are synced before a rename exposes its name, and the directory is synced after the
rename (or unlink) so the name itself survives a power loss (`fsync_file`, `fsync_dir`, `rename_durably`,
`atomic_write`). Callers keep their crash points and the comment that says why their steps come in that order.

This module never removes anything but its own temporary files, and never changes a file it did not create, except
by `tighten_dir`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Final

DIR_MODE: Final = 0o700
FILE_MODE: Final = 0o600
OTHERS: Final = 0o077  # group and other bits: none may be set

log = logging.getLogger("lynex.files")


def make_dir(path: Path) -> Path:
    """`path` and any missing parents, created 0700; directories that exist already are left as they are."""
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, DIR_MODE)
        except FileExistsError:
            if not directory.is_dir():
                raise
    return path


def open_file(path: Path, flags: int) -> int:
    """`os.open(path, flags | O_CREAT)` with mode 0600; a file that already existed with group or other bits
    gets them removed (its owner is this process's user, or the open would have failed)."""
    fd = os.open(path, flags | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    try:
        if not flags & os.O_EXCL and os.fstat(fd).st_mode & OTHERS:
            os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def create_empty(path: Path) -> Path:
    """Create `path` empty with mode 0600 (or tighten it when it exists), for a library that then writes it by
    name: SQLite, pyarrow's Parquet writer."""
    os.close(open_file(path, os.O_WRONLY))
    return path


def tighten_dir(path: Path) -> bool:
    """Remove group and other bits from directory `path` (0700 for the usual 0755); True when it was looser."""
    mode = stat.S_IMODE(os.stat(path).st_mode)
    if not mode & OTHERS:
        return False
    os.chmod(path, mode & ~OTHERS)
    return True


def prepare_data_dir(path: Path) -> Path:
    """Create the data directory 0700, or tighten an existing one that others could enter, with a warning."""
    make_dir(path)
    mode = stat.S_IMODE(os.stat(path).st_mode)
    if tighten_dir(path):
        log.warning(
            "data dir was open to other users; mode tightened dir=%s from=%s to=%s hint=%s",
            path,
            oct(mode),
            oct(mode & ~OTHERS),
            "files created by older versions may still be readable once the dir is opened again: run "
            "`lynex-box doctor` to list them, `chmod -R go-rwx` on the data dir to fix them",
        )
    return path


def loose_paths(root: Path, limit: int = 20) -> tuple[list[tuple[Path, int]], int]:
    """Up to `limit` paths under `root` (root included) that group or others may use, with their modes, and
    how many there are in all. Symbolic links are not followed."""
    found: list[tuple[Path, int]] = []
    total = 0

    def note(path: Path) -> None:
        nonlocal total
        try:
            mode = stat.S_IMODE(os.lstat(path).st_mode)
        except FileNotFoundError:  # removed while walking (a flush, a compaction)
            return
        if mode & OTHERS and not path.is_symlink():
            total += 1
            if len(found) < limit:
                found.append((path, mode))

    note(root)
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            note(Path(directory) / name)
    return found, total


def fsync_file(path: Path) -> None:
    """Make the bytes of the file at `path` durable (before a rename exposes its name)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Make a rename, link, creation or unlink inside directory `path` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def rename_durably(source: Path, target: Path) -> None:
    """`os.rename(source, target)`, then sync `target`'s directory so the new name survives a crash. The caller has
    synced `source`'s bytes first; both must be on one filesystem."""
    os.rename(source, target)
    fsync_dir(target.parent)


def temp_name_for(path: Path) -> Path:
    """A unique hidden temporary name next to `path`, so the final rename stays on one filesystem."""
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}.part")


@contextlib.contextmanager
def atomic_write(path: Path) -> Iterator[BinaryIO]:
    """Yield a binary file (0600); on normal exit it is fsynced and renamed to `path`, on error it is removed.

    Order matters: data fsync before the rename, so that after a crash `path` holds either the old content or
    the complete new one; directory fsync after it, so that the new name itself survives a power loss.
    """
    tmp = temp_name_for(path)
    done = False
    try:
        with os.fdopen(open_file(tmp, os.O_WRONLY | os.O_EXCL), "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        done = True
        fsync_dir(path.parent)
    finally:
        if not done:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
