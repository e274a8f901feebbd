"""Crash-safe local file helpers shared by the object store backends.

`atomic_write` puts a file in place the way the WAL and segments do: temporary name in the same directory,
fsync, rename, fsync of the directory. This module must never leave a partial file under the final name, and
never know about keys or stores.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from lynex_box import private_files

COPY_CHUNK = 1 << 20


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink inside directory `path` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_name_for(path: Path) -> Path:
    """A unique hidden temporary name next to `path`, so the final rename stays on one filesystem."""
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}.part")


@contextlib.contextmanager
def atomic_write(path: Path) -> Iterator[BinaryIO]:
    """Yield a binary file; on normal exit it is fsynced and renamed to `path`, on error it is removed.

    Order matters: data fsync before the rename, so that after a crash `path` holds either the old content or
    the complete new one; directory fsync after it, so that the new name itself survives a power loss.
    """
    tmp = temp_name_for(path)
    done = False
    try:
        with os.fdopen(private_files.open_file(tmp, os.O_WRONLY | os.O_EXCL), "wb") as handle:  # 0600
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


def copy_stream(source: BinaryIO, target: BinaryIO) -> int:
    """Copy in 1 MiB chunks and return the number of bytes copied."""
    total = 0
    while chunk := source.read(COPY_CHUNK):
        target.write(chunk)
        total += len(chunk)
    return total


def write_chunks(chunks: Iterable[bytes], target: BinaryIO) -> int:
    """Write every chunk and return the number of bytes written."""
    total = 0
    for chunk in chunks:
        target.write(chunk)
        total += len(chunk)
    return total


def read_exactly(fd: int, start: int, length: int) -> bytes:
    """pread up to `length` bytes from `start`, looping over short reads; shorter only at end of file."""
    parts: list[bytes] = []
    remaining = length
    offset = start
    while remaining > 0:
        chunk = os.pread(fd, min(remaining, 1 << 30), offset)
        if not chunk:
            break
        parts.append(chunk)
        remaining -= len(chunk)
        offset += len(chunk)
    return b"".join(parts)
