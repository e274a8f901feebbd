"""WAL framing: file headers and record frames, exactly as docs/format/wal.md specifies.

Pure functions over bytes, so the format can be property-tested without touching a disk. It must
never guess: a frame that fails any check is reported as damaged, never partially accepted. What a frame's
type byte and payload mean is records.py's business (`RecordType`, `RecordHeader`), never this module's.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import crc32c as _crc32c
import pyarrow as pa
import zstandard

from lynex_box.versions import WAL_FORMAT, FormatTooNew

MAGIC_PREFIX: Final = b"LNXWAL"  # then the format version as two ASCII digits
FILE_MAGIC: Final = MAGIC_PREFIX + b"%02d" % WAL_FORMAT  # b"LNXWAL01"
FILE_HEADER = struct.Struct("<8sQ")
FRAME_HEADER = struct.Struct("<IIBBQ")  # crc, length, type, flags, lsn
FILE_HEADER_SIZE: Final = FILE_HEADER.size  # 16
FRAME_HEADER_SIZE: Final = FRAME_HEADER.size  # 18
FLAG_ZSTD: Final = 0x01
FLAG_LZ4: Final = 0x02  # an LZ4 frame after the payload's decompressed length (u32 LE)
FLAGS_KNOWN: Final = FLAG_ZSTD | FLAG_LZ4
CODECS: Final = ("lz4", "zstd", "none")
_LZ4_SIZE = struct.Struct("<I")
_LZ4 = pa.Codec("lz4")  # stateless, thread-safe; Arrow's LZ4 frame codec (compresses without the GIL)
MAX_PAYLOAD: Final = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class WalRecord:
    """One decoded record: its position, its type and its (decompressed) payload."""

    lsn: int
    type: int
    payload: bytes


class FrameError(Exception):
    """A record or file header that does not pass its checks; `reason` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def encode_file_header(first_lsn: int) -> bytes:
    return FILE_HEADER.pack(FILE_MAGIC, first_lsn)


def file_version(magic: bytes) -> int | None:
    """The format version a file magic names (`LNXWAL` and two digits), or None for a foreign or damaged one."""
    digits = magic[len(MAGIC_PREFIX) :]
    if len(magic) != 8 or not magic.startswith(MAGIC_PREFIX) or not (digits.isdigit() and digits.isascii()):
        return None
    return int(digits) or None


def decode_file_header(data: bytes, where: str = "WAL file") -> int:
    """Return the file's first LSN, or raise FrameError if the header is short or foreign.

    A header of a newer format (a newer release wrote the file) raises FormatTooNew naming `where`: such a file is
    neither read nor, as a damaged one would be, deleted."""
    if len(data) < FILE_HEADER_SIZE:
        raise FrameError("file header incomplete")
    magic, first_lsn = FILE_HEADER.unpack_from(data)
    if magic != FILE_MAGIC:
        version = file_version(magic)
        if version is None:
            raise FrameError(f"bad magic {magic!r}")
        if version > WAL_FORMAT:
            raise FormatTooNew("WAL file", where, version, WAL_FORMAT)
    return int(first_lsn)


def encode_record(lsn: int, rtype: int, body: bytes, flags: int) -> bytes:
    """Frame an already-encoded payload (compressed or not, as `flags` says)."""
    if not 0 < rtype < 256:
        raise ValueError(f"record type {rtype} out of range 1..255")
    if len(body) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(body)} bytes exceeds the 4 GiB frame limit")
    tail = struct.pack("<IBBQ", len(body), rtype, flags, lsn)
    crc = _crc32c.crc32c(body, _crc32c.crc32c(tail))
    return struct.pack("<I", crc) + tail + body


def compress_payload(payload: bytes, level: int = 1, codec: str = "zstd") -> tuple[bytes, int]:
    """Compress a payload with `codec` (`CODECS`; `level` is zstd's), returning (body, flags); callers do it off
    the writer thread.

    LZ4 takes about 65% of zstd level 1's CPU to compress and half of it to decompress, for about 1.6 times the
    bytes (OTLP protobuf requests): the WAL's default. No codec saves that CPU on OTLP requests, but writes and
    replays several times the bytes of native JSON requests, which then go slower."""
    if codec == "lz4":
        if len(payload) > MAX_PAYLOAD:
            raise ValueError(f"payload of {len(payload)} bytes exceeds the 4 GiB frame limit")
        return _LZ4_SIZE.pack(len(payload)) + _LZ4.compress(payload, asbytes=True), FLAG_LZ4
    if codec == "zstd":
        return _contexts.compressor(level).compress(payload), FLAG_ZSTD
    if codec == "none":
        return payload, 0
    raise ValueError(f"unknown WAL codec {codec!r}; one of {list(CODECS)}")


def decompress_body(body: bytes, flags: int) -> bytes:
    """A record's payload from its stored body; FrameError if the body does not decompress."""
    try:
        if flags & FLAG_ZSTD:
            return _contexts.decompressor.decompress(body)
        if flags & FLAG_LZ4:
            (size,) = _LZ4_SIZE.unpack_from(body)
            payload: bytes = _LZ4.decompress(memoryview(body)[_LZ4_SIZE.size :], decompressed_size=size, asbytes=True)
            return payload
    except (zstandard.ZstdError, pa.ArrowException, OSError, ValueError, struct.error) as exc:  # Arrow: OSError
        raise FrameError(f"payload does not decompress: {exc}") from exc
    return body


class _ZstdContexts(threading.local):
    """One compressor per level and one decompressor per thread: making a context costs about half as
    much as compressing a 700 KB request with it, and a context must not be used by two threads at once."""

    def __init__(self) -> None:
        self.compressors: dict[int, zstandard.ZstdCompressor] = {}
        self.decompressor = zstandard.ZstdDecompressor()

    def compressor(self, level: int) -> zstandard.ZstdCompressor:
        found = self.compressors.get(level)
        if found is None:
            found = self.compressors[level] = zstandard.ZstdCompressor(level=level)
        return found


_contexts = _ZstdContexts()  # a per-thread cache of contexts, not shared state


def decode_record_at(
    buf: bytes | memoryview,
    offset: int,
    expected_lsn: int | None,
    decompress: bool = True,
    known: Callable[[int], bytes | None] | None = None,
) -> tuple[WalRecord, int]:
    """Decode the record at `offset`; return it and the offset after it.

    `known(lsn)` may supply the record's payload (the writer still holds it): after the frame's checks it is
    used instead of decompressing the body.

    Raises FrameError when the header or payload is incomplete (a torn tail), when the checksum or
    flags are wrong (damage), or when the LSN is not `expected_lsn` (a gap or a stale record).
    """
    end_header = offset + FRAME_HEADER_SIZE
    if end_header > len(buf):
        raise FrameError("record header incomplete")
    crc, length, rtype, flags, lsn = FRAME_HEADER.unpack_from(buf, offset)
    end = end_header + length
    if end > len(buf):
        raise FrameError("record payload incomplete")
    if _crc32c.crc32c(buf[offset + 4 : end]) != crc:
        raise FrameError("checksum mismatch")
    if rtype == 0 or flags & ~FLAGS_KNOWN or flags == FLAGS_KNOWN:
        raise FrameError(f"invalid type {rtype} or flags {flags:#x}")
    if expected_lsn is not None and lsn != expected_lsn:
        raise FrameError(f"lsn {lsn} where {expected_lsn} was expected")
    body = known(lsn) if known is not None else None
    if body is None:
        body = bytes(buf[end_header:end])
        if decompress:
            body = decompress_body(body, flags)
    return WalRecord(lsn=int(lsn), type=int(rtype), payload=body), end
