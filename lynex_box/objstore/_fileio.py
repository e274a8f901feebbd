"""Byte-copy loops shared by the object store backends: stream to stream, chunks to a file, pread to the end.

Making a file durable (`atomic_write`, `fsync_dir`) is `lynex_box.fsutil`'s job. This module must never know about
keys or stores.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import BinaryIO

COPY_CHUNK = 1 << 20


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
